// From a config path to a ready-to-publish Settings snapshot.
#include "app/runtime.hpp"

#include "net/tls.hpp"
#include "protocol/parameters.hpp"

#include <cstdlib>

namespace pgb::app {

std::string default_pgpass_path() {
  if (const char* env = std::getenv("PGPASSFILE"); env && *env) return env;
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.pgpass";
  return {};
}

namespace {

// "FILE:LINE: KEY: message", the format of every configuration problem.
std::string problem_at_key(const config::Config& c, const std::string& key,
                           const std::string& message) {
  auto it = c.key_lines.find(key);
  return config::Problem{c.source_path, it == c.key_lines.end() ? 0 : it->second, key, message}
      .to_string();
}

}  // namespace

BuildResult build_settings(const std::string& config_path) {
  auto loaded = config::load_config(config_path);
  std::vector<std::string> problems;
  if (auto* list = std::get_if<std::vector<config::Problem>>(&loaded)) {
    for (const auto& p : *list) problems.push_back(p.to_string());
    return problems;
  }
  auto settings = std::make_shared<frontend::Settings>();
  settings->config = std::move(std::get<config::Config>(loaded));
  const config::Config& c = settings->config;
  settings->tracked_parameters = protocol::default_tracked_parameters();
  for (const auto& extra : c.track_extra_parameters) settings->tracked_parameters.push_back(extra);

  if (!c.auth_file.empty()) {
    auto users = auth::load_userlist(c.auth_file);
    if (users)
      settings->users = std::move(users.value());
    else
      problems.push_back(problem_at_key(c, "auth_file", users.error().message));
  }
  std::string pgpass = c.pgpass_file.empty() ? default_pgpass_path() : c.pgpass_file;
  if (!pgpass.empty()) settings->pgpass = auth::load_pgpass(pgpass);

  if (c.ssl) {
    auto tls = net::make_server_tls_context(c.ssl_cert, c.ssl_key, c.ssl_ca_cert);
    if (tls)
      settings->client_tls = tls.value();
    else
      problems.push_back(problem_at_key(c, tls.error().detail, tls.error().message));
  }
  if (c.backend_encryption) {
    auto tls = net::make_client_tls_context(c.backend_ssl_ca_cert);
    if (tls)
      settings->backend_tls = tls.value();
    else
      problems.push_back(problem_at_key(c, tls.error().detail, tls.error().message));
  }
  if (!problems.empty()) return problems;
  return std::shared_ptr<const frontend::Settings>(std::move(settings));
}

}  // namespace pgb::app
