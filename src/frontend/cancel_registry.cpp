// Cancel key bookkeeping.
#include "frontend/cancel_registry.hpp"

#include "auth/crypto.hpp"

#include <cstring>

namespace pgb::frontend {

CancelRegistry::Key CancelRegistry::add(std::int32_t process_id,
                                        std::optional<CancelTarget> target) {
  for (;;) {
    std::int32_t secret;
    auto random = auth::random_bytes(sizeof secret);
    std::memcpy(&secret, random.data(), sizeof secret);
    Key key{process_id, secret};
    std::lock_guard lock(mutex_);
    if (targets_.emplace(key, target).second) return key;
  }
}

void CancelRegistry::update(const Key& key, std::optional<CancelTarget> target) {
  std::lock_guard lock(mutex_);
  if (auto it = targets_.find(key); it != targets_.end()) it->second = std::move(target);
}

void CancelRegistry::remove(const Key& key) {
  std::lock_guard lock(mutex_);
  targets_.erase(key);
}

std::optional<CancelTarget> CancelRegistry::find(const Key& key) {
  std::lock_guard lock(mutex_);
  auto it = targets_.find(key);
  if (it == targets_.end()) return std::nullopt;
  return it->second;  // empty while the client holds no server connection
}

}  // namespace pgb::frontend
