// The validated, immutable configuration. Produced by load_config(); never modified after.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgb::config {

using Millis = std::chrono::milliseconds;

enum class Role { Primary, Standby };
enum class PoolMode { Session, Transaction, Statement };
enum class AuthType { ScramSha256, Md5, Password, Trust };
enum class LogLevel { Debug, Info, Warning, Error };

std::string_view to_string(Role v);
std::string_view to_string(PoolMode v);
std::string_view to_string(AuthType v);
std::string_view to_string(LogLevel v);

struct BackendServer {
  std::string hostname;
  int port = 5432;
  int weight = 1;
  Role role = Role::Primary;
};

// Per-database or per-user settings that override the global ones.
struct PoolOverride {
  std::optional<PoolMode> pool_mode;
};

// The REST API and /metrics (docs/rest-api.md).
struct RestApi {
  bool enabled = false;
  std::string bind_address = "127.0.0.1";
  int port = 8080;
  bool jwt_enabled = true;
  std::string jwt_secret;  // from jwt_secret or jwt_secret_file; never logged or shown
  // Without JWT the API answers on loopback only, unless this says otherwise.
  bool allow_remote_without_jwt = false;
  bool jwt_for_metrics = false;   // /metrics is open unless this says otherwise (Prometheus' way)
  std::string ssl_cert, ssl_key;  // both: HTTPS
  bool operator==(const RestApi&) const = default;
};
// HS256 keys shorter than the hash are guessable offline from one token (RFC 7518 3.2).
inline constexpr std::size_t kMinJwtSecretBytes = 32;

struct Config {
  std::string source_path;
  std::map<std::string, int> key_lines;  // line of each top-level key, for later error messages

  // Listening
  std::vector<std::string> listen_addresses{"127.0.0.1"};
  int port = 6432;
  int worker_threads = 0;  // 0: one per core

  // Backends and pooling
  std::vector<BackendServer> backend_servers;
  PoolMode pool_mode = PoolMode::Session;
  int max_pool = 20;
  int max_client_conn = 1000;
  int min_pool_size = 0;
  int reserve_pool_size = 0;
  Millis reserve_pool_timeout{5'000};
  int max_db_connections = 0;    // 0: no limit
  int max_user_connections = 0;  // 0: no limit
  std::string server_reset_query = "DISCARD ALL";
  // Transaction and statement modes: named prepared statements kept per server connection
  // (LRU); 0 relays statement names untouched, as pgbouncer before 1.21 did.
  int max_prepared_statements = 200;
  std::map<std::string, PoolOverride> databases;
  std::map<std::string, PoolOverride> users;
  // GUC_REPORT parameters kept in line across shared connections, besides the default six.
  std::vector<std::string> track_extra_parameters;

  // Authentication
  AuthType auth_type = AuthType::ScramSha256;
  std::string auth_file;
  std::string pgpass_file;  // empty: $PGPASSFILE, else ~/.pgpass
  // Users missing from auth_file are looked up with auth_query, run as auth_user
  // (pgbouncer's scheme); auth_dbname empty means the client's own database.
  std::string auth_user;
  std::string auth_query = "SELECT usename, passwd FROM pg_shadow WHERE usename=$1";
  std::string auth_dbname;

  // TLS
  bool ssl = false;
  std::string ssl_cert, ssl_key, ssl_ca_cert;
  bool backend_encryption = false;
  std::string backend_ssl_ca_cert;

  // Timeouts
  Millis client_login_timeout{60'000};
  Millis query_wait_timeout{120'000};
  Millis server_connect_timeout{15'000};
  Millis server_idle_timeout{600'000};
  Millis server_lifetime{3'600'000};
  Millis client_idle_timeout{0};       // 0: never
  Millis idle_transaction_timeout{0};  // 0: never

  // Protocol
  std::uint32_t max_message_size = 1u << 30;  // 1 GB, PostgreSQL's own limit

  LogLevel log_level = LogLevel::Info;
  std::string log_file;  // empty: stderr

  RestApi rest_api;
  // The SQL admin console (database "pgbalancer"): admin_users may run every command,
  // stats_users only the read-only SHOW commands.
  std::vector<std::string> admin_users;
  std::vector<std::string> stats_users;

  // The backend sessions go to until routing arrives: the first primary.
  std::size_t primary_index() const;
  bool is_admin_user(const std::string& user) const;
  // admin_users and stats_users: the admin console's SHOW, pgpool-II's SHOW POOL_*.
  bool may_see_pool_status(const std::string& user) const;
  // users: beats databases: beats the global pool_mode, as in pgbouncer.
  PoolMode pool_mode_for(const std::string& database, const std::string& user) const;
};

// 127.0.0.0/8, ::1 or localhost: only this host can reach it.
bool is_loopback(const std::string& address);

// One effective setting as shown by SHOW CONFIG and the REST API's config.
struct Setting {
  enum class Kind { Number, Boolean, Text };
  std::string name;   // nested blocks as "rest_api.port"
  std::string value;  // as it would be written in the file; secrets as "<redacted>"
  Kind kind = Kind::Text;
  bool reloadable = true;  // a reload applies it (else: a restart)
};
std::vector<Setting> describe(const Config& config);

// Settings that only take effect at start-up; a reload that changes them says so.
std::vector<std::string> restart_required_changes(const Config& old_config,
                                                  const Config& new_config);

}  // namespace pgb::config
