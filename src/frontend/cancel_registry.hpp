// Maps the BackendKeyData pgbalancer gave each client to the backend running its queries,
// so a CancelRequest arriving on a new connection reaches the right PostgreSQL process.
#pragma once

#include "backend/server_connection.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

namespace pgb::frontend {

struct CancelTarget {
  backend::BackendAddress address;
  std::int32_t process_id = 0;
  std::int32_t secret_key = 0;
};

class CancelRegistry {
 public:
  using Key =
      std::pair<std::int32_t, std::int32_t>;  // (process id, secret key) as the client knows them

  // Registers a fresh random secret for `process_id` (with `target`, or none until one is set);
  // returns the client's key.
  Key add(std::int32_t process_id, std::optional<CancelTarget> target);
  // Transaction pooling: the backend running the client's queries changes with every lease.
  void update(const Key& key, std::optional<CancelTarget> target);
  void remove(const Key& key);
  std::optional<CancelTarget> find(const Key& key);

 private:
  std::mutex mutex_;
  std::map<Key, std::optional<CancelTarget>> targets_;
};

}  // namespace pgb::frontend
