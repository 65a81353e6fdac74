// Cancel key bookkeeping.
#include "frontend/cancel_registry.hpp"

#include "auth/crypto.hpp"

#include <cstring>

namespace pgb::frontend {

CancelRegistry::Key CancelRegistry::add(std::int32_t process_id, const CancelTarget& target) {
  for (;;) {
    std::int32_t secret;
    auto random = auth::random_bytes(sizeof secret);
    std::memcpy(&secret, random.data(), sizeof secret);
    Key key{process_id, secret};
    std::lock_guard lock(mutex_);
    if (targets_.emplace(key, target).second) return key;
  }
}

void CancelRegistry::remove(const Key& key) {
  std::lock_guard lock(mutex_);
  targets_.erase(key);
}

std::optional<CancelTarget> CancelRegistry::find(const Key& key) {
  std::lock_guard lock(mutex_);
  auto it = targets_.find(key);
  if (it == targets_.end()) return std::nullopt;
  return it->second;
}

}  // namespace pgb::frontend
