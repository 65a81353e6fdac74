// SCRAM-SHA-256 (RFC 5802, RFC 7677) in both roles: verifying a client, and logging in to
// PostgreSQL. Channel binding is not offered (no SCRAM-SHA-256-PLUS), as pgbouncer does.
#pragma once

#include "auth/crypto.hpp"
#include "common/result.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace pgb::auth {

inline constexpr std::string_view kScramMechanism = "SCRAM-SHA-256";

// A verifier as PostgreSQL stores it: SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>.
struct ScramSecret {
  int iterations = 4096;
  std::string salt;  // raw bytes
  Digest stored_key{};
  Digest server_key{};
};
std::optional<ScramSecret> parse_scram_secret(std::string_view text);
std::string format_scram_secret(const ScramSecret& secret);
ScramSecret scram_secret_from_password(std::string_view password, std::string_view salt,
                                       int iterations);

// What a successful client exchange proves: enough to log in to PostgreSQL as that client
// (SCRAM pass-through) without ever knowing the password.
struct ScramKeys {
  Digest client_key{};
  Digest server_key{};
};

// pgbalancer as the SCRAM server. For an unknown user, pass a made-up secret: the exchange
// then fails at the proof like a wrong password, revealing nothing about which users exist.
class ScramServerExchange {
 public:
  explicit ScramServerExchange(ScramSecret secret, std::string server_nonce = {});

  Result<std::string> handle_client_first(std::string_view message);  // -> server-first-message
  Result<std::string> handle_client_final(std::string_view message);  // -> server-final-message
  const std::optional<ScramKeys>& proven_keys() const { return keys_; }

 private:
  ScramSecret secret_;
  std::string server_nonce_;
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string server_first_;
  std::string nonce_;  // client nonce + server nonce
  std::optional<ScramKeys> keys_;
};

// pgbalancer as the SCRAM client towards PostgreSQL, from a password or from proven keys.
class ScramClientExchange {
 public:
  static ScramClientExchange with_password(std::string password, std::string client_nonce = {});
  static ScramClientExchange with_keys(ScramKeys keys, std::string client_nonce = {});

  std::string client_first();
  Result<std::string> handle_server_first(std::string_view message);  // -> client-final-message
  Status verify_server_final(std::string_view message);

 private:
  ScramClientExchange() = default;
  std::optional<std::string> password_;
  ScramKeys keys_{};
  std::string client_nonce_;
  std::string client_first_bare_;
  std::string expected_server_signature_;
};

}  // namespace pgb::auth
