// Pool lookup.
#include "pool/pool_registry.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace pgb::pool {

std::string make_pool_key(std::size_t node,
                          std::vector<std::pair<std::string, std::string>> params) {
  std::sort(params.begin(), params.end());
  std::string key = std::to_string(node);
  for (const auto& [k, v] : params) {
    key.push_back('\0');
    key.append(k).push_back('=');
    key.append(v);
  }
  return key;
}

std::shared_ptr<Pool> PoolRegistry::get(std::size_t node, const std::string& key,
                                        const std::string& name, const std::string& database,
                                        const std::string& user) {
  std::lock_guard lock(mutex_);
  auto& slot = pools_[key];
  if (!slot) {
    // Pools that differ only in other startup parameters share user, database and backend:
    // the second one of a name is "name #2", so listings and metric labels stay unique.
    int same_name = ++names_[name];
    auto unique = same_name == 1 ? name : fmt::format("{} #{}", name, same_name);
    slot = std::make_shared<Pool>(node, std::move(unique), database, user, budget_,
                                  [this](const Pool& requester) { return evict_for(requester); });
    if (paused_locked(database)) slot->set_paused(true);
  }
  return slot;
}

bool PoolRegistry::evict_for(const Pool& requester) {
  for (auto& pool : all()) {
    if (pool.get() == &requester) continue;
    if (pool->database() != requester.database() && pool->user() != requester.user()) continue;
    if (pool->close_one_idle()) return true;
  }
  return false;
}

std::optional<std::string> PoolRegistry::pause(const std::string& database) {
  std::lock_guard one_at_a_time(pause_mutex_);
  std::vector<std::shared_ptr<Pool>> affected;
  {
    std::lock_guard lock(mutex_);
    if (all_paused_ || paused_.contains(database)) return "already paused";
    if (database.empty()) {
      all_paused_ = true;
      paused_.clear();
    } else {
      paused_.insert(database);
    }
    affected = pools_of_locked(database);
  }
  for (auto& p : affected) p->set_paused(true);  // outside: it closes idle connections
  return std::nullopt;
}

std::optional<std::string> PoolRegistry::resume(const std::string& database) {
  std::lock_guard one_at_a_time(pause_mutex_);
  std::vector<std::shared_ptr<Pool>> affected;
  {
    std::lock_guard lock(mutex_);
    if (database.empty()) {
      if (!all_paused_ && paused_.empty()) return "not paused";
      all_paused_ = false;
      paused_.clear();
    } else if (all_paused_) {
      return "every database is paused: RESUME without a database name";
    } else if (paused_.erase(database) == 0) {
      return "database " + database + " is not paused";
    }
    affected = pools_of_locked(database);
  }
  for (auto& p : affected) p->set_paused(false);
  return std::nullopt;
}

std::vector<std::shared_ptr<Pool>> PoolRegistry::pools_of_locked(const std::string& database) {
  std::vector<std::shared_ptr<Pool>> out;
  for (auto& [k, p] : pools_) {
    if (database.empty() || p->database() == database) out.push_back(p);
  }
  return out;
}

bool PoolRegistry::paused(const std::string& database) {
  std::lock_guard lock(mutex_);
  return database.empty() ? all_paused_ : paused_locked(database);
}

std::vector<std::shared_ptr<Pool>> PoolRegistry::all() {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<Pool>> out;
  out.reserve(pools_.size());
  for (auto& [k, p] : pools_) out.push_back(p);
  return out;
}

}  // namespace pgb::pool
