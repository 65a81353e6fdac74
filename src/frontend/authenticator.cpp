// auth_type trust / password / md5 / scram-sha-256 against the auth_file, following
// PostgreSQL's src/backend/libpq/auth.c (including its mock SCRAM for unknown users).
#include "frontend/authenticator.hpp"

#include "frontend/auth_lookup.hpp"

#include "auth/crypto.hpp"
#include "auth/md5.hpp"
#include "auth/scram.hpp"
#include "backend/message_reader.hpp"
#include "common/log.hpp"
#include "common/sqlstate.hpp"
#include "protocol/messages.hpp"

namespace pgb::frontend {
namespace {

using auth::SecretKind;
using protocol::AuthRequest;

Error password_failed(const std::string& user) {
  return make_error(sqlstate::kInvalidPassword,
                    fmt::format("password authentication failed for user \"{}\"", user));
}

class Exchange {
 public:
  Exchange(net::Stream& client, ByteBuffer& buffer) : client_(client), buffer_(buffer) {}

  awaitable<bool> send(const std::string& message) {
    auto ec = co_await client_.write_all(asio::buffer(message));
    co_return !ec;
  }

  // Sends an authentication request and returns the PasswordMessage that answers it.
  awaitable<Result<std::string>> ask_password(const std::string& request) {
    if (!co_await send(request)) {
      co_return make_error(sqlstate::kConnectionFailure, "client went away during authentication");
    }
    auto payload = co_await receive();
    if (!payload) co_return payload.error();
    auto password = protocol::parse_password_message(*payload);
    if (!password) {
      co_return make_error(sqlstate::kProtocolViolation, "invalid password packet size");
    }
    co_return std::string(*password);
  }

  // The client's next PasswordMessage-type ('p') payload.
  awaitable<Result<std::string>> receive() {
    auto msg = co_await backend::read_message(client_, buffer_, protocol::kMaxAuthMessageLength);
    if (!msg) co_return msg.error();
    if (msg->type != 'p') {
      co_return make_error(sqlstate::kProtocolViolation,
                           fmt::format("expected password response, got message type {}",
                                       static_cast<int>(msg->type)));
    }
    co_return std::move(msg->payload);
  }

