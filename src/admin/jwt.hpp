// JSON Web Tokens for the REST API (RFC 7519), verified strictly: the algorithm is pinned to
// HS256 whatever the token's header says (no "none", no RS/HS confusion), the signature is
// compared in constant time before the payload is trusted, `exp` is required, and `exp`, `nbf`
// and `iat` are checked with a small leeway. The `role` claim says what the bearer may do.
#pragma once

#include "config/config.hpp"  // kMinJwtSecretBytes

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace pgb::admin {

enum class Role { Viewer, Admin };  // viewer: GET; admin: GET and POST
std::string_view to_string(Role role);

struct JwtPolicy {
  std::string secret;               // the HS256 key
  std::chrono::seconds leeway{30};  // clock skew allowed for exp, nbf and iat
  std::string issuer;               // when set, `iss` must equal it
  std::string audience;             // when set, `aud` must be or contain it
};

// Why a token was refused. These words go to the log; the token itself never does.
enum class JwtRefusal {
  Malformed,       // not three base64url parts of JSON objects, or a claim of the wrong type
  WrongAlgorithm,  // `alg` is not HS256, or the header has `crit`
  BadSignature,
  NoExpiry,
  Expired,
  NotYetValid,     // nbf
  IssuedInFuture,  // iat
  WrongIssuer,
  WrongAudience,
  NoRole,
  UnknownRole,
};
std::string_view to_string(JwtRefusal refusal);

struct JwtClaims {
  Role role = Role::Viewer;
  std::string subject;          // `sub`, for the log; may be empty
  std::int64_t expires_at = 0;  // `exp`, seconds since the epoch
};

// `now` in seconds since the epoch.
std::variant<JwtClaims, JwtRefusal> verify_jwt(std::string_view token, const JwtPolicy& policy,
                                               std::int64_t now);

// A token for `claims` (with `iat` = now), signed with `secret` (bctl token).
std::string sign_jwt(const JwtClaims& claims, std::string_view secret, std::int64_t now);

// What is wrong with `secret` as an HS256 key, for configuration checks; nullopt if nothing.
std::optional<std::string> jwt_secret_problem(std::string_view secret);

}  // namespace pgb::admin
