#include "admin/console.hpp"

#include "admin/utc_time.hpp"
#include "common/sqlstate.hpp"
#include "pgbalancer_version.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>

namespace pgb::admin {
namespace {

constexpr std::string_view kUsage =
    "Commands: SHOW POOLS | CLIENTS | SERVERS | STATS | DATABASES | CONFIG | VERSION | "
    "POOL_NODES | POOL_PROCESSES | POOL_VERSION | HELP; RELOAD; PAUSE [db]; RESUME [db].";

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.front())) || s.front() == ';'))
    s.remove_prefix(1);
  while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.back())) || s.back() == ';'))
    s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    std::size_t start = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

// A database name as PAUSE/RESUME take it: bare (folded to lower case, as SQL does) or quoted.
std::string identifier(std::string_view word) {
  if (word.size() >= 2 && word.front() == '"' && word.back() == '"') {
    return std::string(word.substr(1, word.size() - 2));
  }
  return lower(word);
}

// "2026-12-01 03:10:00 UTC", as pgbouncer shows times.
std::string timestamp(std::int64_t epoch_seconds) {
  return utc_time(epoch_seconds, "%Y-%m-%d %H:%M:%S UTC");
}

std::string num(std::uint64_t v) {
  return std::to_string(v);
}
std::string num(int v) {
  return std::to_string(v);
}

std::uint64_t average(std::uint64_t total, std::uint64_t count) {
  return count == 0 ? 0 : total / count;
}

// "127.0.0.1:5432" → ("127.0.0.1", "5432"); "[::1]:5432" → ("::1", "5432").
std::pair<std::string, std::string> split_address(std::string_view address) {
  auto colon = address.rfind(':');
  if (colon == std::string_view::npos) return {std::string(address), ""};
  auto host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return {std::string(host), std::string(address.substr(colon + 1))};
}