 private:
  net::Stream& client_;
  ByteBuffer& buffer_;
};

auth::ScramSecret mock_scram_secret(const SharedState& shared, const std::string& user) {
  auto salt = auth::hmac_sha256(shared.mock_secret_key(), user);
  auth::ScramSecret s;
  s.salt = std::string(auth::as_view(salt).substr(0, 16));
  s.stored_key = auth::hmac_sha256(shared.mock_secret_key(), "stored" + user);
  s.server_key = auth::hmac_sha256(shared.mock_secret_key(), "server" + user);
  return s;
}

// Runs SASL SCRAM-SHA-256 against `secret`; returns the proven keys or why it failed.
awaitable<Result<auth::ScramKeys>> scram_exchange(Exchange& x, auth::ScramSecret secret,
                                                  std::string& reason) {
  std::string mechanisms = std::string(auth::kScramMechanism) + '\0' + '\0';
  auto sasl = protocol::authentication(AuthRequest::Sasl, mechanisms);
  if (!co_await x.send(sasl)) {
    co_return make_error(sqlstate::kConnectionFailure, "client went away during authentication");
  }
  auto first = co_await x.receive();
  if (!first) co_return first.error();
  auto initial = protocol::parse_sasl_initial_response(*first);
  if (!initial)
    co_return make_error(sqlstate::kProtocolViolation, "malformed SASLInitialResponse message");
  if (initial->mechanism != auth::kScramMechanism) {
    co_return make_error(sqlstate::kProtocolViolation,
                         "client selected an invalid SASL authentication mechanism");
  }
  auth::ScramServerExchange server(std::move(secret));
  auto server_first = server.handle_client_first(initial->data);
  if (!server_first) co_return server_first.error();
  auto sasl_continue = protocol::authentication(AuthRequest::SaslContinue, *server_first);
  if (!co_await x.send(sasl_continue)) {
    co_return make_error(sqlstate::kConnectionFailure, "client went away during authentication");
  }
  auto final_message = co_await x.receive();
  if (!final_message) co_return final_message.error();
  auto server_final = server.handle_client_final(*final_message);
  if (!server_final) {
    reason = "wrong password (SCRAM proof did not verify)";
    co_return server_final.error();
  }
  auto sasl_final = protocol::authentication(AuthRequest::SaslFinal, *server_final);
  if (!co_await x.send(sasl_final)) {
    co_return make_error(sqlstate::kConnectionFailure, "client went away during authentication");
  }
  co_return *server.proven_keys();
}

awaitable<Result<backend::Credentials>> authenticate_scram(Exchange& x, const SharedState& shared,
                                                           const auth::UserSecret* secret,
                                                           const std::string& user,
                                                           backend::Credentials creds,
                                                           std::string& reason) {
  std::optional<auth::ScramSecret> real;
  if (!secret) {
    reason = "no such user in auth_file";
  } else if (secret->kind == SecretKind::Scram) {
    real = auth::parse_scram_secret(secret->value);
  } else if (secret->kind == SecretKind::Plaintext) {
    real = auth::scram_secret_from_password(secret->value, auth::random_bytes(16), 4096);
  } else {
    reason = "the auth_file holds an md5 hash for this user, which cannot verify SCRAM";
  }
  // (Chosen before co_await: GCC 12 mishandles a temporary from ?: inside a co_await expression.)
  auth::ScramSecret verifier = real ? *real : mock_scram_secret(shared, user);
  auto keys = co_await scram_exchange(x, std::move(verifier), reason);
  if (!keys) {
    if (keys.error().sqlstate == sqlstate::kInvalidPassword) co_return password_failed(user);
    co_return keys.error();
  }
  if (!real)
    co_return password_failed(user);  // unreachable in practice: the mock proof never verifies
  creds.scram_keys = *keys;
  co_return creds;
}

awaitable<Result<backend::Credentials>> authenticate_md5(Exchange& x,
                                                         const auth::UserSecret* secret,
                                                         const std::string& user,
                                                         backend::Credentials creds,
                                                         std::string& reason) {
  std::string salt = auth::random_bytes(4);
  auto request = protocol::authentication(AuthRequest::Md5Password, salt);
  auto response = co_await x.ask_password(request);
  if (!response) co_return response.error();
  if (!secret) {
    reason = "no such user in auth_file";
    co_return password_failed(user);
  }
  std::string stored = secret->kind == SecretKind::Md5
                           ? secret->value
                           : auth::md5_password_hash(secret->value, user);
  if (!auth::constant_time_equal(*response, auth::md5_salted_response(stored, salt))) {
    reason = "wrong password (MD5 response did not match)";
    co_return password_failed(user);
  }
  co_return creds;
}

awaitable<Result<backend::Credentials>> authenticate_cleartext(Exchange& x,
                                                               const auth::UserSecret* secret,
                                                               const std::string& user,
                                                               backend::Credentials creds,
                                                               std::string& reason) {
  auto request = protocol::authentication(AuthRequest::CleartextPassword);
  auto password = co_await x.ask_password(request);
  if (!password) co_return password.error();
  if (!secret) {
    reason = "no such user in auth_file";
    co_return password_failed(user);
  }
  bool match = false;
  switch (secret->kind) {
    case SecretKind::Plaintext: match = auth::constant_time_equal(*password, secret->value); break;
    case SecretKind::Md5:
      match = auth::constant_time_equal(auth::md5_password_hash(*password, user), secret->value);
      break;
    case SecretKind::Scram: {
      auto stored = auth::parse_scram_secret(secret->value);
      auto derived = auth::scram_secret_from_password(*password, stored->salt, stored->iterations);
      match = auth::constant_time_equal(auth::as_view(derived.stored_key),
                                        auth::as_view(stored->stored_key));
      break;
    }
  }
  if (!match) {
    reason = "wrong password";
    co_return password_failed(user);
  }
  creds.password = std::string(*password);
  co_return creds;
}

}  // namespace

awaitable<Result<backend::Credentials>> authenticate_client(
    net::Stream& client, ByteBuffer& buffer, const Settings& settings, SharedState& shared,
    const std::string& user, const std::string& database, const std::string& peer) {
  auto found = co_await find_user_secret(shared, settings, user, database);
  if (!found) co_return found.error();
  const auth::UserSecret* secret = found->has_value() ? &**found : nullptr;
  backend::Credentials creds = stored_credentials(settings, secret, user, database);
  Exchange x(client, buffer);
  std::string reason;
  Result<backend::Credentials> outcome = creds;
  switch (settings.config.auth_type) {
    case config::AuthType::Trust: break;
    case config::AuthType::Password:
      outcome = co_await authenticate_cleartext(x, secret, user, creds, reason);
      break;
    case config::AuthType::Md5:
      // As in PostgreSQL, md5 upgrades to SCRAM when the stored secret is a SCRAM verifier.
      if (secret && secret->kind == SecretKind::Scram) {
        outcome = co_await authenticate_scram(x, shared, secret, user, creds, reason);
      } else {
        outcome = co_await authenticate_md5(x, secret, user, creds, reason);
      }
      break;
    case config::AuthType::ScramSha256:
      outcome = co_await authenticate_scram(x, shared, secret, user, creds, reason);
      break;
  }
  if (!outcome && outcome.error().sqlstate == sqlstate::kInvalidPassword) {
    log::warn("password authentication failed for user \"{}\" from {}: {}", user, peer, reason);
  } else if (!outcome) {
    log::info("authentication of user \"{}\" from {} ended: {}", user, peer,
              outcome.error().message);
  }
  co_return outcome;
}

}  // namespace pgb::frontend
