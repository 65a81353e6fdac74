#include "admin/routes.hpp"

#include "common/log.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <fmt/format.h>

#include <array>

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

// Endpoints of the management plane that are planned but not built in this version.
constexpr std::array<std::string_view, 7> kNotBuiltYet = {
    "nodes", "health", "clients", "servers", "stats", "config", "logrotate"};

json::value pools_json(const std::vector<PoolSnapshot>& pools) {
  json::array out;
  for (const auto& p : pools) {
    out.push_back(json::object{{"name", p.name},
                               {"database", p.database},
                               {"user", p.user},
                               {"servers_active", p.servers_active},
                               {"servers_idle", p.servers_idle},
                               {"clients_waiting", p.clients_waiting}});
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
  return json_response(200, json::object{{"version", s.version},
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

ApiResponse metrics(const StatusSnapshot& s) {
  std::string out;
  auto gauge = [&](std::string_view name, std::string_view help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, help, name);
  };
  gauge("pgbalancer_up", "1 while pgbalancer is running.");
  out += "pgbalancer_up 1\n";
  gauge("pgbalancer_uptime_seconds", "Seconds since pgbalancer started.");
  out += fmt::format("pgbalancer_uptime_seconds {:.3f}\n", s.uptime_seconds);
  gauge("pgbalancer_client_connections", "Client connections, logged in or logging in.");
  out += fmt::format("pgbalancer_client_connections {}\n", s.client_connections);
  struct Series {
    std::string_view name, help;
    int PoolSnapshot::*field;
  };
  for (const auto& [name, help, field] :
       {Series{"pgbalancer_pool_connections_active", "Server connections leased to clients.",
               &PoolSnapshot::servers_active},
        Series{"pgbalancer_pool_connections_idle", "Idle server connections.",
               &PoolSnapshot::servers_idle},
        Series{"pgbalancer_pool_connections_waiting",
               "Clients waiting for a server connection.", &PoolSnapshot::clients_waiting}}) {
    gauge(name, help);
    for (const auto& p : s.pools) {
      out += fmt::format("{}{{pool=\"{}\",database=\"{}\",user=\"{}\"}} {}\n", name, label(p.name),
                         label(p.database), label(p.user), p.*field);
    }
  }
  ApiResponse r;
  r.body = std::move(out);
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  return r;
}

}  // namespace

ApiResponse error_response(unsigned status, std::string_view code, std::string_view message) {
  return json_response(status, json::object{{"error", code}, {"message", message}});
}

ApiResponse handle_request(const ApiRequest& request, const ApiSettings& settings,
                           Operations& operations, std::int64_t now) {
  std::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  if (path == "/metrics") {
    if (request.method != "GET") return method_not_allowed("/metrics takes GET", "GET");
    return metrics(operations.snapshot());
  }
  if (!path.starts_with(kPrefix)) return error_response(404, "not_found", "no such endpoint");
  std::string_view endpoint = path.substr(kPrefix.size());

  const bool is_post = request.method == "POST";
  if (!is_post && request.method != "GET") {
    return method_not_allowed("the API takes GET and POST", "GET, POST");
  }
  if (settings.jwt_enabled) {
    std::string_view auth = request.authorization;
    constexpr std::string_view kBearer = "Bearer ";
    if (!auth.starts_with(kBearer)) {
      log::warn("REST API: request from {} without a bearer token", request.peer);
      auto r = error_response(401, "unauthorized", "an Authorization: Bearer token is required");
      r.auth_failed = true;
      return r;
    }
    auto verified = verify_jwt(auth.substr(kBearer.size()), settings.policy, now);
    if (auto* refusal = std::get_if<JwtRefusal>(&verified)) {
      log::warn("REST API: token from {} refused: {}", request.peer, to_string(*refusal));
      auto r = error_response(401, "unauthorized", to_string(*refusal));
      r.auth_failed = true;
      return r;
    }
    if (is_post && std::get<JwtClaims>(verified).role != Role::Admin) {
      return error_response(403, "forbidden", "this operation needs the admin role");
    }
  }

  auto only = [&](std::string_view method) -> std::optional<ApiResponse> {
    if (request.method == method) return std::nullopt;
    return method_not_allowed(fmt::format("{} takes {}", path, method), method);
  };
  if (endpoint == "status") {
    if (auto wrong = only("GET")) return *wrong;
    return status(operations.snapshot());
  }
  if (endpoint == "pools") {
    if (auto wrong = only("GET")) return *wrong;
    return json_response(200, pools_json(operations.snapshot().pools));
  }
  if (endpoint == "reload") {
    if (auto wrong = only("POST")) return *wrong;
    auto problems = operations.reload();
    if (!problems.empty()) {
      json::array list;
      for (const auto& p : problems) list.push_back(json::string(p));
      return json_response(409, json::object{{"error", "reload_failed"},
                                             {"message", "the configuration file has problems; "
                                                         "the previous settings stay in force"},
                                             {"problems", std::move(list)}});
    }
    return json_response(200, json::object{{"reloaded", true}});
  }
  if (endpoint == "stop") {
    if (auto wrong = only("POST")) return *wrong;
    auto r = json_response(202, json::object{{"stopping", true}});
    r.stop_after = true;
    return r;
  }
  std::string_view first = endpoint.substr(0, endpoint.find('/'));
  for (auto planned : kNotBuiltYet) {
    if (first == planned) {
      return error_response(
          501, "not_implemented",
          fmt::format("{} is not built yet in this version of pgbalancer", path));
    }
  }
  return error_response(404, "not_found", "no such endpoint");
}

}  // namespace pgb::admin
