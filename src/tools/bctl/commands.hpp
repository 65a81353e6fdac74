// The bctl commands that call the REST API: which endpoint each asks, how its answer is shown,
// and what a refusal or an unreachable server looks like on stderr.
#pragma once

#include "tools/bctl/http_client.hpp"

#include <chrono>
#include <span>
#include <string>
#include <string_view>

namespace pgb::bctl {

// How a successful answer is printed without --json.
enum class Shape {
  List,    // an array of objects: a table, one row each
  Health,  // {"nodes": [...]}: the table of "nodes"
  Record,  // one object: key/value pairs, nested keys flattened
  Action,  // a POST's answer: its "message", else ApiCommand::done, else key/value pairs
};

struct ApiCommand {
  std::string_view name;    // the subcommand
  std::string_view help;    // its line in --help
  std::string_view method;  // "GET" or "POST"
  std::string_view path;    // under /api/v1/; node commands add the ID (see main.cpp)
  Shape shape;
  std::span<const std::string_view> columns = {};  // List, Health: the documented fields, in order
  std::string_view key_header = "field";           // Record: the first column's header
  std::string_view done = {};                      // Action: said when the answer has no message
};

// status, health, pools, clients, servers, stats, config, reload, logrotate, stop (nodes aside:
// its ID makes the path).
std::span<const ApiCommand> plain_commands();
const ApiCommand& nodes_command();           // GET nodes
const ApiCommand& node_command();            // GET nodes/{id}
std::span<const ApiCommand> node_actions();  // POST nodes/{id}/attach|detach|promote|recovery

struct CallOptions {
  Server server;
  std::string token;  // empty: no Authorization header (a server with jwt_enabled: false)
  bool json = false;  // print the body as received
  std::chrono::seconds timeout{10};
};

// Sends `command` to /api/v1/`path` and prints the answer. Exit status: 0, or 1 when the server
// refused (status >= 400: "bctl: GET /api/v1/x: 404 not_found: ...") or could not be reached.
int call(const ApiCommand& command, const std::string& path, const CallOptions& options);

}  // namespace pgb::bctl
