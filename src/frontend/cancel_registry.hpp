// Maps the BackendKeyData pgbalancer gave each client to the backend running its queries,
// so a CancelRequest arriving on a new connection reaches the right PostgreSQL process.
#pragma once

#include "backend/server_connection.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
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

  // Where one client's cancel requests go. The client points it at the connection it holds
  // (in transaction pooling that changes with every lease) and back at nothing before giving
  // the connection up; find() reads it from any thread under the entry's own lock, so a lease
  // costs no registry-wide lock and no copy.
  class Entry {
   public:
    void point_at(const backend::ServerConnection* server) {
      std::lock_guard lock(mutex_);
      server_ = server;
    }

   private:
    friend class CancelRegistry;
    std::mutex mutex_;
    const backend::ServerConnection* server_ = nullptr;
  };

  // Registers a fresh random secret for `process_id`; returns the client's key and its entry.
  std::pair<Key, std::shared_ptr<Entry>> add(std::int32_t process_id);
  void remove(const Key& key);
  std::optional<CancelTarget> find(const Key& key);

 private:
  std::mutex mutex_;
  std::map<Key, std::shared_ptr<Entry>> entries_;
};

// A client's cancel key, registered for as long as the client exists.
class CancelSlot {
 public:
  CancelSlot(CancelRegistry& registry, std::int32_t process_id) : registry_(&registry) {
    std::tie(key_, entry_) = registry.add(process_id);
  }
  CancelSlot(CancelSlot&& other) noexcept
      : registry_(std::exchange(other.registry_, nullptr)),
        key_(other.key_),
        entry_(std::move(other.entry_)) {}
  CancelSlot& operator=(CancelSlot&&) = delete;
  ~CancelSlot() {
    if (!registry_) return;
    entry_->point_at(nullptr);
    registry_->remove(key_);
  }
  const CancelRegistry::Key& key() const { return key_; }
  // The backend a cancel request reaches: the one the client holds now, if any. Must point at
  // nothing before that connection is given back or closed.
  void point_at(const backend::ServerConnection* conn) { entry_->point_at(conn); }

 private:
  CancelRegistry* registry_;
  CancelRegistry::Key key_;
  std::shared_ptr<CancelRegistry::Entry> entry_;
};

}  // namespace pgb::frontend
