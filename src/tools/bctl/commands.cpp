// bctl's API commands (see commands.hpp).
#include "tools/bctl/commands.hpp"

#include "config/config.hpp"
#include "tools/bctl/table.hpp"
#include "tools/bctl/views.hpp"

#include <boost/json/parse.hpp>

#include <array>
#include <iostream>

namespace pgb::bctl {
namespace {

namespace json = boost::json;
using namespace std::string_view_literals;

// The fields docs/rest-api.md documents for each list, in the order a person reads them.
// clang-format off
constexpr std::array kNodeColumns = {"id"sv, "host"sv, "port"sv, "role"sv, "status"sv, "weight"sv,
                                     "connections"sv, "queries_routed"sv};
constexpr std::array kHealthColumns = {"id"sv, "host"sv, "port"sv, "status"sv, "latency_ms"sv,
                                       "checked_at"sv, "error"sv};
constexpr std::array kPoolColumns = {"name"sv, "database"sv, "user"sv, "clients_active"sv,
                                     "clients_waiting"sv, "servers_active"sv, "servers_idle"sv};
constexpr std::array kClientColumns = {"id"sv, "user"sv, "database"sv, "application_name"sv,
                                       "address"sv, "state"sv, "since"sv, "tls"sv,
                                       "backend_pid"sv};
constexpr std::array kServerColumns = {"id"sv, "node_id"sv, "host"sv, "port"sv, "user"sv,
                                       "database"sv, "state"sv, "since"sv, "backend_pid"sv,
                                       "tls"sv};
constexpr std::array kStatsColumns = {"pool"sv, "database"sv, "user"sv, "queries"sv,
                                      "transactions"sv, "bytes_received"sv, "bytes_sent"sv,
                                      "query_time_avg_us"sv, "query_time_p99_us"sv,
                                      "transaction_time_avg_us"sv, "wait_time_avg_us"sv};
// clang-format on

// GET `name`; `columns` for lists, `key_header` for records.
constexpr ApiCommand get(std::string_view name, std::string_view help, Shape shape,
                         std::span<const std::string_view> columns = {},
                         std::string_view key_header = "field") {
  return {name, help, "GET", name, shape, columns, key_header};
}

// POST `name` (admin only); `done` is said when the answer carries no message.
constexpr ApiCommand post(std::string_view name, std::string_view help,
                          std::string_view done = {}) {
  return {name, help, "POST", name, Shape::Action, {}, "field", done};
}

constexpr std::array kPlainCommands = {
    get("status", "Version, uptime, pool mode and connection counts", Shape::Record),
    get("health", "The last health check of each backend node", Shape::Health, kHealthColumns),
    get("pools", "One line per pool: clients and server connections", Shape::List, kPoolColumns),
    get("clients", "One line per client connection", Shape::List, kClientColumns),
    get("servers", "One line per server connection", Shape::List, kServerColumns),
    get("stats", "Query and transaction counters and timings per pool", Shape::List, kStatsColumns),
    get("config", "The settings in force (secrets redacted)", Shape::Record, {}, "setting"),
    post("reload", "Reread the configuration file (as kill -HUP); needs an admin token",
         "configuration reloaded"),
    post("logrotate", "Reopen the log file (after logrotate moved it); needs an admin token",
         "log file reopened"),
    post("stop", "Shut pgbalancer down (as kill -TERM); needs an admin token",
         "pgbalancer is stopping"),
};

constexpr ApiCommand kNodes =
    get("nodes", "The backend nodes; with an ID, that one node", Shape::List, kNodeColumns);
constexpr ApiCommand kNode = get("nodes", "One backend node", Shape::Record);

// POST nodes/{id}/`name` (main.cpp puts the path together); the server's message says what
// happened.
constexpr std::array kNodeActions = {
    post("attach", "Put node ID back into service; needs an admin token"),
    post("detach", "Take node ID out of service; needs an admin token"),
    post("promote", "Make node ID the primary; needs an admin token"),
    post("recovery", "Rebuild node ID as a standby (online recovery); needs an admin token"),
};

// A refusal as the API describes it: {"error", "message"} and, for a refused reload, "problems".
void report_refusal(const Request& request, const Response& response, bool token_given) {
  std::cerr << "bctl: " << request.method << " " << request.target << ": " << response.status;
  json::error_code ec;
  json::value body = json::parse(response.body, ec);
  const json::object* error = ec ? nullptr : body.if_object();
  auto text = [&](std::string_view key) -> std::string {
    const json::value* v = error ? error->if_contains(key) : nullptr;
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  std::string code = text("error"), message = text("message");
  if (code.empty() && message.empty()) {
    std::cerr << " (the answer is not an API error)\n";
  } else {
    std::cerr << " " << code << ": " << message << "\n";
  }
  if (const json::value* problems = error ? error->if_contains("problems") : nullptr) {
    if (const auto* list = problems->if_array()) {
      for (const auto& p : *list) std::cerr << "  " << to_cell(p).text << "\n";
    }
  }
  if (response.status == 401 && !token_given) {
    std::cerr << "bctl: no token was given: use --token or set PGBALANCER_TOKEN "
                 "(bctl token makes one)\n";
  }
}

// The answer of a successful call as a table or a line; false if it has not the expected shape.
bool show(const ApiCommand& command, const json::value& answer) {
  std::optional<Table> table;
  switch (command.shape) {
    case Shape::List: table = list_table(answer, command.columns); break;
    case Shape::Health:
      if (const auto* object = answer.if_object(); object && object->contains("nodes")) {
        table = list_table(object->at("nodes"), command.columns);
      }
      break;
    case Shape::Record: table = record_table(answer, command.key_header); break;
    case Shape::Action: {
      const auto* object = answer.if_object();
      const json::value* message = object ? object->if_contains("message") : nullptr;
      if (message && message->is_string()) {
        std::cout << to_cell(*message).text << "\n";
        return true;
      }
      if (!command.done.empty()) {
        std::cout << command.done << "\n";
        return true;
      }
      table = record_table(answer, command.key_header);
      break;
    }
  }
  if (!table) return false;
  std::cout << render(*table);
  return true;
}

}  // namespace

std::span<const ApiCommand> plain_commands() {
  return kPlainCommands;
}
const ApiCommand& nodes_command() {
  return kNodes;
}
const ApiCommand& node_command() {
  return kNode;
}
std::span<const ApiCommand> node_actions() {
  return kNodeActions;
}

int call(const ApiCommand& command, const std::string& path, const CallOptions& options) {
  // A token sent over plain HTTP to another host can be read on the way, and reused until it
  // expires.
  if (!options.token.empty() && !options.server.https &&
      !config::is_loopback(options.server.host)) {
    std::cerr << "bctl: warning: the token goes unencrypted to " << options.server.host
              << " (HTTP); use --https if pgbalancer serves it\n";
  }
  Request request{std::string(command.method), "/api/v1/" + path, options.token};
  auto outcome = send_request(options.server, request, options.timeout);
  if (const auto* failure = std::get_if<Failure>(&outcome)) {
    std::cerr << "bctl: cannot reach pgbalancer at " << base_url(options.server) << ": "
              << failure->reason << "\n";
    return 1;
  }
  const auto& response = std::get<Response>(outcome);
  if (response.status >= 400) {
    report_refusal(request, response, !options.token.empty());
    return 1;
  }
  if (options.json) {
    std::cout << response.body;
    if (!response.body.ends_with('\n')) std::cout << "\n";
    return 0;
  }
  json::error_code ec;
  json::value answer = json::parse(response.body, ec);
  if (ec || !show(command, answer)) {
    std::cerr << "bctl: " << request.method << " " << request.target << ": " << response.status
              << ", but the answer is not what bctl expects (--json shows it as it is)\n";
    return 1;
  }
  return 0;
}

}  // namespace pgb::bctl
