// All pools, found by key; created on first use and kept for the life of the process.
#pragma once

#include "pool/pool.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace pgb::pool {

class PoolRegistry {
 public:
  // `key` identifies backend, database, user and startup parameters; `name` is for logs.
  std::shared_ptr<Pool> get(const std::string& key, const std::string& name);
  std::vector<std::shared_ptr<Pool>> all();

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Pool>> pools_;
};

}  // namespace pgb::pool
