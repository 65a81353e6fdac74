// SCRAM-SHA-256 message parsing and proof arithmetic.
#include "auth/scram.hpp"

#include "common/sqlstate.hpp"

#include <charconv>
#include <vector>

namespace pgb::auth {
namespace {

// PostgreSQL uses 18 raw bytes for its nonces (SCRAM_RAW_NONCE_LEN in scram-common.h).
constexpr std::size_t kRawNonceLength = 18;

Error malformed(std::string_view what) {
  return Error{std::string(sqlstate::kProtocolViolation), "malformed SCRAM message",
               std::string(what)};
}

Error auth_failed() {
  return Error{std::string(sqlstate::kInvalidPassword), "SCRAM authentication failed", {}};
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    auto pos = s.find(sep, start);
    parts.push_back(
        s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

// Value of a "k=value" attribute, or nullopt if `part` is not attribute `k`.
std::optional<std::string_view> attr(std::string_view part, char k) {
  if (part.size() < 2 || part[0] != k || part[1] != '=') return std::nullopt;
  return part.substr(2);
}

Digest xor_digest(const Digest& a, const Digest& b) {
  Digest out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = a[i] ^ b[i];
  return out;
}

std::string make_nonce(std::string given) {
  return given.empty() ? base64_encode(random_bytes(kRawNonceLength)) : std::move(given);
}

bool printable_nonce(std::string_view nonce) {
  if (nonce.empty()) return false;
  for (char c : nonce) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

}  // namespace

std::optional<ScramSecret> parse_scram_secret(std::string_view text) {
  // SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
  auto parts = split(text, '$');
  if (parts.size() != 3 || parts[0] != kScramMechanism) return std::nullopt;
  auto iter_salt = split(parts[1], ':');
  auto keys = split(parts[2], ':');
  if (iter_salt.size() != 2 || keys.size() != 2) return std::nullopt;
  ScramSecret secret;
  auto [ptr, ec] = std::from_chars(iter_salt[0].data(), iter_salt[0].data() + iter_salt[0].size(),
                                   secret.iterations);
  if (ec != std::errc() || ptr != iter_salt[0].data() + iter_salt[0].size() ||
      secret.iterations <= 0) {
    return std::nullopt;
  }
  auto salt = base64_decode(iter_salt[1]);
  auto stored = base64_decode(keys[0]);
  auto server = base64_decode(keys[1]);
  if (!salt || salt->empty() || !stored || !server || stored->size() != 32 ||
      server->size() != 32) {
    return std::nullopt;
  }
  secret.salt = std::move(*salt);
  std::copy(stored->begin(), stored->end(), secret.stored_key.begin());
  std::copy(server->begin(), server->end(), secret.server_key.begin());
  return secret;
}

std::string format_scram_secret(const ScramSecret& s) {
  return std::string(kScramMechanism) + "$" + std::to_string(s.iterations) + ":" +
         base64_encode(s.salt) + "$" + base64_encode(as_view(s.stored_key)) + ":" +
         base64_encode(as_view(s.server_key));
}

ScramSecret scram_secret_from_password(std::string_view password, std::string_view salt,
                                       int iterations) {
  Digest salted = pbkdf2_sha256(password, salt, iterations);
  Digest client_key = hmac_sha256(as_view(salted), "Client Key");
  ScramSecret s;
  s.iterations = iterations;
  s.salt = std::string(salt);
  s.stored_key = sha256(as_view(client_key));
  s.server_key = hmac_sha256(as_view(salted), "Server Key");
  return s;
}

// ---------------------------------------------------------------- server role

ScramServerExchange::ScramServerExchange(ScramSecret secret, std::string server_nonce)
    : secret_(std::move(secret)), server_nonce_(make_nonce(std::move(server_nonce))) {}

Result<std::string> ScramServerExchange::handle_client_first(std::string_view message) {
  // gs2-header: "n,," or "y,," (client could bind but thinks we can't); "p=" needs -PLUS.
  if (message.starts_with("p=")) {
    return Error{std::string(sqlstate::kProtocolViolation),
                 "channel binding is not supported by pgbalancer",
                 {}};
  }
  if (!message.starts_with("n,") && !message.starts_with("y,"))
    return malformed("unexpected GS2 header");
  auto second_comma = message.find(',', 2);
  if (second_comma == std::string_view::npos) return malformed("unexpected GS2 header");
  if (second_comma != 2 && !message.substr(2).starts_with("a="))
    return malformed("unexpected authzid");
  gs2_header_ = std::string(message.substr(0, second_comma + 1));
  client_first_bare_ = std::string(message.substr(second_comma + 1));

  auto parts = split(client_first_bare_, ',');
  if (!parts.empty() && attr(parts[0], 'm'))
    return malformed("mandatory extensions are not supported");
  if (parts.size() < 2 || !attr(parts[0], 'n')) return malformed("expected user name attribute");
  auto client_nonce = attr(parts[1], 'r');
  if (!client_nonce || !printable_nonce(*client_nonce))
    return malformed("expected nonce attribute");

  nonce_ = std::string(*client_nonce) + server_nonce_;
  server_first_ = "r=" + nonce_ + ",s=" + base64_encode(secret_.salt) +
                  ",i=" + std::to_string(secret_.iterations);
  return server_first_;
}

Result<std::string> ScramServerExchange::handle_client_final(std::string_view message) {
  auto proof_pos = message.rfind(",p=");
  if (proof_pos == std::string_view::npos) return malformed("expected proof attribute");
  std::string_view without_proof = message.substr(0, proof_pos);
  auto parts = split(without_proof, ',');
  if (parts.size() < 2) return malformed("expected channel binding and nonce");
  auto binding = attr(parts[0], 'c');
  auto nonce = attr(parts[1], 'r');
  if (!binding || !nonce) return malformed("expected channel binding and nonce");
  auto binding_raw = base64_decode(*binding);
  if (!binding_raw || *binding_raw != gs2_header_) return malformed("unexpected channel binding");
  if (*nonce != nonce_) return malformed("nonce does not match");
  auto proof = base64_decode(message.substr(proof_pos + 3));
  if (!proof || proof->size() != 32) return malformed("malformed proof");

  std::string auth_message =
      client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
  Digest client_signature = hmac_sha256(as_view(secret_.stored_key), auth_message);
  Digest proof_digest{};
  std::copy(proof->begin(), proof->end(), proof_digest.begin());
  Digest client_key = xor_digest(proof_digest, client_signature);
  if (!constant_time_equal(as_view(sha256(as_view(client_key))), as_view(secret_.stored_key))) {
    return auth_failed();
  }
  keys_ = ScramKeys{client_key, secret_.server_key};
  return "v=" + base64_encode(as_view(hmac_sha256(as_view(secret_.server_key), auth_message)));
}

// ---------------------------------------------------------------- client role

ScramClientExchange ScramClientExchange::with_password(std::string password,
                                                       std::string client_nonce) {
  ScramClientExchange x;
  x.password_ = std::move(password);
  x.client_nonce_ = make_nonce(std::move(client_nonce));
  return x;
}

ScramClientExchange ScramClientExchange::with_keys(ScramKeys keys, std::string client_nonce) {
  ScramClientExchange x;
  x.keys_ = keys;
  x.client_nonce_ = make_nonce(std::move(client_nonce));
  return x;
}

std::string ScramClientExchange::client_first() {
  // PostgreSQL takes the user name from the startup packet and ignores n=.
  client_first_bare_ = "n=,r=" + client_nonce_;
  return "n,," + client_first_bare_;
}

Result<std::string> ScramClientExchange::handle_server_first(std::string_view message) {
  auto parts = split(message, ',');
  if (parts.size() < 3) return malformed("server-first-message");
  auto nonce = attr(parts[0], 'r');
  auto salt_b64 = attr(parts[1], 's');
  auto iter_text = attr(parts[2], 'i');
  if (!nonce || !salt_b64 || !iter_text) return malformed("server-first-message");
  if (!nonce->starts_with(client_nonce_) || nonce->size() == client_nonce_.size()) {
    return malformed("server nonce does not extend the client nonce");
  }
  auto salt = base64_decode(*salt_b64);
  int iterations = 0;
  auto [ptr, ec] =
      std::from_chars(iter_text->data(), iter_text->data() + iter_text->size(), iterations);
  if (!salt || ec != std::errc() || iterations <= 0) return malformed("server-first-message");

  if (password_) {
    Digest salted = pbkdf2_sha256(*password_, *salt, iterations);
    keys_.client_key = hmac_sha256(as_view(salted), "Client Key");
    keys_.server_key = hmac_sha256(as_view(salted), "Server Key");
  }
  std::string without_proof = "c=biws,r=" + std::string(*nonce);
  std::string auth_message = client_first_bare_ + "," + std::string(message) + "," + without_proof;
  Digest stored_key = sha256(as_view(keys_.client_key));
  Digest proof = xor_digest(keys_.client_key, hmac_sha256(as_view(stored_key), auth_message));
  expected_server_signature_ =
      base64_encode(as_view(hmac_sha256(as_view(keys_.server_key), auth_message)));
  return without_proof + ",p=" + base64_encode(as_view(proof));
}

Status ScramClientExchange::verify_server_final(std::string_view message) {
  auto signature = attr(message, 'v');
  if (!signature) return malformed("server-final-message");
  if (!constant_time_equal(*signature, expected_server_signature_)) {
    return Error{std::string(sqlstate::kInvalidAuthorization),
                 "the server's SCRAM signature does not match: it does not know the password",
                 {}};
  }
  return Ok{};
}

}  // namespace pgb::auth
