// Cancel key bookkeeping.
#include "frontend/cancel_registry.hpp"

#include "auth/crypto.hpp"

#include <cstring>

namespace pgb::frontend {

std::pair<CancelRegistry::Key, std::shared_ptr<CancelRegistry::Entry>> CancelRegistry::add(
    std::int32_t process_id) {
  auto entry = std::make_shared<Entry>();
  for (;;) {
    std::int32_t secret;
    auto random = auth::random_bytes(sizeof secret);
    std::memcpy(&secret, random.data(), sizeof secret);
    Key key{process_id, secret};
    std::lock_guard lock(mutex_);
    if (entries_.emplace(key, entry).second) return {key, entry};
  }
}

void CancelRegistry::remove(const Key& key) {
  std::lock_guard lock(mutex_);
  entries_.erase(key);
}

std::optional<CancelTarget> CancelRegistry::find(const Key& key) {
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    entry = it->second;
  }
  // The connection stays the client's while the entry points at it: the client points the
  // entry elsewhere, under this lock, before giving the connection up.
  std::lock_guard lock(entry->mutex_);
  if (!entry->server_) return std::nullopt;  // the client holds no server connection now
  const auto& server = *entry->server_;
  return CancelTarget{server.address(), server.process_id(), server.secret_key()};
}

}  // namespace pgb::frontend