// `s` with every byte that is not part of a valid UTF-8 sequence replaced by U+FFFD: names
// come from clients' startup packets unchecked, and convert_from() would refuse them.
std::string valid_utf8(std::string_view s) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t length = c < 0x80           ? 1
                         : (c >> 5) == 0x6  ? 2
                         : (c >> 4) == 0xE  ? 3
                         : (c >> 3) == 0x1E ? 4
                                            : 0;
    bool ok = length > 0 && i + length <= s.size();
    std::uint32_t code = length == 1   ? c
                         : length == 2 ? c & 0x1F
                         : length == 3 ? c & 0x0F
                                       : c & 0x07;
    for (std::size_t k = 1; ok && k < length; ++k) {
      const auto next = static_cast<unsigned char>(s[i + k]);
      ok = (next & 0xC0) == 0x80;
      code = (code << 6) | (next & 0x3F);
    }
    // No overlong forms, surrogates, or code points past U+10FFFF.
    constexpr std::uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
    ok = ok && code >= kMinimum[length] && code <= 0x10FFFF && (code < 0xD800 || code > 0xDFFF);
    if (ok) {
      out.append(s.substr(i, length));
      i += length;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

ResultSet columns(std::initializer_list<ResultSet::Column> list) {
  ResultSet r;
  r.columns = list;
  return r;
}

ResultSet show_pools(Operations& ops) {
  auto r = columns({{"database"},
                    {"user"},
                    {"cl_active", true},
                    {"cl_waiting", true},
                    {"sv_active", true},
                    {"sv_idle", true},
                    {"pool_mode"},
                    {"paused", true}});
  // pgbouncer has one pool per database and user; pgbalancer may keep several (different
  // startup parameters): they are added up, so exporters see one row per pair.
  std::map<std::pair<std::string, std::string>, PoolSnapshot> by_pair;
  for (const auto& p : ops.snapshot().pools) {
    auto& sum = by_pair[{p.database, p.user}];
    sum.clients_active += p.clients_active;
    sum.clients_waiting += p.clients_waiting;
    sum.servers_active += p.servers_active;
    sum.servers_idle += p.servers_idle;
  }
  auto config = ops.config();
  for (const auto& [key, p] : by_pair) {
    const auto& [database, user] = key;
    r.rows.push_back({database, user, num(p.clients_active), num(p.clients_waiting),
                      num(p.servers_active), num(p.servers_idle),
                      std::string(config::to_string(config->pool_mode_for(database, user))),
                      num(ops.paused(database) ? 1 : 0)});
  }
  return r;
}

// SHOW CLIENTS and SHOW SERVERS start with the same columns, as in pgbouncer.
ResultSet connection_columns(std::initializer_list<ResultSet::Column> more) {
  auto r = columns({{"type"},
                    {"user"},
                    {"database"},
                    {"state"},
                    {"addr"},
                    {"port", true},
                    {"connect_time"},
                    {"remote_pid", true},
                    {"tls"}});
  r.columns.insert(r.columns.end(), more);
  return r;
}

ResultSet show_clients(Operations& ops) {
  auto r = connection_columns({{"application_name"}, {"id", true}});
  for (const auto& c : ops.clients()) {
    auto [host, port] = split_address(c.address);
    r.rows.push_back({"C", c.user, c.database, c.state, host,
                      port.empty() ? std::nullopt : std::optional(port), timestamp(c.since),
                      c.backend_pid ? std::optional(num(c.backend_pid)) : std::nullopt,
                      c.tls ? "yes" : "no", c.application_name, num(c.id)});
  }
  return r;
}

ResultSet show_servers(Operations& ops) {
  auto r = connection_columns({{"node_id", true}, {"id", true}});
  for (const auto& s : ops.servers()) {
    r.rows.push_back({"S", s.user, s.database, s.state, s.host, num(s.port), timestamp(s.since),
                      num(s.backend_pid), s.tls ? "yes" : "no",
                      num(static_cast<std::uint64_t>(s.node)), num(s.id)});
  }
  return r;
}

ResultSet show_stats(Operations& ops) {
  // pgbouncer's totals, per database. Its avg_* are rates over the last 60 s; here the
  // averages are per transaction, query or wait over the whole run, and only those kept.
  auto r = columns({{"database"},
                    {"total_xact_count", true},
                    {"total_query_count", true},
                    {"total_received", true},
                    {"total_sent", true},
                    {"total_xact_time", true},
                    {"total_query_time", true},
                    {"total_wait_time", true},
                    {"avg_xact_time", true},
                    {"avg_query_time", true},
                    {"avg_wait_time", true},
                    {"p99_query_time", true}});
  std::map<std::string, TrafficStats> by_database;
  for (const auto& p : ops.snapshot().pools) by_database[p.database] += p.stats;
  for (const auto& [database, t] : by_database) {
    r.rows.push_back({database, num(t.transactions), num(t.queries), num(t.bytes_received),
                      num(t.bytes_sent), num(t.transaction_time_us), num(t.query_time_us),
                      num(t.wait_time_us), num(average(t.transaction_time_us, t.transactions)),
                      num(average(t.query_time_us, t.queries)),
                      num(average(t.wait_time_us, t.waits)),
                      num(static_cast<std::uint64_t>(t.query_time_quantile_us(0.99)))});
  }
  return r;
}

ResultSet show_databases(Operations& ops) {
  auto r = columns({{"name"},
                    {"host"},
                    {"port", true},
                    {"database"},
                    {"pool_size", true},
                    {"min_pool_size", true},
                    {"reserve_pool", true},
                    {"pool_mode"},
                    {"max_connections", true},
                    {"current_connections", true},
                    {"paused", true},
                    {"disabled", true}});
  auto config = ops.config();
  const auto& primary = config->backend_servers[config->primary_index()];
  // The databases clients have used, and those the configuration names.
  std::map<std::string, int> connections;
  for (const auto& p : ops.snapshot().pools) {
    connections[p.database] += p.servers_active + p.servers_idle;
  }
  for (const auto& [name, o] : config->databases) connections.try_emplace(name, 0);
  for (const auto& [name, open] : connections) {
    r.rows.push_back({name, primary.hostname, num(primary.port), name, num(config->max_pool),
                      num(config->min_pool_size), num(config->reserve_pool_size),
                      std::string(config::to_string(config->pool_mode_for(name, ""))),
                      num(config->max_db_connections), num(open), num(ops.paused(name) ? 1 : 0),
                      "0"});
  }
  return r;
}

ResultSet show_config(Operations& ops) {
  auto r = columns({{"key"}, {"value"}, {"default"}, {"changeable"}});
  auto defaults = config::describe(config::Config{});
  for (const auto& s : config::describe(*ops.config())) {
    auto d = std::find_if(defaults.begin(), defaults.end(),
                          [&](const config::Setting& x) { return x.name == s.name; });
    r.rows.push_back({s.name, s.value, d == defaults.end() ? std::nullopt : std::optional(d->value),
                      s.reloadable ? "yes" : "no"});
  }
  return r;
}

ResultSet one_value(std::string column, std::string value) {
  auto r = columns({{std::move(column)}});
  r.rows.push_back({std::move(value)});
  return r;
}

// pgpool-II 4.x's columns, so its exporters and scripts keep working.
ResultSet show_pool_nodes(Operations& ops) {
  auto r = columns({{"node_id"},
                    {"hostname"},
                    {"port"},
                    {"status"},
                    {"pg_status"},
                    {"lb_weight"},
                    {"role"},
                    {"pg_role"},
                    {"select_cnt"},
                    {"load_balance_node"},
                    {"replication_delay"},
                    {"replication_state"},
                    {"replication_sync_state"},
                    {"last_status_change"}});
  auto nodes = ops.nodes();
  double total_weight = 0;
  for (const auto& n : nodes) total_weight += n.weight;
  const std::size_t serving = ops.config()->primary_index();
  for (const auto& n : nodes) {
    // Every session goes to the first primary until routing is built: it alone balances.
    r.rows.push_back({std::to_string(n.id), n.host, std::to_string(n.port), n.status, n.status,
                      fmt::format("{:.6f}", total_weight > 0 ? n.weight / total_weight : 0), n.role,
                      n.role, num(n.queries), n.id == serving ? "true" : "false", "0", "", "", ""});
  }
  return r;
}

ResultSet show_pool_processes(Operations& ops) {
  auto r = columns({{"pool_pid"},
                    {"start_time"},
                    {"client_connection_count"},
                    {"database"},
                    {"username"},
                    {"backend_connection_time"},
                    {"pool_counter"},
                    {"status"}});
  // pgpool-II has a process per client; pgbalancer's threads serve them all, so each client
  // is a row under pgbalancer's own pid.
  const std::string pid = std::to_string(::getpid());
  for (const auto& c : ops.clients()) {
    r.rows.push_back({pid, timestamp(c.since), "1", c.database, c.user, "", "1",
                      c.backend_pid ? "Execute command" : "Idle"});
  }
  return r;
}

}  // namespace

