#include "admin/jwt.hpp"

#include "auth/crypto.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <fmt/format.h>
#include <algorithm>
#include <cmath>

namespace pgb::admin {
namespace {

namespace json = boost::json;

constexpr std::string_view kHeader = R"({"alg":"HS256","typ":"JWT"})";
constexpr std::int64_t kMaxLeeway = 300;  // seconds; keeps the time arithmetic far from overflow

std::string base64url_encode(std::string_view bytes) {
  std::string text = auth::base64_encode(bytes);
  while (!text.empty() && text.back() == '=') text.pop_back();
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return text;
}

// Unpadded base64url only (RFC 7515 section 2): a token in any other spelling is refused.
std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string standard(text);
  for (char& c : standard) {
    if (c == '-') {
      c = '+';
    } else if (c == '_') {
      c = '/';
    } else if (c == '+' || c == '/' || c == '=') {
      return std::nullopt;
    }
  }
  standard.append((4 - standard.size() % 4) % 4, '=');
  return auth::base64_decode(standard);
}

std::optional<json::object> parse_object(std::string_view part) {
  auto text = base64url_decode(part);
  if (!text) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(*text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

// A NumericDate (RFC 7519 section 2): seconds, possibly fractional. nullopt if absent;
// a refusal if present with another type.
std::variant<std::monostate, std::int64_t, JwtRefusal> numeric_date(const json::object& claims,
                                                                    std::string_view name) {
  const json::value* v = claims.if_contains(name);
  if (!v) return std::monostate{};
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(v->as_uint64());
  }
  if (v->is_double() && std::isfinite(v->as_double()) && std::abs(v->as_double()) < 1e18) {
    return static_cast<std::int64_t>(std::floor(v->as_double()));
  }
  return JwtRefusal::Malformed;
}

bool audience_matches(const json::value& aud, std::string_view wanted) {
  if (const auto* s = aud.if_string()) return *s == wanted;
  if (const auto* list = aud.if_array()) {
    for (const auto& item : *list) {
      if (const auto* s = item.if_string(); s && *s == wanted) return true;
    }
  }
  return false;
}

}  // namespace

std::string_view to_string(Role role) {
  return role == Role::Admin ? "admin" : "viewer";
}

std::string_view to_string(JwtRefusal refusal) {
  switch (refusal) {
    case JwtRefusal::Malformed: return "malformed token";
    case JwtRefusal::WrongAlgorithm: return "algorithm not accepted (only HS256)";
    case JwtRefusal::BadSignature: return "bad signature";
    case JwtRefusal::NoExpiry: return "token has no exp claim";
    case JwtRefusal::Expired: return "token expired";
    case JwtRefusal::NotYetValid: return "token not yet valid (nbf)";
    case JwtRefusal::IssuedInFuture: return "token issued in the future (iat)";
    case JwtRefusal::WrongIssuer: return "wrong issuer";
    case JwtRefusal::WrongAudience: return "wrong audience";
    case JwtRefusal::NoRole: return "token has no role claim";
    case JwtRefusal::UnknownRole: return "unknown role (viewer or admin)";
  }
  return "refused";
}

std::variant<JwtClaims, JwtRefusal> verify_jwt(std::string_view token, const JwtPolicy& policy,
                                               std::int64_t now) {
  // No token is trusted under a guessable key (configuration refuses one; this is the backstop).
  if (jwt_secret_problem(policy.secret)) return JwtRefusal::BadSignature;
  auto first_dot = token.find('.');
  auto second_dot =
      first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos || token.find('.', second_dot + 1) != token.npos) {
    return JwtRefusal::Malformed;
  }
  std::string_view signed_part = token.substr(0, second_dot);
  auto header = parse_object(token.substr(0, first_dot));
  if (!header) return JwtRefusal::Malformed;
  // Pinned: the header names the algorithm but does not get to choose it.
  const json::value* alg = header->if_contains("alg");
  if (!alg || !alg->is_string() || alg->as_string() != "HS256" || header->contains("crit")) {
    return JwtRefusal::WrongAlgorithm;
  }
  // Compared as text: base64url has spellings that decode alike (the unused low bits of the
  // last character), and only the canonical one is accepted.
  auto expected = base64url_encode(auth::as_view(auth::hmac_sha256(policy.secret, signed_part)));
  if (!auth::constant_time_equal(token.substr(second_dot + 1), expected)) {
    return JwtRefusal::BadSignature;
  }

  auto claims = parse_object(token.substr(first_dot + 1, second_dot - first_dot - 1));
  if (!claims) return JwtRefusal::Malformed;
  const std::int64_t leeway = std::clamp<std::int64_t>(policy.leeway.count(), 0, kMaxLeeway);
  auto exp = numeric_date(*claims, "exp");
  auto nbf = numeric_date(*claims, "nbf");
  auto iat = numeric_date(*claims, "iat");
  for (const auto* date : {&exp, &nbf, &iat}) {
    if (std::holds_alternative<JwtRefusal>(*date)) return JwtRefusal::Malformed;
  }
  if (!std::holds_alternative<std::int64_t>(exp)) return JwtRefusal::NoExpiry;
  JwtClaims result;
  result.expires_at = std::get<std::int64_t>(exp);
  if (now - leeway > result.expires_at) return JwtRefusal::Expired;  // no overflow near INT64_MAX
  if (const auto* t = std::get_if<std::int64_t>(&nbf); t && now + leeway < *t) {
    return JwtRefusal::NotYetValid;
  }
  if (const auto* t = std::get_if<std::int64_t>(&iat); t && *t > now + leeway) {
    return JwtRefusal::IssuedInFuture;
  }
  if (!policy.issuer.empty()) {
    const json::value* iss = claims->if_contains("iss");
    if (!iss || !iss->is_string() || iss->as_string() != policy.issuer) {
      return JwtRefusal::WrongIssuer;
    }
  }
  if (!policy.audience.empty()) {
    const json::value* aud = claims->if_contains("aud");
    if (!aud || !audience_matches(*aud, policy.audience)) return JwtRefusal::WrongAudience;
  }
  const json::value* role = claims->if_contains("role");
  if (!role) return JwtRefusal::NoRole;
  if (!role->is_string()) return JwtRefusal::UnknownRole;
  if (role->as_string() == "admin") {
    result.role = Role::Admin;
  } else if (role->as_string() == "viewer") {
    result.role = Role::Viewer;
  } else {
    return JwtRefusal::UnknownRole;
  }
  if (const json::value* sub = claims->if_contains("sub"); sub && sub->is_string()) {
    result.subject = std::string(sub->as_string());
  }
  return result;
}

std::string sign_jwt(const JwtClaims& claims, std::string_view secret, std::int64_t now) {
  json::object payload;
  payload["role"] = to_string(claims.role);
  if (!claims.subject.empty()) payload["sub"] = claims.subject;
  payload["iat"] = now;
  payload["exp"] = claims.expires_at;
  std::string token = base64url_encode(kHeader) + "." + base64url_encode(json::serialize(payload));
  auto signature = auth::hmac_sha256(secret, token);
  return token + "." + base64url_encode(auth::as_view(signature));
}

std::optional<std::string> jwt_secret_problem(std::string_view secret) {
  using config::kMinJwtSecretBytes;
  if (secret.size() >= kMinJwtSecretBytes) return std::nullopt;
  return fmt::format("the JWT secret is {} bytes long; HS256 needs at least {}", secret.size(),
                     kMinJwtSecretBytes);
}

}  // namespace pgb::admin
