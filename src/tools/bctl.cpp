// bctl: the pgbalancer command line client. So far it makes the tokens the REST API will
// accept (`bctl token`); the commands that talk to a running pgbalancer come with the API.
#include "admin/jwt.hpp"
#include "common/secret_file.hpp"

#include <CLI/CLI.hpp>

#include <charconv>
#include <chrono>
#include <iostream>
#include <optional>

namespace {

// "90", "90s", "15m", "12h", "7d" as seconds; nullopt if not one of those, not positive or over
// a year (a token that never expires cannot be taken back short of changing the secret).
std::optional<std::int64_t> parse_ttl(std::string_view text) {
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || n <= 0) return std::nullopt;
  std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  std::int64_t scale = unit.empty() || unit == "s" ? 1
                       : unit == "m"              ? 60
                       : unit == "h"              ? 3600
                       : unit == "d"              ? 86400
                                                  : 0;
  if (scale == 0 || n > 366 * 86400 / scale) return std::nullopt;
  return n * scale;
}

int make_token(const std::string& secret_arg, const std::string& secret_file,
               const std::string& role_name, const std::string& ttl_text,
               const std::string& subject) {
  std::string secret = secret_arg;
  if (!secret_file.empty()) {
    auto read = pgb::read_secret_file(secret_file);
    if (!read) {
      std::cerr << "bctl: cannot read the JWT secret file " << secret_file << "\n";
      return 1;
    }
    secret = std::move(*read);
  }
  if (auto problem = pgb::admin::jwt_secret_problem(secret)) {
    std::cerr << "bctl: " << *problem << "\n";
    return 1;
  }
  auto ttl = parse_ttl(ttl_text);
  if (!ttl) {
    std::cerr << "bctl: --ttl must be a positive number of seconds, or end in s, m, h or d, "
                 "and at most 366d\n";
    return 2;
  }
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  pgb::admin::JwtClaims claims;
  claims.role = role_name == "admin" ? pgb::admin::Role::Admin : pgb::admin::Role::Viewer;
  claims.subject = subject;
  claims.expires_at = now + *ttl;
  std::cout << pgb::admin::sign_jwt(claims, secret, now) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"bctl: pgbalancer's command line client"};
  cli.require_subcommand(0, 1);
  std::string secret, secret_file, role = "viewer", ttl = "1h", subject;
  bool generate_token = false;

  auto add_token_options = [&](CLI::App& app) {
    auto* s = app.add_option("--jwt-secret", secret,
                             "HS256 secret (at least 32 bytes); prefer --jwt-secret-file, since "
                             "command lines are visible to other users");
    auto* f = app.add_option("--jwt-secret-file", secret_file,
                             "File holding the secret (a final newline is ignored)");
    s->excludes(f);
    f->excludes(s);
    app.add_option("--role", role, "viewer (may GET) or admin (may also POST)")
        ->check(CLI::IsMember({"viewer", "admin"}))
        ->capture_default_str();
    app.add_option("--ttl", ttl, "Lifetime: seconds, or a number ending in s, m, h or d")
        ->capture_default_str();
    app.add_option("--subject", subject, "The token's sub claim (who it is for; shows in logs)");
  };
  auto* token = cli.add_subcommand("token", "Print a signed JWT for pgbalancer's REST API");
  add_token_options(*token);
  cli.add_flag("--generate-token", generate_token, "Same as the token command");
  add_token_options(cli);

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e) == 0 ? 0 : 2;  // --help is not an error
  }
  if (token->parsed() || generate_token) {
    if (secret.empty() && secret_file.empty()) {
      std::cerr << "bctl: token needs --jwt-secret or --jwt-secret-file\n";
      return 2;
    }
    return make_token(secret, secret_file, role, ttl, subject);
  }
  std::cerr << cli.help();
  return 2;
}
