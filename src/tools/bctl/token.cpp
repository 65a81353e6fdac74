// bctl token (see token.hpp).
#include "tools/bctl/token.hpp"

#include "admin/jwt.hpp"
#include "common/secret_file.hpp"

#include <charconv>
#include <chrono>
#include <iostream>
#include <optional>

namespace pgb::bctl {
namespace {

// "90", "90s", "15m", "12h", "7d" as seconds; nullopt if not one of those, not positive or over
// a year (a token that never expires cannot be taken back short of changing the secret).
std::optional<std::int64_t> parse_ttl(std::string_view text) {
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || n <= 0) return std::nullopt;
  std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  std::int64_t scale = unit.empty() || unit == "s" ? 1
                       : unit == "m"               ? 60
                       : unit == "h"               ? 3600
                       : unit == "d"               ? 86400
                                                   : 0;
  if (scale == 0 || n > 366 * 86400 / scale) return std::nullopt;
  return n * scale;
}

}  // namespace

int make_token(const TokenRequest& request) {
  std::string secret = request.secret;
  if (!request.secret_file.empty()) {
    auto read = read_secret_file(request.secret_file);
    if (!read) {
      std::cerr << "bctl: cannot read the JWT secret file " << request.secret_file << "\n";
      return 1;
    }
    secret = std::move(*read);
  }
  if (auto problem = admin::jwt_secret_problem(secret)) {
    std::cerr << "bctl: " << *problem << "\n";
    return 1;
  }
  auto ttl = parse_ttl(request.ttl);
  if (!ttl) {
    std::cerr << "bctl: --ttl must be a positive number of seconds, or end in s, m, h or d, "
                 "and at most 366d\n";
    return 2;
  }
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  admin::JwtClaims claims;
  claims.role = request.role == "admin" ? admin::Role::Admin : admin::Role::Viewer;
  claims.subject = request.subject;
  claims.expires_at = now + *ttl;
  std::cout << admin::sign_jwt(claims, secret, now) << "\n";
  return 0;
}

}  // namespace pgb::bctl
