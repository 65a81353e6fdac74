#include "frontend/client_registry.hpp"

#include <utility>

namespace pgb::frontend {

std::string_view to_string(ClientState state) {
  switch (state) {
    case ClientState::LoggingIn: return "logging in";
    case ClientState::Idle: return "idle";
    case ClientState::Active: return "active";
    case ClientState::Waiting: return "waiting";
    case ClientState::IdleInTransaction: return "idle in transaction";
  }
  return "unknown";
}

ClientRegistry::Handle::Handle(Handle&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)),
      entry_(other.entry_),
      count_at_connect_(other.count_at_connect_) {}

ClientRegistry::Handle::~Handle() {
  if (!registry_) return;
  std::lock_guard lock(registry_->mutex_);
  registry_->clients_.erase(entry_);
  registry_->count_.fetch_sub(1, std::memory_order_relaxed);
}

ClientRegistry::Handle ClientRegistry::add(std::string peer) {
  std::lock_guard lock(mutex_);
  auto& info = clients_.emplace_back();
  info.id = next_id_++;
  info.peer = std::move(peer);
  info.since = std::chrono::system_clock::now();
  int count = count_.fetch_add(1, std::memory_order_relaxed) + 1;
  return Handle(this, std::prev(clients_.end()), count);
}

void ClientRegistry::logged_in(ClientInfo& info, std::string user, std::string database,
                               std::string application_name, std::string pool, bool tls) {
  std::lock_guard lock(mutex_);
  info.user = std::move(user);
  info.database = std::move(database);
  info.application_name = std::move(application_name);
  info.pool = std::move(pool);
  info.tls = tls;
}

void ClientRegistry::for_each(const std::function<void(const ClientInfo&)>& visit) {
  std::lock_guard lock(mutex_);
  for (const auto& info : clients_) visit(info);
}

}  // namespace pgb::frontend
