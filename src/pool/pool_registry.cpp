// Pool lookup.
#include "pool/pool_registry.hpp"

namespace pgb::pool {

std::shared_ptr<Pool> PoolRegistry::get(const std::string& key, const std::string& name) {
  std::lock_guard lock(mutex_);
  auto& slot = pools_[key];
  if (!slot) slot = std::make_shared<Pool>(name);
  return slot;
}

std::vector<std::shared_ptr<Pool>> PoolRegistry::all() {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<Pool>> out;
  out.reserve(pools_.size());
  for (auto& [k, p] : pools_) out.push_back(p);
  return out;
}

}  // namespace pgb::pool
