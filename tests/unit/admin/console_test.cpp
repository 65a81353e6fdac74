#include "admin/console.hpp"

#include <gtest/gtest.h>

namespace pgb::admin {
namespace {

// The daemon's side of the interface, with fixed contents (the console's own logic is tested
// here; the real data plane is in tests/integration/test_admin_console.py).
class FixedOperations final : public Operations {
 public:
  StatusSnapshot status;
  std::vector<ClientSnapshot> client_rows;
  std::shared_ptr<config::Config> cfg = std::make_shared<config::Config>();

  StatusSnapshot snapshot() override { return status; }
  std::vector<NodeSnapshot> nodes() override {
    NodeSnapshot n;
    n.host = "db1";
    n.port = 5432;
    n.role = "primary";
    n.status = "up";
    n.queries = 42;
    return {n};
  }
  std::vector<HealthCheck> health() override { return {}; }
  std::vector<ClientSnapshot> clients() override { return client_rows; }
  std::vector<ServerSnapshot> servers() override { return {}; }
  std::shared_ptr<const config::Config> config() override { return cfg; }
  std::optional<std::string> pause(const std::string&) override { return std::nullopt; }
  std::optional<std::string> resume(const std::string&) override { return std::nullopt; }
  bool paused(const std::string& db) override { return db == "paused_db"; }
  int server_connections(const std::string&) override { return 0; }
  std::vector<std::string> reload() override { return {}; }
  LogRotation reopen_log() override { return {}; }
  void stop() override {}
};

TEST(ConsoleCommand, ParsesVerbsCaseInsensitively) {
  auto c = parse_console_command("  show Pools ; ");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->verb, ConsoleCommand::Verb::Show);
  EXPECT_EQ(c->argument, "pools");
  c = parse_console_command("PAUSE \"MyDb\"");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->verb, ConsoleCommand::Verb::Pause);
  EXPECT_EQ(c->argument, "MyDb");  // quoted: kept as written
  c = parse_console_command("resume MyDb");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->argument, "mydb");  // bare: folded, as SQL does
  c = parse_console_command("reload;");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->verb, ConsoleCommand::Verb::Reload);
  EXPECT_EQ(parse_console_command(" ; ")->verb, ConsoleCommand::Verb::Empty);
}

TEST(ConsoleCommand, RefusesAnythingElseWithSyntaxError) {
  for (auto bad : {"DROP TABLE x", "SHOW", "SHOW POOLS extra", "RELOAD now", "PAUSE a b"}) {
    auto c = parse_console_command(bad);
    ASSERT_FALSE(c) << bad;
    EXPECT_EQ(c.error().sqlstate, "42601");
  }
}

TEST(ConsoleCommand, SplitsStatementsOutsideQuotes) {
  auto parts = split_statements("SHOW POOLS; PAUSE \"a;b\" ;; SHOW 'x;y'");
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0], "SHOW POOLS");
  EXPECT_EQ(parts[1], " PAUSE \"a;b\" ");
  EXPECT_EQ(parts[2], " SHOW 'x;y'");
}

TEST(Console, PgpoolShowSubjects) {
  EXPECT_EQ(pgpool_show_subject("SHOW POOL_NODES"), "pool_nodes");
  EXPECT_EQ(pgpool_show_subject("\n show pool_processes;"), "pool_processes");
  EXPECT_EQ(pgpool_show_subject("SHOW pool_version"), "pool_version");
  EXPECT_FALSE(pgpool_show_subject("SHOW POOLS"));
  EXPECT_FALSE(pgpool_show_subject("SHOW server_version"));
  EXPECT_FALSE(pgpool_show_subject("SELECT 'SHOW POOL_NODES'"));
  EXPECT_FALSE(pgpool_show_subject("sh"));
}

TEST(Console, AsSelectHexEncodesEveryValue) {
  ResultSet r;
  r.columns = {{"name"}, {"n", true}};
  r.rows = {{"x'); DROP TABLE t; --", std::nullopt}};
  auto sql = as_select(r);
  EXPECT_EQ(sql.find("DROP"), std::string::npos);
  EXPECT_NE(sql.find("decode('782729"), std::string::npos);  // x ' ) as hex
  EXPECT_NE(sql.find("NULL::text"), std::string::npos);
  EXPECT_NE(sql.find("AS pgbalancer_show(\"name\", \"n\")"), std::string::npos);
  EXPECT_NE(sql.find("pg_catalog.convert_from(pg_catalog.decode("), std::string::npos);
  r.rows = {
      {std::string("ok\xff\xc3\xa9"), std::string("\xed\xa0\x80")}};  // bad byte; é; surrogate
  sql = as_select(r);
  EXPECT_NE(sql.find("'6f6befbfbdc3a9'"), std::string::npos) << sql;
  EXPECT_NE(sql.find("'efbfbdefbfbdefbfbd'"), std::string::npos) << sql;
  r.rows.clear();
  EXPECT_EQ(as_select(r), "SELECT NULL::text AS \"name\", NULL::text AS \"n\" LIMIT 0");
}

TEST(Console, ShowPoolsAddsUpPoolsOfOneDatabaseAndUser) {
  FixedOperations ops;
  PoolSnapshot a;
  a.database = "app";
  a.user = "u";
  a.clients_active = 2;
  a.servers_idle = 1;
  PoolSnapshot b = a;  // same pair, other startup parameters
  b.clients_waiting = 3;
  PoolSnapshot c = a;
  c.database = "paused_db";
  ops.status.pools = {a, b, c};
  auto r = show("pools", ops);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->rows.size(), 2u);
  EXPECT_EQ(r->columns[2].name, "cl_active");
  const auto& app = r->rows[0];
  EXPECT_EQ(app[0], "app");
  EXPECT_EQ(app[2], "4");  // cl_active
  EXPECT_EQ(app[3], "3");  // cl_waiting
  EXPECT_EQ(app[5], "2");  // sv_idle
  EXPECT_EQ(app[6], "session");
  EXPECT_EQ(r->rows[1][7], "1");  // paused
}

TEST(Console, ShowConfigRedactsTheJwtSecret) {
  FixedOperations ops;
  ops.cfg->rest_api.jwt_secret = "a-secret-that-must-not-show-up-anywhere";
  auto r = show("config", ops);
  ASSERT_TRUE(r);
  bool found = false;
  for (const auto& row : r->rows) {
    EXPECT_NE(row[1], ops.cfg->rest_api.jwt_secret);
    if (row[0] == "rest_api.jwt_secret") {
      found = true;
      EXPECT_EQ(row[1], "<redacted>");
      EXPECT_EQ(row[3], "no");  // a restart applies it
    }
  }
  EXPECT_TRUE(found);
}

TEST(Console, ShowPoolProcessesAndUnknownSubjects) {
  FixedOperations ops;
  ClientSnapshot client;
  client.user = "u";
  client.database = "app";
  client.backend_pid = 77;
  ops.client_rows = {client};
  auto r = show("pool_processes", ops);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->rows.size(), 1u);
  EXPECT_EQ(r->rows[0][3], "app");
  EXPECT_EQ(r->rows[0][7], "Execute command");
  auto nodes = show("pool_nodes", ops);
  ASSERT_TRUE(nodes);
  EXPECT_EQ(nodes->rows[0][5], "1.000000");  // lb_weight: the share of the weights
  EXPECT_FALSE(show("nonsense", ops));
}

}  // namespace
}  // namespace pgb::admin
