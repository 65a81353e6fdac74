// bctl: pgbalancer's command line client. Parses the command line and hands each command to
// commands.cpp (the REST API) or token.cpp (signing tokens). Exit status: 0 done, 1 refused or
// unreachable, 2 a usage error.
#include "tools/bctl/commands.hpp"
#include "tools/bctl/token.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <optional>

namespace {

using pgb::bctl::ApiCommand;
using pgb::bctl::CallOptions;

constexpr char kTokenEnv[] = "PGBALANCER_TOKEN";

// Every API command takes these, before or after its name (`bctl --json pools` and
// `bctl pools --json`), so that `bctl pools --help` lists them too.
struct ConnectionFlags {
  CallOptions call;
  bool insecure = false;
  std::string token;
  bool token_given = false;
  unsigned timeout = 10;

  void add_to(CLI::App& app) {
    app.add_option("-H,--host", call.server.host, "pgbalancer's REST API address or host name")
        ->capture_default_str();
    app.add_option("-p,--port", call.server.port, "The REST API's port")
        ->capture_default_str()
        ->check(CLI::Range(1, 65535));
    app.add_option("--token", token,
                   "Bearer token (bctl token makes one); default: $PGBALANCER_TOKEN. The "
                   "environment is the safer place: command lines are visible to other users")
        ->each([this](const std::string&) { token_given = true; });
    app.add_flag("--json", call.json, "Print the answer's JSON as the server sent it");
    app.add_flag("--https", call.server.https,
                 "Use HTTPS, verifying the certificate and host name against the system's "
                 "trusted CAs");
    app.add_option("--cacert", call.server.ca_file,
                   "With --https: trust the CA certificates in this PEM file instead")
        ->check(CLI::ExistingFile);
    app.add_flag("--insecure", insecure,
                 "With --https: do not verify the certificate (encrypted, but not authenticated)");
    app.add_option("--timeout", timeout, "Seconds for connecting and the whole request")
        ->capture_default_str()
        ->check(CLI::Range(1, 3600));
  }

  // Checks what CLI11 cannot see across a command and its parent; nullopt if all is well.
  std::optional<std::string> finish() {
    if ((insecure || !call.server.ca_file.empty()) && !call.server.https) {
      return "--insecure and --cacert go with --https";
    }
    if (insecure && !call.server.ca_file.empty())
      return "--insecure and --cacert exclude each other";
    call.server.verify = !insecure;
    call.timeout = std::chrono::seconds(timeout);
    if (!token_given) {
      const char* env = std::getenv(kTokenEnv);
      token = env ? env : "";
    }
    // Surrounding blanks are what `$(cat file)` and copy-paste leave; anything else that is not
    // visible ASCII cannot be in a JWT and would corrupt the HTTP header (CR LF).
    token.erase(0, token.find_first_not_of(" \t\r\n"));
    token.erase(token.find_last_not_of(" \t\r\n") + 1);
    if (std::any_of(token.begin(), token.end(), [](char c) { return c <= ' ' || c > '~'; })) {
      return "the token has characters no JWT contains; it was not sent";
    }
    call.token = token;
    return std::nullopt;
  }
};

struct TokenFlags {
  pgb::bctl::TokenRequest request;

  void add_to(CLI::App& app) {
    auto* s = app.add_option("--jwt-secret", request.secret,
                             "HS256 secret (at least 32 bytes); prefer --jwt-secret-file, since "
                             "command lines are visible to other users");
    auto* f = app.add_option("--jwt-secret-file", request.secret_file,
                             "File holding the secret (a final newline is ignored)");
    s->excludes(f);
    f->excludes(s);
    app.add_option("--role", request.role, "viewer (may GET) or admin (may also POST)")
        ->check(CLI::IsMember({"viewer", "admin"}))
        ->capture_default_str();
    app.add_option("--ttl", request.ttl, "Lifetime: seconds, or a number ending in s, m, h or d")
        ->capture_default_str();
    app.add_option("--subject", request.subject,
                   "The token's sub claim (who it is for; shows in logs)");
  }
};

// Node IDs are small non-negative integers; checked here so that "abc", "1.5" or "-1" is a usage
// error rather than a 404 from the server.
const CLI::Validator kNodeId(
    [](std::string& id) {
      bool digits = !id.empty() && id.size() <= 9 &&
                    std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; });
      return digits ? std::string() : "a node ID is a number (bctl nodes lists them), not " + id;
    },
    "NODE_ID");

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{
      "bctl: pgbalancer's command line client. Commands other than token call the "
      "REST API (docs/rest-api.md, docs/bctl.md)."};
  cli.require_subcommand(0, 1);
  ConnectionFlags connection;
  connection.add_to(cli);
  std::vector<std::pair<CLI::App*, const ApiCommand*>> plain, actions;
  CLI::App* nodes = nullptr;
  std::string node_id;

  auto add_api_command = [&](CLI::App& parent, const ApiCommand& command) {
    auto* app = parent.add_subcommand(std::string(command.name), std::string(command.help));
    connection.add_to(*app);
    return app;
  };
  // nodes has its own shape: an optional ID (one node) and actions on one node, so its path is
  // put together after parsing rather than fixed.
  auto add_nodes = [&] {
    nodes = add_api_command(cli, pgb::bctl::nodes_command());
    nodes->require_subcommand(0, 1);
    nodes->add_option("ID", node_id, "Show only this node")->check(kNodeId);
    for (const auto& action : pgb::bctl::node_actions()) {
      auto* app = add_api_command(*nodes, action);
      app->add_option("ID", node_id, "The node (bctl nodes lists them)")
          ->required()
          ->check(kNodeId);
      actions.emplace_back(app, &action);
    }
  };
  for (const auto& command : pgb::bctl::plain_commands()) {
    if (command.name == "health") add_nodes();  // after status, as docs/bctl.md lists them
    plain.emplace_back(add_api_command(cli, command), &command);
  }

  TokenFlags token_flags;
  auto* token = cli.add_subcommand("token", "Print a signed JWT for pgbalancer's REST API");
  token_flags.add_to(*token);
  bool generate_token = false;
  cli.add_flag("--generate-token", generate_token, "Same as the token command");
  token_flags.add_to(cli);

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e) == 0 ? 0 : 2;  // --help is not an error
  }
  if (token->parsed() || generate_token) {
    const auto& r = token_flags.request;
    if (r.secret.empty() && r.secret_file.empty()) {
      std::cerr << "bctl: token needs --jwt-secret or --jwt-secret-file\n";
      return 2;
    }
    return pgb::bctl::make_token(r);
  }
  const ApiCommand* command = nullptr;
  std::string path;
  for (const auto& [app, c] : plain) {
    if (app->parsed()) {
      command = c;
      path = c->path;
    }
  }
  if (nodes->parsed()) {  // nodes, nodes ID, nodes ACTION ID
    command = node_id.empty() ? &pgb::bctl::nodes_command() : &pgb::bctl::node_command();
    path = node_id.empty() ? "nodes" : "nodes/" + node_id;
    for (const auto& [app, action] : actions) {
      if (app->parsed()) {
        command = action;
        path += "/" + std::string(action->path);
      }
    }
  }
  if (!command) {
    std::cerr << cli.help();
    return 2;
  }
  if (auto problem = connection.finish()) {
    std::cerr << "bctl: " << *problem << "\n";
    return 2;
  }
  return pgb::bctl::call(*command, path, connection.call);
}
