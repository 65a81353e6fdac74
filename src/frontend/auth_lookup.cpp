// auth_file and auth_query lookups. auth_query runs on pooled connections of auth_user,
// so a burst of logins does not open a connection each.
#include "frontend/auth_lookup.hpp"

#include "common/log.hpp"
#include "pool/pool_registry.hpp"

namespace pgb::frontend {

backend::Credentials stored_credentials(const Settings& settings, const auth::UserSecret* secret,
                                        const std::string& user, const std::string& database) {
  backend::Credentials c;
  if (secret && secret->kind == auth::SecretKind::Plaintext) c.password = secret->value;
  if (secret && secret->kind == auth::SecretKind::Md5) c.md5_hash = secret->value;
  if (!c.password) {
    const auto& server = settings.config.backend_servers[settings.config.primary_index()];
    c.password =
        auth::find_pgpass_password(settings.pgpass, server.hostname, server.port, database, user);
  }
  return c;
}

awaitable<Result<std::optional<auth::UserSecret>>> find_user_secret(SharedState& shared,
                                                                    const Settings& settings,
                                                                    const std::string& user,
                                                                    const std::string& database) {
  if (auto it = settings.users.find(user); it != settings.users.end())
    co_return std::optional(it->second);
  const config::Config& cfg = settings.config;
  if (cfg.auth_user.empty() || user == cfg.auth_user) co_return std::optional<auth::UserSecret>();

  std::size_t node = cfg.primary_index();
  const auto& server = cfg.backend_servers[node];
  std::string auth_db = cfg.auth_dbname.empty() ? database : cfg.auth_dbname;
  auto auth_user_secret = settings.users.find(cfg.auth_user);
  backend::ConnectOptions options{
      backend::BackendAddress{node, server.hostname, server.port},
      protocol::Parameters{{"user", cfg.auth_user},
                           {"database", auth_db},
                           {"application_name", "pgbalancer auth_query"}},
      stored_credentials(
          settings, auth_user_secret == settings.users.end() ? nullptr : &auth_user_secret->second,
          cfg.auth_user, auth_db),
      settings.backend_tls,
      !cfg.backend_ssl_ca_cert.empty(),
      cfg.server_connect_timeout,
  };
  auto pool = shared.pools().get(
      node, pool::make_pool_key(node, options.startup_params),
      fmt::format("{}@{}/{}:{} (auth_query)", cfg.auth_user, auth_db, server.hostname, server.port),
      auth_db, cfg.auth_user);
  auto deadline = std::chrono::steady_clock::now() + cfg.query_wait_timeout;
  auto lease = co_await pool->acquire(pool::pool_limits(cfg), deadline, options);
  if (!lease) {
    log::error("auth_query as \"{}\" failed: {} {}", cfg.auth_user, lease.error().message,
               lease.error().detail);
    co_return lease.error();
  }
  std::vector<std::string> params{user};
  auto rows = co_await lease->conn().run_query(cfg.auth_query, params, cfg.server_connect_timeout);
  if (!rows) {
    log::error("auth_query as \"{}\" failed: {}", cfg.auth_user, rows.error().message);
    lease->discard();
    co_return rows.error();
  }
  lease->give_back();
  if (rows->empty() || rows->front().size() < 2 || !rows->front()[1])
    co_return std::optional<auth::UserSecret>();
  const std::string& secret = *rows->front()[1];
  co_return std::optional(auth::UserSecret{auth::classify_secret(secret), secret});
}

}  // namespace pgb::frontend
