// All pools, found by key; created on first use and kept for the life of the process.
#pragma once

#include "pool/pool.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace pgb::pool {

// Server connections are keyed by everything the client put in its startup packet, so a
// client only ever gets a backend that was started with its own parameters.
std::string make_pool_key(std::size_t node,
                          std::vector<std::pair<std::string, std::string>> params);

class PoolRegistry {
 public:
  // `key` identifies backend, database, user and startup parameters; `name` is for logs and
  // listings (made unique with a number when several pools would share it).
  std::shared_ptr<Pool> get(std::size_t node, const std::string& key, const std::string& name,
                            const std::string& database, const std::string& user);
  std::vector<std::shared_ptr<Pool>> all();

  // PAUSE and RESUME of the admin console, for one database or (empty) all of them; pools
  // created meanwhile start paused. The reason if refused (nothing to resume, ...).
  std::optional<std::string> pause(const std::string& database);
  std::optional<std::string> resume(const std::string& database);
  bool paused(const std::string& database);

 private:
  // The pools of `database` (empty: all of them).
  std::vector<std::shared_ptr<Pool>> pools_of_locked(const std::string& database);
  bool paused_locked(const std::string& database) const {
    return all_paused_ || paused_.contains(database);
  }

  // Closes an idle connection of another pool that shares `requester`'s database or user.
  bool evict_for(const Pool& requester);

  std::shared_ptr<ConnectionBudget> budget_ = std::make_shared<ConnectionBudget>();
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Pool>> pools_;
  std::map<std::string, int> names_;  // pools created per display name
  // PAUSE and RESUME change the pools after mutex_ is let go (closing connections takes
  // time): this keeps a concurrent pair from applying in the other order.
  std::mutex pause_mutex_;
  bool all_paused_ = false;
  std::set<std::string> paused_;  // databases paused one by one
};

}  // namespace pgb::pool
