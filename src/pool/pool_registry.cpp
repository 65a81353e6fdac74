// Pool lookup.
#include "pool/pool_registry.hpp"

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

std::shared_ptr<Pool> PoolRegistry::get(const std::string& key, const std::string& name,
                                        const std::string& database, const std::string& user) {
  std::lock_guard lock(mutex_);
  auto& slot = pools_[key];
  if (!slot) {
    slot = std::make_shared<Pool>(name, database, user, budget_,
                                  [this](const Pool& requester) { return evict_for(requester); });
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

std::vector<std::shared_ptr<Pool>> PoolRegistry::all() {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<Pool>> out;
  out.reserve(pools_.size());
  for (auto& [k, p] : pools_) out.push_back(p);
  return out;
}

}  // namespace pgb::pool
