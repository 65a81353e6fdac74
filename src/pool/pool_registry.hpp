// All pools, found by key; created on first use and kept for the life of the process.
#pragma once

#include "pool/pool.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace pgb::pool {

// Server connections are keyed by everything the client put in its startup packet, so a
// client only ever gets a backend that was started with its own parameters.
std::string make_pool_key(std::size_t node,
                          std::vector<std::pair<std::string, std::string>> params);

class PoolRegistry {
 public:
  // `key` identifies backend, database, user and startup parameters; `name` is for logs.
  std::shared_ptr<Pool> get(const std::string& key, const std::string& name,
                            const std::string& database, const std::string& user);
  std::vector<std::shared_ptr<Pool>> all();

 private:
  // Closes an idle connection of another pool that shares `requester`'s database or user.
  bool evict_for(const Pool& requester);

  std::shared_ptr<ConnectionBudget> budget_ = std::make_shared<ConnectionBudget>();
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Pool>> pools_;
};

}  // namespace pgb::pool
