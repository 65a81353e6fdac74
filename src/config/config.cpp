// Names of configuration values and the reload comparison.
#include "config/config.hpp"

namespace pgb::config {

std::string_view to_string(Role v) {
  return v == Role::Primary ? "primary" : "standby";
}

std::string_view to_string(PoolMode v) {
  switch (v) {
    case PoolMode::Session: return "session";
    case PoolMode::Transaction: return "transaction";
    case PoolMode::Statement: return "statement";
  }
  return "session";
}

std::string_view to_string(AuthType v) {
  switch (v) {
    case AuthType::ScramSha256: return "scram-sha-256";
    case AuthType::Md5: return "md5";
    case AuthType::Password: return "password";
    case AuthType::Trust: return "trust";
  }
  return "scram-sha-256";
}

std::size_t Config::primary_index() const {
  for (std::size_t i = 0; i < backend_servers.size(); ++i) {
    if (backend_servers[i].role == Role::Primary) return i;
  }
  return 0;
}

PoolMode Config::pool_mode_for(const std::string& database, const std::string& user) const {
  if (auto u = users.find(user); u != users.end() && u->second.pool_mode)
    return *u->second.pool_mode;
  if (auto d = databases.find(database); d != databases.end() && d->second.pool_mode) {
    return *d->second.pool_mode;
  }
  return pool_mode;
}

std::vector<std::string> restart_required_changes(const Config& a, const Config& b) {
  std::vector<std::string> changed;
  if (a.listen_addresses != b.listen_addresses) changed.emplace_back("listen_addresses");
  if (a.port != b.port) changed.emplace_back("port");
  if (a.worker_threads != b.worker_threads) changed.emplace_back("worker_threads");
  if (a.rest_api != b.rest_api) changed.emplace_back("rest_api");
  return changed;
}

}  // namespace pgb::config
