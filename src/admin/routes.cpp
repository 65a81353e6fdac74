#include "admin/routes.hpp"

#include "admin/utc_time.hpp"
#include "common/log.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <ctime>
#include <functional>

namespace pgb::admin {
namespace {

namespace json = boost::json;

constexpr std::string_view kPrefix = "/api/v1/";

ApiResponse json_response(unsigned status, const json::value& body) {
  ApiResponse r;
  r.status = status;
  r.body = json::serialize(body) + "\n";
  return r;
}

ApiResponse method_not_allowed(std::string_view message, std::string_view allow) {
  ApiResponse r = error_response(405, "method_not_allowed", message);
  r.allow = std::string(allow);
  return r;
}

// "2026-12-01T03:10:00Z"
std::string iso8601(std::int64_t epoch_seconds) {
  return utc_time(epoch_seconds, "%Y-%m-%dT%H:%M:%SZ");
}

double average(std::uint64_t total, std::uint64_t count) {
  return count == 0 ? 0.0 : static_cast<double>(total) / static_cast<double>(count);
}

// Microseconds with one decimal: enough for a latency, short enough to read.
double tenths(double us) {
  return std::round(us * 10.0) / 10.0;
}

json::value pools_json(const std::vector<PoolSnapshot>& pools) {
  json::array out;
  for (const auto& p : pools) {
    out.push_back(json::object{{"name", p.name},
                               {"database", p.database},
                               {"user", p.user},
                               {"node_id", p.node},
                               {"clients_active", p.clients_active},
                               {"clients_waiting", p.clients_waiting},
                               {"servers_active", p.servers_active},
                               {"servers_idle", p.servers_idle}});
  }
  return out;
}

json::value stats_json(const std::vector<PoolSnapshot>& pools) {
  json::array out;
  for (const auto& p : pools) {
    const auto& t = p.stats;
    out.push_back(json::object{
        {"pool", p.name},
        {"database", p.database},
        {"user", p.user},
        {"queries", t.queries},
        {"transactions", t.transactions},
        {"bytes_received", t.bytes_received},
        {"bytes_sent", t.bytes_sent},
        {"query_time_avg_us", tenths(average(t.query_time_us, t.queries))},
        {"query_time_p99_us", tenths(t.query_time_quantile_us(0.99))},
        {"transaction_time_avg_us", tenths(average(t.transaction_time_us, t.transactions))},
        {"wait_time_avg_us", tenths(average(t.wait_time_us, t.waits))},
        {"waits", t.waits}});
  }
  return out;
}

json::object node_json(const NodeSnapshot& n) {
  json::object o{{"id", n.id},
                 {"host", n.host},
                 {"port", n.port},
                 {"role", n.role},
                 {"status", n.status},
                 {"weight", n.weight},
                 {"connections", n.connections},
                 {"queries_routed", n.queries},
                 {"connect_failures", n.connect_failures}};
  if (!n.status_detail.empty()) o["status_detail"] = n.status_detail;
  return o;
}

json::value health_json(const std::vector<HealthCheck>& checks) {
  json::array nodes;
  for (const auto& c : checks) {
    json::object o{{"id", c.id},
                   {"host", c.host},
                   {"port", c.port},
                   {"status", c.up ? "up" : "down"},
                   {"latency_ms", std::round(c.latency_ms * 1000.0) / 1000.0},
                   {"checked_at", iso8601(c.checked_at)}};
    if (c.up) {
      o["error"] = nullptr;
    } else {
      o["error"] = c.error;
    }
    nodes.push_back(std::move(o));
  }
  return json::object{{"method", "SSLRequest probe (no login)"}, {"nodes", std::move(nodes)}};
}

json::value clients_json(const std::vector<ClientSnapshot>& clients) {
  json::array out;
  for (const auto& c : clients) {
    json::object o{{"id", c.id},
                   {"user", c.user},
                   {"database", c.database},
                   {"application_name", c.application_name},
                   {"address", c.address},
                   {"state", c.state},
                   {"since", iso8601(c.since)},
                   {"tls", c.tls},
                   {"pool", c.pool}};
    if (c.backend_pid != 0) {
      o["backend_pid"] = c.backend_pid;
    } else {
      o["backend_pid"] = nullptr;
    }
    out.push_back(std::move(o));
  }
  return out;
}

json::value servers_json(const std::vector<ServerSnapshot>& servers) {
  json::array out;
  for (const auto& s : servers) {
    out.push_back(json::object{{"id", s.id},
                               {"node_id", s.node},
                               {"host", s.host},
                               {"port", s.port},
                               {"user", s.user},
                               {"database", s.database},
                               {"state", s.state},
                               {"since", iso8601(s.since)},
                               {"backend_pid", s.backend_pid},
                               {"tls", s.tls},
                               {"pool", s.pool}});
  }
  return out;
}

// Settings as an object; "rest_api.port" goes into a nested "rest_api" object.
json::value config_json(const std::vector<config::Setting>& settings) {
  json::object out;
  for (const auto& s : settings) {
    json::value value;
    if (s.kind == config::Setting::Kind::Number) {
      value = std::stoll(s.value);
    } else if (s.kind == config::Setting::Kind::Boolean) {
      value = s.value == "true";
    } else {
      value = s.value;
    }
    auto dot = s.name.find('.');
    if (dot == std::string::npos) {
      out[s.name] = std::move(value);
      continue;
    }
    auto& block = out[s.name.substr(0, dot)];
    if (!block.is_object()) block = json::object();
    block.as_object()[s.name.substr(dot + 1)] = std::move(value);
  }
  return out;
}

ApiResponse status(const StatusSnapshot& s) {
  int active = 0, idle = 0, waiting = 0;
  for (const auto& p : s.pools) {
    active += p.servers_active;
    idle += p.servers_idle;
    waiting += p.clients_waiting;
  }
  return json_response(200,
                       json::object{{"version", s.version},
                                    {"uptime_seconds", static_cast<std::int64_t>(s.uptime_seconds)},
                                    {"pool_mode", s.pool_mode},
                                    {"worker_threads", s.worker_threads},
                                    {"client_connections", s.client_connections},
                                    {"clients_waiting", waiting},
                                    {"server_connections_active", active},
                                    {"server_connections_idle", idle},
                                    {"pools", s.pools.size()}});
}

// Prometheus label values: backslash, double quote and newline escaped.
std::string label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  template <class T>
  void sample(std::string_view name, std::string_view labels, T value) {
    if (labels.empty()) {
      out_ += fmt::format("{} {}\n", name, value);
    } else {
      out_ += fmt::format("{}{{{}}} {}\n", name, labels, value);
    }
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

ApiResponse metrics(const StatusSnapshot& s, const std::vector<NodeSnapshot>& nodes) {
  Exposition m;
  m.family("pgbalancer_up", "gauge", "1 while pgbalancer is running.");
  m.sample("pgbalancer_up", "", 1);
  m.family("pgbalancer_uptime_seconds", "gauge", "Seconds since pgbalancer started.");
  m.sample("pgbalancer_uptime_seconds", "", fmt::format("{:.3f}", s.uptime_seconds));
  m.family("pgbalancer_client_connections", "gauge",
           "Client connections, logged in or logging in.");
  m.sample("pgbalancer_client_connections", "", s.client_connections);

  auto node_labels = [](const NodeSnapshot& n) {
    return fmt::format("node_id=\"{}\",hostname=\"{}\",port=\"{}\"", n.id, label(n.host), n.port);
  };
  m.family("pgbalancer_backend_up", "gauge",
           "1 if the latest connection to the backend succeeded, 0 if it failed; absent until "
           "pgbalancer first connects to it.");
  for (const auto& n : nodes) {
    if (n.status != "unknown")
      m.sample("pgbalancer_backend_up", node_labels(n), n.status == "up" ? 1 : 0);
  }
  m.family("pgbalancer_backend_role", "gauge", "The backend's configured role (always 1).");
  for (const auto& n : nodes) {
    m.sample("pgbalancer_backend_role", fmt::format("{},role=\"{}\"", node_labels(n), n.role), 1);
  }
  m.family("pgbalancer_backend_connections", "gauge", "Open server connections to the backend.");
  for (const auto& n : nodes)
    m.sample("pgbalancer_backend_connections", node_labels(n), n.connections);
  m.family("pgbalancer_backend_queries_total", "counter", "Queries relayed to the backend.");
  for (const auto& n : nodes)
    m.sample("pgbalancer_backend_queries_total", node_labels(n), n.queries);
  m.family("pgbalancer_backend_connect_failures_total", "counter",
           "Failed attempts to open a server connection to the backend.");
  for (const auto& n : nodes) {
    m.sample("pgbalancer_backend_connect_failures_total", node_labels(n), n.connect_failures);
  }
  m.family("pgbalancer_health_check_failures_total", "counter",
           "Failed health probes of the backend.");
  for (const auto& n : nodes) {
    m.sample("pgbalancer_health_check_failures_total", node_labels(n), n.health_check_failures);
  }

  struct Series {
    std::string_view name, help;
    int PoolSnapshot::*field;
  };
  for (const auto& [name, help, field] :
       {Series{"pgbalancer_pool_connections_active", "Server connections leased to clients.",
               &PoolSnapshot::servers_active},
        Series{"pgbalancer_pool_connections_idle", "Idle server connections.",
               &PoolSnapshot::servers_idle},
        Series{"pgbalancer_pool_connections_waiting", "Clients waiting for a server connection.",
               &PoolSnapshot::clients_waiting},
        Series{"pgbalancer_pool_clients_active",
               "Logged-in clients not waiting for a server connection.",
               &PoolSnapshot::clients_active}}) {
    m.family(name, "gauge", help);
    for (const auto& p : s.pools) {
      m.sample(name,
               fmt::format("pool=\"{}\",database=\"{}\",user=\"{}\"", label(p.name),
                           label(p.database), label(p.user)),
               p.*field);
    }
  }

  TrafficStats total;
  for (const auto& p : s.pools) total += p.stats;
  m.family("pgbalancer_queries_total", "counter",
           "Queries answered (a simple Query, or extended-protocol messages up to a Sync).");
  m.sample("pgbalancer_queries_total", "", total.queries);
  m.family("pgbalancer_transactions_total", "counter", "Transactions completed.");
  m.sample("pgbalancer_transactions_total", "", total.transactions);
  m.family("pgbalancer_received_bytes_total", "counter", "Bytes received from clients.");
  m.sample("pgbalancer_received_bytes_total", "", total.bytes_received);
  m.family("pgbalancer_sent_bytes_total", "counter", "Bytes sent to clients.");
  m.sample("pgbalancer_sent_bytes_total", "", total.bytes_sent);
  m.family("pgbalancer_query_duration_seconds", "histogram",
           "Time from a query's first message to the server's ReadyForQuery.");
  // The counters are read while queries run: +Inf and _count come from the buckets themselves,
  // so the series never decreases along its buckets.
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < total.bucket_bounds_us.size(); ++i) {
    cumulative += total.buckets[i];
    m.sample("pgbalancer_query_duration_seconds_bucket",
             fmt::format("le=\"{}\"", static_cast<double>(total.bucket_bounds_us[i]) / 1e6),
             cumulative);
  }
  if (!total.buckets.empty()) cumulative += total.buckets.back();
  m.sample("pgbalancer_query_duration_seconds_bucket", "le=\"+Inf\"", cumulative);
  m.sample("pgbalancer_query_duration_seconds_sum", "",
           fmt::format("{:.6f}", static_cast<double>(total.query_time_us) / 1e6));
  m.sample("pgbalancer_query_duration_seconds_count", "", cumulative);

  ApiResponse r;
  r.body = m.take();
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  return r;
}

// nodes, nodes/{id}, nodes/{id}/{operation}
ApiResponse node_request(std::string_view rest, const ApiRequest& request, Operations& operations) {
  const std::string path = "/api/v1/nodes" + std::string(rest);
  if (rest.empty()) {
    if (request.method != "GET") return method_not_allowed(path + " takes GET", "GET");
    json::array out;
    for (const auto& n : operations.nodes()) out.push_back(node_json(n));
    return json_response(200, out);
  }
  rest.remove_prefix(1);  // the slash
  auto slash = rest.find('/');
  std::string_view id_text = rest.substr(0, slash);
  std::size_t id = 0;
  auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (ec != std::errc() || end != id_text.data() + id_text.size() || id_text.empty()) {
    return error_response(404, "not_found",
                          fmt::format("no node \"{}\": ids are numbers", id_text));
  }
  auto nodes = operations.nodes();
  if (id >= nodes.size()) {
    return error_response(404, "not_found",
                          fmt::format("no node {} (there are {})", id, nodes.size()));
  }
  if (slash == std::string_view::npos) {
    if (request.method != "GET") return method_not_allowed(path + " takes GET", "GET");
    return json_response(200, node_json(nodes[id]));
  }
  std::string_view operation = rest.substr(slash + 1);
  constexpr std::array<std::string_view, 4> kOperations = {"attach", "detach", "promote",
                                                           "recovery"};
  if (std::find(kOperations.begin(), kOperations.end(), operation) == kOperations.end()) {
    return error_response(404, "not_found",
                          "no such node operation (attach, detach, promote, recovery)");
  }
  if (request.method != "POST") return method_not_allowed(path + " takes POST", "POST");
  return error_response(
      501, "not_implemented",
      fmt::format("node {} is not supported yet: pgbalancer sends every session to the first "
                  "primary and has no health checking or failover yet (the cluster layer)",
                  operation));
}

}  // namespace

ApiResponse error_response(unsigned status, std::string_view code, std::string_view message) {
  return json_response(status, json::object{{"error", code}, {"message", message}});
}

namespace {

// The refusal, if the request's bearer token does not allow it (`is_post`: needs admin).
std::optional<ApiResponse> refusal(const ApiRequest& request, const ApiSettings& settings,
                                   std::int64_t now, bool is_post) {
  std::string_view auth = request.authorization;
  constexpr std::string_view kBearer = "Bearer ";
  if (!auth.starts_with(kBearer)) {
    log::warn("REST API: request from {} without a bearer token", request.peer);
    auto r = error_response(401, "unauthorized", "an Authorization: Bearer token is required");
    r.auth_failed = true;
    return r;
  }
  auto verified = verify_jwt(auth.substr(kBearer.size()), settings.policy, now);
  if (auto* refused = std::get_if<JwtRefusal>(&verified)) {
    log::warn("REST API: token from {} refused: {}", request.peer, to_string(*refused));
    auto r = error_response(401, "unauthorized", to_string(*refused));
    r.auth_failed = true;
    return r;
  }
  if (is_post && std::get<JwtClaims>(verified).role != Role::Admin) {
    return error_response(403, "forbidden", "this operation needs the admin role");
  }
  return std::nullopt;
}

ApiResponse route(const ApiRequest& request, const ApiSettings& settings, Operations& operations,
                  std::int64_t now) {
  std::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  if (path == "/metrics") {
    if (request.method != "GET") return method_not_allowed("/metrics takes GET", "GET");
    if (settings.jwt_enabled && settings.jwt_for_metrics) {
      if (auto refused = refusal(request, settings, now, false)) return *refused;
    }
    return metrics(operations.snapshot(), operations.nodes());
  }
  if (!path.starts_with(kPrefix)) return error_response(404, "not_found", "no such endpoint");
  std::string_view endpoint = path.substr(kPrefix.size());

  const bool is_post = request.method == "POST";
  if (!is_post && request.method != "GET") {
    return method_not_allowed("the API takes GET and POST", "GET, POST");
  }
  if (settings.jwt_enabled) {
    if (auto refused = refusal(request, settings, now, is_post)) return *refused;
  }

  auto only = [&](std::string_view method) -> std::optional<ApiResponse> {
    if (request.method == method) return std::nullopt;
    return method_not_allowed(fmt::format("{} takes {}", path, method), method);
  };
  if (endpoint == "nodes" || endpoint.starts_with("nodes/")) {
    return node_request(endpoint.substr(5), request, operations);
  }
  using Reader = std::function<json::value()>;
  const std::array<std::pair<std::string_view, Reader>, 6> readers = {{
      {"pools", [&] { return pools_json(operations.snapshot().pools); }},
      {"stats", [&] { return stats_json(operations.snapshot().pools); }},
      {"health", [&] { return health_json(operations.health()); }},
      {"clients", [&] { return clients_json(operations.clients()); }},
      {"servers", [&] { return servers_json(operations.servers()); }},
      {"config", [&] { return config_json(config::describe(*operations.config())); }},
  }};
  if (endpoint == "status") {
    if (auto wrong = only("GET")) return *wrong;
    return status(operations.snapshot());
  }
  for (const auto& [name, read] : readers) {
    if (endpoint != name) continue;
    if (auto wrong = only("GET")) return *wrong;
    return json_response(200, read());
  }
  if (endpoint == "reload") {
    if (auto wrong = only("POST")) return *wrong;
    auto problems = operations.reload();
    if (!problems.empty()) {
      json::array list;
      for (const auto& p : problems) list.push_back(json::string(p));
      return json_response(409, json::object{{"error", "reload_failed"},
                                             {"message",
                                              "the configuration file has problems; "
                                              "the previous settings stay in force"},
                                             {"problems", std::move(list)}});
    }
    return json_response(200, json::object{{"reloaded", true}});
  }
  if (endpoint == "logrotate") {
    if (auto wrong = only("POST")) return *wrong;
    auto rotation = operations.reopen_log();
    return json_response(
        200, json::object{{"reopened", rotation.reopened}, {"message", rotation.message}});
  }
  if (endpoint == "stop") {
    if (auto wrong = only("POST")) return *wrong;
    auto r = json_response(202, json::object{{"stopping", true}});
    r.stop_after = true;
    return r;
  }
  return error_response(404, "not_found", "no such endpoint");
}

}  // namespace

ApiResponse handle_request(const ApiRequest& request, const ApiSettings& settings,
                           Operations& operations, std::int64_t now) {
  try {
    return route(request, settings, operations, now);
  } catch (const std::exception& e) {  // out of memory, a bug: this request fails, not the API
    log::error("REST API: {} {} from {} failed: {}", request.method, request.target, request.peer,
               e.what());
    return error_response(500, "internal_error", "pgbalancer could not answer this request");
  }
}

}  // namespace pgb::admin