std::vector<std::string_view> split_statements(std::string_view text) {
  std::vector<std::string_view> out;
  char quote = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == ';') {
      if (!trim(text.substr(start, i - start)).empty())
        out.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  if (!trim(text.substr(start)).empty()) out.push_back(text.substr(start));
  return out;
}

Result<ConsoleCommand> parse_console_command(std::string_view statement) {
  auto w = words(trim(statement));
  if (w.empty()) return ConsoleCommand{};
  auto verb = lower(w[0]);
  if (verb == "show" && w.size() == 2)
    return ConsoleCommand{ConsoleCommand::Verb::Show, lower(w[1])};
  if (verb == "reload" && w.size() == 1) return ConsoleCommand{ConsoleCommand::Verb::Reload, {}};
  if ((verb == "pause" || verb == "resume") && w.size() <= 2) {
    return ConsoleCommand{
        verb == "pause" ? ConsoleCommand::Verb::Pause : ConsoleCommand::Verb::Resume,
        w.size() == 2 ? identifier(w[1]) : std::string()};
  }
  return make_error(sqlstate::kSyntaxError,
                    fmt::format("unsupported admin console command: {}", trim(statement)),
                    std::string(kUsage));
}

Result<ResultSet> show(std::string_view subject, Operations& ops) {
  if (subject == "pools") return show_pools(ops);
  if (subject == "clients") return show_clients(ops);
  if (subject == "servers") return show_servers(ops);
  if (subject == "stats") return show_stats(ops);
  if (subject == "databases") return show_databases(ops);
  if (subject == "config") return show_config(ops);
  if (subject == "version") return one_value("version", fmt::format("pgbalancer {}", kVersion));
  if (subject == "pool_nodes") return show_pool_nodes(ops);
  if (subject == "pool_processes") return show_pool_processes(ops);
  if (subject == "pool_version") {
    return one_value("pool_version", fmt::format("pgbalancer {}", kVersion));
  }
  if (subject == "help") return one_value("help", std::string(kUsage));
  return make_error(sqlstate::kSyntaxError, fmt::format("unknown SHOW subject: {}", subject),
                    std::string(kUsage));
}

std::optional<std::string> pgpool_show_subject(std::string_view query) {
  // Called on every short Query of every client: most are gone at the first letters.
  auto start = query.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos || query.size() - start < 4) return std::nullopt;
  for (std::size_t i = 0; i < 4; ++i) {  // ASCII case folding, without the locale's tolower
    if ((query[start + i] | 0x20) != "show"[i]) return std::nullopt;
  }
  auto w = words(trim(query));
  if (w.size() != 2 || lower(w[0]) != "show") return std::nullopt;
  auto subject = lower(w[1]);
  if (subject == "pool_nodes" || subject == "pool_processes" || subject == "pool_version") {
    return subject;
  }
  return std::nullopt;
}

std::string as_select(const ResultSet& result) {
  auto value = [](const std::optional<std::string>& v) {
    if (!v) return std::string("NULL::text");
    std::string hex;
    for (unsigned char c : valid_utf8(*v)) hex += fmt::format("{:02x}", c);
    // Qualified, so the client's search_path cannot put other functions in their place.
    return fmt::format("pg_catalog.convert_from(pg_catalog.decode('{}', 'hex'), 'UTF8')", hex);
  };
  std::vector<std::string> names;
  for (const auto& c : result.columns) names.push_back(fmt::format("\"{}\"", c.name));
  if (result.rows.empty()) {
    std::vector<std::string> nulls;
    for (const auto& n : names) nulls.push_back("NULL::text AS " + n);
    return fmt::format("SELECT {} LIMIT 0", fmt::join(nulls, ", "));
  }
  std::vector<std::string> rows;
  for (const auto& row : result.rows) {
    std::vector<std::string> values;
    for (const auto& v : row) values.push_back(value(v));
    rows.push_back(fmt::format("({})", fmt::join(values, ", ")));
  }
  return fmt::format("SELECT * FROM (VALUES {}) AS pgbalancer_show({})", fmt::join(rows, ", "),
                     fmt::join(names, ", "));
}

}  // namespace pgb::admin
