// Names of configuration values and the reload comparison.
#include "config/config.hpp"

#include <fmt/format.h>

#include <algorithm>

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

std::string_view to_string(LogLevel v) {
  switch (v) {
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warning: return "warning";
    case LogLevel::Error: return "error";
  }
  return "info";
}

std::size_t Config::primary_index() const {
  for (std::size_t i = 0; i < backend_servers.size(); ++i) {
    if (backend_servers[i].role == Role::Primary) return i;
  }
  return 0;
}

bool is_loopback(const std::string& address) {
  return address == "localhost" || address == "::1" || address.starts_with("127.");
}

bool Config::is_admin_user(const std::string& user) const {
  return std::find(admin_users.begin(), admin_users.end(), user) != admin_users.end();
}

bool Config::may_see_pool_status(const std::string& user) const {
  return is_admin_user(user) ||
         std::find(stats_users.begin(), stats_users.end(), user) != stats_users.end();
}

PoolMode Config::pool_mode_for(const std::string& database, const std::string& user) const {
  if (auto u = users.find(user); u != users.end() && u->second.pool_mode)
    return *u->second.pool_mode;
  if (auto d = databases.find(database); d != databases.end() && d->second.pool_mode) {
    return *d->second.pool_mode;
  }
  return pool_mode;
}

namespace {

std::string duration_text(Millis d) {
  if (d.count() % 1000 == 0) return fmt::format("{}s", d.count() / 1000);
  return fmt::format("{}ms", d.count());
}

std::string joined(const std::vector<std::string>& items) {
  return fmt::format("{}", fmt::join(items, ","));
}

std::string overrides_text(const std::map<std::string, PoolOverride>& overrides) {
  std::vector<std::string> parts;
  for (const auto& [name, o] : overrides) {
    parts.push_back(o.pool_mode ? fmt::format("{}: pool_mode={}", name, to_string(*o.pool_mode))
                                : name);
  }
  return fmt::format("{}", fmt::join(parts, "; "));
}

}  // namespace

std::vector<Setting> describe(const Config& c) {
  using K = Setting::Kind;
  std::vector<Setting> out;
  auto text = [&](std::string name, std::string value) {
    out.push_back({std::move(name), std::move(value), K::Text});
  };
  auto number = [&](std::string name, long long value) {
    out.push_back({std::move(name), std::to_string(value), K::Number});
  };
  auto boolean = [&](std::string name, bool value) {
    out.push_back({std::move(name), value ? "true" : "false", K::Boolean});
  };
  auto secret = [&](std::string name, const std::string& value) {
    text(std::move(name), value.empty() ? "" : "<redacted>");
  };
  text("listen_addresses", joined(c.listen_addresses));
  number("port", c.port);
  number("worker_threads", c.worker_threads);
  std::vector<std::string> servers;
  for (const auto& s : c.backend_servers) {
    servers.push_back(
        fmt::format("{}:{} ({}, weight {})", s.hostname, s.port, to_string(s.role), s.weight));
  }
  text("backend_servers", fmt::format("{}", fmt::join(servers, ", ")));
  text("pool_mode", std::string(to_string(c.pool_mode)));
  number("max_pool", c.max_pool);
  number("max_client_conn", c.max_client_conn);
  number("min_pool_size", c.min_pool_size);
  number("reserve_pool_size", c.reserve_pool_size);
  text("reserve_pool_timeout", duration_text(c.reserve_pool_timeout));
  number("max_db_connections", c.max_db_connections);
  number("max_user_connections", c.max_user_connections);
  text("server_reset_query", c.server_reset_query);
  number("max_prepared_statements", c.max_prepared_statements);
  text("databases", overrides_text(c.databases));
  text("users", overrides_text(c.users));
  text("track_extra_parameters", joined(c.track_extra_parameters));
  text("auth_type", std::string(to_string(c.auth_type)));
  text("auth_file", c.auth_file);
  text("pgpass_file", c.pgpass_file);
  text("auth_user", c.auth_user);
  text("auth_query", c.auth_query);
  text("auth_dbname", c.auth_dbname);
  boolean("ssl", c.ssl);
  text("ssl_cert", c.ssl_cert);
  text("ssl_key", c.ssl_key);
  text("ssl_ca_cert", c.ssl_ca_cert);
  boolean("backend_encryption", c.backend_encryption);
  text("backend_ssl_ca_cert", c.backend_ssl_ca_cert);
  text("client_login_timeout", duration_text(c.client_login_timeout));
  text("query_wait_timeout", duration_text(c.query_wait_timeout));
  text("server_connect_timeout", duration_text(c.server_connect_timeout));
  text("server_idle_timeout", duration_text(c.server_idle_timeout));
  text("server_lifetime", duration_text(c.server_lifetime));
  text("client_idle_timeout", duration_text(c.client_idle_timeout));
  text("idle_transaction_timeout", duration_text(c.idle_transaction_timeout));
  number("max_message_size", c.max_message_size);
  text("log_level", std::string(to_string(c.log_level)));
  text("log_file", c.log_file);
  text("admin_users", joined(c.admin_users));
  text("stats_users", joined(c.stats_users));
  boolean("rest_api.enabled", c.rest_api.enabled);
  text("rest_api.bind_address", c.rest_api.bind_address);
  number("rest_api.port", c.rest_api.port);
  boolean("rest_api.jwt_enabled", c.rest_api.jwt_enabled);
  secret("rest_api.jwt_secret", c.rest_api.jwt_secret);
  boolean("rest_api.allow_remote_without_jwt", c.rest_api.allow_remote_without_jwt);
  boolean("rest_api.jwt_for_metrics", c.rest_api.jwt_for_metrics);
  text("rest_api.ssl_cert", c.rest_api.ssl_cert);
  text("rest_api.ssl_key", c.rest_api.ssl_key);
  // As restart_required_changes() decides.
  for (auto& s : out) {
    s.reloadable = !(s.name == "listen_addresses" || s.name == "port" ||
                     s.name == "worker_threads" || s.name.starts_with("rest_api."));
  }
  return out;
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
