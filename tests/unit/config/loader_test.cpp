// Tests for parse_config: a valid file, and every kind of problem reported with its line.
#include "config/loader.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <variant>

namespace pgb::config {
namespace {

using namespace std::chrono_literals;

// A real file for the keys whose value must name a readable file; removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(std::string_view name, std::string_view content = "x\n")
      : path_(std::filesystem::temp_directory_path() /
              (std::string("pgb_loader_test_") + std::to_string(::getpid()) + "_" +
               std::string(name))) {
    std::ofstream(path_) << content;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

constexpr std::string_view kMinimal =
    "auth_type: trust\n"
    "backend_servers:\n"
    "  - hostname: db1\n";

Config config_of(const std::string& yaml) {
  auto r = parse_config(yaml, "test.yml");
  if (auto* problems = std::get_if<std::vector<Problem>>(&r)) {
    for (const auto& p : *problems) ADD_FAILURE() << p.to_string();
    return {};
  }
  return std::get<Config>(r);
}

std::vector<Problem> problems_of(const std::string& yaml) {
  auto r = parse_config(yaml, "test.yml");
  if (std::holds_alternative<Config>(r)) {
    ADD_FAILURE() << "expected problems in:\n" << yaml;
    return {};
  }
  return std::get<std::vector<Problem>>(r);
}

// The single problem a file has, as "FILE:LINE: KEY: message".
std::string only_problem(const std::string& yaml) {
  auto problems = problems_of(yaml);
  if (problems.size() != 1) {
    std::string all;
    for (const auto& p : problems) all += "\n  " + p.to_string();
    ADD_FAILURE() << "expected exactly one problem, got " << problems.size() << ":" << all;
    return problems.empty() ? "" : problems[0].to_string();
  }
  return problems[0].to_string();
}

std::string with_minimal(std::string_view extra) {
  return std::string(kMinimal) + std::string(extra);
}

TEST(ParseConfig, FullValidConfig) {
  TempFile users("users.txt", "\"u\" \"p\"\n"), pgpass("pgpass"), cert("cert.pem"), key("key.pem"),
      ca("ca.pem"), backend_ca("backend_ca.pem");
  std::string yaml =
      "listen_addresses: '127.0.0.1, ::1'\n"
      "port: 7432\n"
      "worker_threads: 4\n"
      "backend_servers:\n"
      "  - hostname: db1\n"
      "    port: 5433\n"
      "    weight: 3\n"
      "    role: standby\n"
      "  - hostname: db2\n"
      "    role: primary\n"
      "pool_mode: session\n"
      "max_pool: 50\n"
      "max_client_conn: 5000\n"
      "server_reset_query: 'RESET ALL'\n"
      "auth_type: md5\n"
      "auth_file: " +
      users.path() +
      "\n"
      "pgpass_file: " +
      pgpass.path() +
      "\n"
      "auth_user: pgb_auth\n"
      "auth_query: SELECT 1\n"
      "auth_dbname: postgres\n"
      "ssl: on\n"
      "ssl_cert: " +
      cert.path() +
      "\n"
      "ssl_key: " +
      key.path() +
      "\n"
      "ssl_ca_cert: " +
      ca.path() +
      "\n"
      "backend_encryption: true\n"
      "backend_ssl_ca_cert: " +
      backend_ca.path() +
      "\n"
      "client_login_timeout: 500ms\n"
      "query_wait_timeout: 2min\n"
      "server_connect_timeout: 30\n"
      "server_idle_timeout: 1h\n"
      "server_lifetime: 1d\n"
      "max_message_size: 64MB\n"
      "log_level: debug\n";
  Config c = config_of(yaml);
  EXPECT_EQ(c.source_path, "test.yml");
  EXPECT_EQ(c.listen_addresses, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(c.port, 7432);
  EXPECT_EQ(c.worker_threads, 4);
  ASSERT_EQ(c.backend_servers.size(), 2u);
  EXPECT_EQ(c.backend_servers[0].hostname, "db1");
  EXPECT_EQ(c.backend_servers[0].port, 5433);
  EXPECT_EQ(c.backend_servers[0].weight, 3);
  EXPECT_EQ(c.backend_servers[0].role, Role::Standby);
  EXPECT_EQ(c.backend_servers[1].hostname, "db2");
  EXPECT_EQ(c.backend_servers[1].port, 5432);
  EXPECT_EQ(c.backend_servers[1].role, Role::Primary);
  EXPECT_EQ(c.primary_index(), 1u);
  EXPECT_EQ(c.pool_mode, PoolMode::Session);
  EXPECT_EQ(c.max_pool, 50);
  EXPECT_EQ(c.max_client_conn, 5000);
  EXPECT_EQ(c.server_reset_query, "RESET ALL");
  EXPECT_EQ(c.auth_type, AuthType::Md5);
  EXPECT_EQ(c.auth_file, users.path());
  EXPECT_EQ(c.pgpass_file, pgpass.path());
  EXPECT_EQ(c.auth_user, "pgb_auth");
  EXPECT_EQ(c.auth_query, "SELECT 1");
  EXPECT_EQ(c.auth_dbname, "postgres");
  EXPECT_TRUE(c.ssl);
  EXPECT_EQ(c.ssl_cert, cert.path());
  EXPECT_EQ(c.ssl_key, key.path());
  EXPECT_EQ(c.ssl_ca_cert, ca.path());
  EXPECT_TRUE(c.backend_encryption);
  EXPECT_EQ(c.backend_ssl_ca_cert, backend_ca.path());
  EXPECT_EQ(c.client_login_timeout, 500ms);
  EXPECT_EQ(c.query_wait_timeout, 120'000ms);
  EXPECT_EQ(c.server_connect_timeout, 30'000ms);
  EXPECT_EQ(c.server_idle_timeout, 3'600'000ms);
  EXPECT_EQ(c.server_lifetime, 86'400'000ms);
  EXPECT_EQ(c.max_message_size, 64u * 1024 * 1024);
  EXPECT_EQ(c.log_level, LogLevel::Debug);
}

TEST(ParseConfig, MinimalConfigKeepsDefaults) {
  Config c = config_of(std::string(kMinimal));
  Config defaults;
  EXPECT_EQ(c.listen_addresses, defaults.listen_addresses);
  EXPECT_EQ(c.port, 6432);
  EXPECT_EQ(c.max_pool, 20);
  EXPECT_EQ(c.client_login_timeout, 60s);
  EXPECT_EQ(c.max_message_size, 1u << 30);
  ASSERT_EQ(c.backend_servers.size(), 1u);
  EXPECT_EQ(c.backend_servers[0].port, 5432);
  EXPECT_EQ(c.backend_servers[0].weight, 1);
  EXPECT_EQ(c.primary_index(), 0u);
}

TEST(ParseConfig, ListenAddressesAsAList) {
  Config c = config_of(with_minimal("listen_addresses: ['*', 10.0.0.1]\n"));
  EXPECT_EQ(c.listen_addresses, (std::vector<std::string>{"*", "10.0.0.1"}));
}

TEST(ParseConfig, ListenAddressesMayNotBeEmpty) {
  EXPECT_EQ(only_problem(with_minimal("listen_addresses: ' , '\n")),
            "test.yml:4: listen_addresses: no address given");
}

TEST(ParseConfig, UnknownKey) {
  EXPECT_EQ(only_problem(with_minimal("port: 6432\nfrobnicate: 1\n")),
            "test.yml:5: frobnicate: unknown configuration key");
}

TEST(ParseConfig, WrongTypes) {
  EXPECT_EQ(only_problem(with_minimal("port: abc\n")), "test.yml:4: port: invalid integer \"abc\"");
  EXPECT_EQ(only_problem(with_minimal("max_pool: 1.5\n")),
            "test.yml:4: max_pool: invalid integer \"1.5\"");
  EXPECT_EQ(only_problem(with_minimal("max_pool: [1, 2]\n")),
            "test.yml:4: max_pool: expected a single value");
  EXPECT_EQ(only_problem(with_minimal("ssl: maybe\n")),
            "test.yml:4: ssl: invalid boolean \"maybe\" (use true or false)");
  EXPECT_EQ(only_problem(with_minimal("server_reset_query:\n  a: b\n")),
            "test.yml:5: server_reset_query: expected a single value");
}

TEST(ParseConfig, PortOutOfRange) {
  EXPECT_EQ(only_problem(with_minimal("port: 70000\n")),
            "test.yml:4: port: 70000 is outside the valid range 1..65535");
  EXPECT_EQ(only_problem(with_minimal("port: 0\n")),
            "test.yml:4: port: 0 is outside the valid range 1..65535");
  EXPECT_EQ(only_problem(with_minimal("max_pool: 0\n")),
            "test.yml:4: max_pool: 0 is outside the valid range 1..10000");
}

TEST(ParseConfig, DurationUnits) {
  auto timeout = [](std::string_view value) {
    return config_of(with_minimal("client_login_timeout: " + std::string(value) + "\n"))
        .client_login_timeout;
  };
  EXPECT_EQ(timeout("500ms"), 500ms);
  EXPECT_EQ(timeout("2min"), 120s);
  EXPECT_EQ(timeout("30"), 30s);
  EXPECT_EQ(timeout("'45s'"), 45s);
  EXPECT_EQ(timeout("'10 s'"), 10s);
  EXPECT_EQ(timeout("2h"), 7200s);
  EXPECT_EQ(timeout("1d"), 86'400s);
  EXPECT_EQ(timeout("0"), 0ms);
  EXPECT_EQ(timeout("365d"), 365 * 86'400s);
}

TEST(ParseConfig, InvalidDuration) {
  EXPECT_EQ(only_problem(with_minimal("server_lifetime: 5 parsecs\n")),
            "test.yml:4: server_lifetime: invalid duration \"5 parsecs\" (seconds, or a number "
            "with ms, s, min, h "
            "or d)");
  EXPECT_EQ(only_problem(with_minimal("server_lifetime: 5m\n")),
            "test.yml:4: server_lifetime: invalid duration \"5m\" (seconds, or a number with ms, "
            "s, min, h or d)");
  EXPECT_EQ(only_problem(with_minimal("server_lifetime: min\n")),
            "test.yml:4: server_lifetime: invalid duration \"min\" (seconds, or a number with ms, "
            "s, min, h or d)");
}

TEST(ParseConfig, DurationOutOfRange) {
  EXPECT_EQ(only_problem(with_minimal("server_lifetime: -1\n")),
            "test.yml:4: server_lifetime: -1 is outside the valid range (0 to 365 days)");
  EXPECT_EQ(only_problem(with_minimal("server_lifetime: 366d\n")),
            "test.yml:4: server_lifetime: 366d is outside the valid range (0 to 365 days)");
  // Large enough to overflow a millisecond count if multiplied unchecked.
  EXPECT_EQ(only_problem(with_minimal("server_lifetime: 9223372036854775807h\n")),
            "test.yml:4: server_lifetime: 9223372036854775807h is outside the valid range (0 to "
            "365 days)");
}

TEST(ParseConfig, SizeUnitsAndRange) {
  auto size = [](std::string_view value) {
    return config_of(with_minimal("max_message_size: " + std::string(value) + "\n"))
        .max_message_size;
  };
  EXPECT_EQ(size("8kB"), 8192u);
  EXPECT_EQ(size("16384"), 16384u);
  EXPECT_EQ(size("'1023 MB'"), 1023u * 1024 * 1024);
  EXPECT_EQ(only_problem(with_minimal("max_message_size: 4kB\n")),
            "test.yml:4: max_message_size: 4kB is outside the valid range 8192..1073741824 bytes");
  EXPECT_EQ(only_problem(with_minimal("max_message_size: 2GB\n")),
            "test.yml:4: max_message_size: 2GB is outside the valid range 8192..1073741824 bytes");
  EXPECT_EQ(only_problem(with_minimal("max_message_size: 8 parsecs\n")),
            "test.yml:4: max_message_size: invalid size \"8 parsecs\" (bytes, or a number with kB, "
            "MB or GB)");
}

// 2^44 + 1 MB is 2^64 + 1 MiB bytes, which would wrap to 1 MiB in 64 bits.
TEST(ParseConfig, HugeSizeDoesNotWrapAround) {
  EXPECT_EQ(only_problem(with_minimal("max_message_size: 17592186044417MB\n")),
            "test.yml:4: max_message_size: 17592186044417MB is outside the valid range "
            "8192..1073741824 bytes");
}

// docs/configuration.md gives the range as 8kB..1GB.
TEST(ParseConfig, DocumentedMaximumSizeIsAccepted) {
  EXPECT_EQ(config_of(with_minimal("max_message_size: 1GB\n")).max_message_size, 1u << 30);
}

TEST(ParseConfig, PoolModes) {
  EXPECT_EQ(config_of(with_minimal("pool_mode: transaction\n")).pool_mode, PoolMode::Transaction);
  EXPECT_EQ(config_of(with_minimal("pool_mode: statement\n")).pool_mode, PoolMode::Statement);
  EXPECT_EQ(only_problem(with_minimal("pool_mode: bogus\n")),
            "test.yml:4: pool_mode: invalid value \"bogus\" (expected one of: session, "
            "transaction, statement)");
}

TEST(ParseConfig, RestApiHttpsNeedsCertificateAndKey) {
  TempFile cert("cert");
  EXPECT_EQ(only_problem(with_minimal("rest_api:\n  ssl_cert: " + cert.path() + "\n")),
            "test.yml:5: rest_api.ssl_key: HTTPS needs both ssl_cert and ssl_key");
  TempFile key("key");
  auto c = config_of(with_minimal("rest_api:\n  ssl_cert: " + cert.path() + "\n  ssl_key: " +
                                  key.path() + "\n"));
  EXPECT_EQ(c.rest_api.ssl_cert, cert.path());
  EXPECT_EQ(c.rest_api.ssl_key, key.path());
}

TEST(ParseConfig, RoadmapKeysAreRefusedNotIgnored) {
  EXPECT_EQ(only_problem(with_minimal("hba_file: /etc/pgbalancer/hba.conf\n")),
            "test.yml:4: hba_file: not supported yet in this version of pgbalancer");
}

TEST(ParseConfig, RestApiBlockOfTheSecurityPolicyLoads) {
  auto c = config_of(with_minimal(
      "rest_api:\n  enabled: true\n  port: 8081\n  bind_address: '127.0.0.1'\n"
      "  jwt_secret: 'your-256-bit-secret-key-here-change-this'\n  jwt_enabled: true\n"));
  EXPECT_TRUE(c.rest_api.enabled);
  EXPECT_EQ(c.rest_api.port, 8081);
  EXPECT_EQ(c.rest_api.bind_address, "127.0.0.1");
  EXPECT_TRUE(c.rest_api.jwt_enabled);
  EXPECT_EQ(c.rest_api.jwt_secret, "your-256-bit-secret-key-here-change-this");
  EXPECT_FALSE(config_of(with_minimal("")).rest_api.enabled);
}

TEST(ParseConfig, RestApiRefusesWeakOrOpenSettings) {
  auto problem = only_problem(with_minimal(
      "rest_api:\n  enabled: true\n  jwt_secret: 'short-secret'\n"));
  EXPECT_EQ(problem, "test.yml:5: rest_api.jwt_secret: the secret is 12 bytes long; HS256 needs at least 32");
  EXPECT_EQ(problem.find("short-secret"), std::string::npos);
  EXPECT_EQ(only_problem(with_minimal("rest_api:\n  enabled: true\n")),
            "test.yml:5: rest_api.jwt_secret: jwt_enabled needs jwt_secret or jwt_secret_file");
  EXPECT_EQ(only_problem(with_minimal(
                "rest_api:\n  enabled: true\n  jwt_enabled: false\n  bind_address: 0.0.0.0\n")),
            "test.yml:5: rest_api.bind_address: without JWT the REST API listens on loopback "
            "only; set allow_remote_without_jwt: true to open it to other hosts without "
            "authentication");
  EXPECT_TRUE(config_of(with_minimal("rest_api:\n  enabled: true\n  jwt_enabled: false\n"
                                     "  bind_address: 0.0.0.0\n  allow_remote_without_jwt: true\n"))
                  .rest_api.allow_remote_without_jwt);
  EXPECT_EQ(only_problem(with_minimal("rest_api:\n  prot: 8080\n")),
            "test.yml:5: rest_api.prot: unknown key (expected enabled, port, bind_address, "
            "jwt_enabled, jwt_secret, jwt_secret_file, allow_remote_without_jwt, jwt_for_metrics, "
            "ssl_cert or ssl_key)");
}

TEST(ParseConfig, MaxPreparedStatements) {
  EXPECT_EQ(config_of(with_minimal("")).max_prepared_statements, 200);
  EXPECT_EQ(config_of(with_minimal("max_prepared_statements: 0\n")).max_prepared_statements, 0);
  EXPECT_EQ(only_problem(with_minimal("max_prepared_statements: -1\n")),
            "test.yml:4: max_prepared_statements: -1 is outside the valid range 0..100000");
}

TEST(ParseConfig, DuplicateKey) {
  EXPECT_EQ(only_problem(with_minimal("port: 6432\nmax_pool: 5\nport: 6433\n")),
            "test.yml:6: port: set more than once");
}

TEST(ParseConfig, MissingBackendServers) {
  EXPECT_EQ(only_problem("auth_type: trust\nport: 6432\n"),
            "test.yml: backend_servers: missing: at least one server is required");
  EXPECT_EQ(only_problem("auth_type: trust\nbackend_servers: []\n"),
            "test.yml:2: backend_servers: at least one server is required");
  auto not_a_list = problems_of("auth_type: trust\nbackend_servers: db1\n");
  ASSERT_FALSE(not_a_list.empty());
  EXPECT_EQ(not_a_list[0].to_string(), "test.yml:2: backend_servers: expected a list of servers");
}

TEST(ParseConfig, EmptyFile) {
  EXPECT_EQ(only_problem(""), "test.yml: backend_servers: missing: the file is empty");
}

TEST(ParseConfig, TopLevelMustBeAMapping) {
  EXPECT_EQ(only_problem("- a\n- b\n"),
            "test.yml:1: yaml: the top level must be a mapping of settings");
}

TEST(ParseConfig, BackendEntryMissingHostname) {
  std::string yaml =
      "auth_type: trust\n"
      "backend_servers:\n"
      "  - hostname: db1\n"
      "  - port: 5433\n"
      "    role: standby\n";
  EXPECT_EQ(only_problem(yaml), "test.yml:4: backend_servers[1].hostname: missing");
}

TEST(ParseConfig, BackendUnknownKey) {
  std::string yaml =
      "auth_type: trust\n"
      "backend_servers:\n"
      "  - hostname: db1\n"
      "    host: db2\n";
  EXPECT_EQ(
      only_problem(yaml),
      "test.yml:4: backend_servers[0].host: unknown key (expected hostname, port, weight or role)");
}

TEST(ParseConfig, BackendValuesAreChecked) {
  std::string yaml =
      "auth_type: trust\n"
      "backend_servers:\n"
      "  - hostname: db1\n"
      "    port: 99999\n"
      "    role: leader\n"
      "  - db2\n";
  auto problems = problems_of(yaml);
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_EQ(problems[0].to_string(),
            "test.yml:4: backend_servers[0].port: 99999 is outside the valid range 1..65535");
  EXPECT_EQ(problems[1].to_string(),
            "test.yml:5: backend_servers[0].role: invalid value \"leader\" (expected one of: "
            "primary, standby)");
  EXPECT_EQ(
      problems[2].to_string(),
      "test.yml:6: backend_servers[1]: expected a mapping with hostname, port, weight and role");
}

// yaml-cpp reports an unclosed flow sequence where it gives up: the next line.
TEST(ParseConfig, YamlSyntaxErrorUnclosedList) {
  EXPECT_EQ(only_problem("auth_type: trust\nport: 6432\nbackend_servers: [db1\nmax_pool: 5\n"),
            "test.yml:4: yaml: end of sequence flow not found");
}

TEST(ParseConfig, YamlSyntaxErrorBadIndentation) {
  EXPECT_EQ(only_problem(
                "auth_type: trust\nport: 6432\n  max_pool: 1\nbackend_servers:\n  - hostname: a\n"),
            "test.yml:3: yaml: illegal map value");
}

TEST(ParseConfig, SslWithoutCertificate) {
  EXPECT_EQ(only_problem(with_minimal("port: 6432\nssl: true\n")),
            "test.yml:5: ssl: ssl: true needs ssl_cert and ssl_key");
  TempFile cert("only_cert.pem");
  EXPECT_EQ(only_problem(with_minimal("ssl: true\nssl_cert: " + cert.path() + "\n")),
            "test.yml:4: ssl: ssl: true needs ssl_cert and ssl_key");
}

TEST(ParseConfig, UnreadableFile) {
  EXPECT_EQ(only_problem(with_minimal("ssl_ca_cert: /nonexistent/pgbalancer/ca.pem\n")),
            "test.yml:4: ssl_ca_cert: cannot read file \"/nonexistent/pgbalancer/ca.pem\"");
}

// A directory opens for reading on Linux but is not a file.
TEST(ParseConfig, DirectoryIsNotAFile) {
  auto dir = std::filesystem::temp_directory_path().string();
  EXPECT_EQ(only_problem(with_minimal("auth_file: " + dir + "\n")),
            "test.yml:4: auth_file: cannot read file \"" + dir + "\"");
}

TEST(ParseConfig, PasswordAuthNeedsAnAuthFileOrUser) {
  EXPECT_EQ(only_problem("backend_servers:\n  - hostname: db1\n"),
            "test.yml: auth_file: auth_type scram-sha-256 needs an auth_file or auth_user");
  Config c = config_of("backend_servers:\n  - hostname: db1\nauth_user: pgb\n");
  EXPECT_EQ(c.auth_user, "pgb");
  EXPECT_EQ(only_problem(with_minimal("auth_query: SELECT 1\n")),
            "test.yml:4: auth_query: auth_query needs auth_user");
}

TEST(ParseConfig, EveryProblemIsReported) {
  std::string yaml =
      "port: 70000\n"                      // 1
      "backend_servers:\n"                 // 2
      "  - port: 5432\n"                   // 3
      "pool_mode: sometimes\n"             // 4
      "rest_api: true\n"                   // 5: not a mapping
      "frobnicate: 1\n"                    // 6
      "client_login_timeout: 5 parsecs\n"  // 7
      "auth_type: trust\n"                 // 8
      "ssl: yes\n";                        // 9
  auto problems = problems_of(yaml);
  std::vector<std::string> got;
  for (const auto& p : problems) got.push_back(p.to_string());
  std::vector<std::string> want{
      "test.yml:1: port: 70000 is outside the valid range 1..65535",
      "test.yml:3: backend_servers[0].hostname: missing",
      "test.yml:4: pool_mode: invalid value \"sometimes\" (expected one of: session, transaction, "
      "statement)",
      "test.yml:5: rest_api: expected a mapping (enabled, port, bind_address, jwt_enabled, ...)",
      "test.yml:6: frobnicate: unknown configuration key",
      "test.yml:7: client_login_timeout: invalid duration \"5 parsecs\" (seconds, or a number with "
      "ms, s, min, h "
      "or d)",
      "test.yml:9: ssl: ssl: true needs ssl_cert and ssl_key",
  };
  EXPECT_EQ(got, want);
}

TEST(Problem, ToStringFormat) {
  EXPECT_EQ((Problem{"pgbalancer.yml", 7, "max_pool", "0 is outside the valid range 1..10000"}
                 .to_string()),
            "pgbalancer.yml:7: max_pool: 0 is outside the valid range 1..10000");
  EXPECT_EQ((Problem{"pgbalancer.yml", 0, "backend_servers", "missing"}.to_string()),
            "pgbalancer.yml: backend_servers: missing");
}

TEST(LoadConfig, ReadsAFileAndNamesIt) {
  TempFile file("config.yml", kMinimal);
  auto r = load_config(file.path());
  ASSERT_TRUE(std::holds_alternative<Config>(r));
  EXPECT_EQ(std::get<Config>(r).source_path, file.path());

  auto missing = load_config("/nonexistent/pgbalancer.yml");
  ASSERT_TRUE(std::holds_alternative<std::vector<Problem>>(missing));
  EXPECT_EQ(std::get<std::vector<Problem>>(missing).at(0).to_string(),
            "/nonexistent/pgbalancer.yml: file: cannot read the configuration file");
}

TEST(ParseConfig, PoolModeOverridesPerDatabaseAndUser) {
  auto c = config_of(with_minimal(
      "pool_mode: transaction\n"
      "databases:\n"
      "  reports:\n"
      "    pool_mode: session\n"
      "users:\n"
      "  batch:\n"
      "    pool_mode: statement\n"));
  EXPECT_EQ(c.pool_mode_for("app", "web"), PoolMode::Transaction);
  EXPECT_EQ(c.pool_mode_for("reports", "web"), PoolMode::Session);
  EXPECT_EQ(c.pool_mode_for("reports", "batch"), PoolMode::Statement);  // users beat databases
}

TEST(ParseConfig, OverrideSectionsRejectUnknownKeysWithTheirLine) {
  EXPECT_EQ(only_problem(with_minimal("databases:\n"
                                      "  reports:\n"
                                      "    pool_size: 3\n")),
            "test.yml:6: databases.reports.pool_size: unknown key (expected pool_mode)");
  EXPECT_EQ(only_problem(with_minimal("users:\n"
                                      "  batch: statement\n")),
            "test.yml:5: users.batch: expected a mapping of settings (e.g. pool_mode)");
}

TEST(ParseConfig, PoolLimits) {
  auto c = config_of(with_minimal("min_pool_size: 2\n"
                                  "reserve_pool_size: 3\n"
                                  "reserve_pool_timeout: 250ms\n"
                                  "max_db_connections: 40\n"
                                  "max_user_connections: 30\n"));
  EXPECT_EQ(c.min_pool_size, 2);
  EXPECT_EQ(c.reserve_pool_size, 3);
  EXPECT_EQ(c.reserve_pool_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(c.max_db_connections, 40);
  EXPECT_EQ(c.max_user_connections, 30);
  EXPECT_EQ(only_problem(with_minimal("max_db_connections: -1\n")),
            "test.yml:4: max_db_connections: -1 is outside the valid range 0..1000000");
}

TEST(ParseConfig, IdleTimeoutsAndExtraParameters) {
  auto c = config_of(with_minimal("client_idle_timeout: 5min\n"
                                  "idle_transaction_timeout: 500ms\n"
                                  "track_extra_parameters: [search_path, work_mem]\n"));
  EXPECT_EQ(c.client_idle_timeout, std::chrono::minutes(5));
  EXPECT_EQ(c.idle_transaction_timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(c.track_extra_parameters, (std::vector<std::string>{"search_path", "work_mem"}));
}

}  // namespace
}  // namespace pgb::config
