// Connecting and logging in to PostgreSQL, including SCRAM pass-through and md5 from a stored hash.
#include "backend/server_connection.hpp"

#include "auth/md5.hpp"
#include "backend/message_reader.hpp"
#include "common/log.hpp"
#include "common/sqlstate.hpp"
#include "net/watchdog.hpp"
#include "protocol/byte_reader.hpp"
#include "protocol/codes.hpp"
#include "protocol/messages.hpp"
#include "protocol/parameters.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>

#include <atomic>

namespace pgb::backend {
namespace {

Error connection_failed(const BackendAddress& a, const std::string& why) {
  return make_error(
      sqlstate::kConnectionFailure,
      fmt::format("pgbalancer could not connect to the server at {}:{}", a.host, a.port), why);
}

Error no_password(std::string_view method) {
  return make_error(
      sqlstate::kInvalidAuthorization,
      fmt::format("pgbalancer cannot log in to the server: it asked for {} authentication and no "
                  "password is available",
                  method),
      "Add the password to auth_file or pgpass_file, or use SCRAM secrets for pass-through.");
}

const std::string* find_param(const protocol::Parameters& params, std::string_view name) {
  for (const auto& [k, v] : params) {
    if (k == name) return &v;
  }
  return nullptr;
}

// Resolves and connects `socket`; whoever owns the deadline cancels `resolver` and closes `socket`.
awaitable<Status> open_socket(tcp::resolver& resolver, tcp::socket& socket,
                              const BackendAddress& address) {
  auto [rec, endpoints] =
      co_await resolver.async_resolve(address.host, std::to_string(address.port), use_nothrow);
  if (rec) co_return connection_failed(address, rec.message());
  auto [cec, ep] = co_await asio::async_connect(socket, endpoints, use_nothrow);
  if (cec) co_return connection_failed(address, cec.message());
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  co_return Ok{};
}

}  // namespace

ServerConnection::ServerConnection(std::unique_ptr<net::Stream> stream, BackendAddress address)
    : stream_(std::move(stream)), address_(std::move(address)), id_([] {
        static std::atomic<std::uint64_t> next{1};
        return next.fetch_add(1, std::memory_order_relaxed);
      }()) {}

awaitable<Result<std::unique_ptr<ServerConnection>>> ServerConnection::connect(
    const ConnectOptions& options) {
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  std::unique_ptr<ServerConnection> conn(
      new ServerConnection(std::make_unique<net::Stream>(tcp::socket(executor)), options.address));
  net::Watchdog watchdog(executor, options.connect_timeout,
                         [&resolver, stream = conn->stream_.get()] {
                           resolver.cancel();
                           stream->close();
                         });
  auto status = co_await open_socket(resolver, conn->stream_->socket(), options.address);
  if (status) status = co_await conn->login(options);
  watchdog.disarm();
  if (watchdog.fired())
    co_return connection_failed(options.address, "timeout expired (server_connect_timeout)");
  if (!status) {
    conn->stream_->close();
    co_return status.error();
  }
  co_return std::move(conn);
}

awaitable<Status> ServerConnection::login(const ConnectOptions& options) {
  if (options.tls) {
    auto request = protocol::ssl_request();
    if (auto ec = co_await stream_->write_all(asio::buffer(request))) {
      co_return connection_failed(address_, ec.message());
    }
    char answer = 0;
    if (auto ec = co_await stream_->read_exact(asio::buffer(&answer, 1))) {
      co_return connection_failed(address_, ec.message());
    }
    if (answer != 'S') {
      co_return connection_failed(address_,
                                  "the server does not support SSL, but backend_encryption is on");
    }
    const std::string* host = &address_.host;
    if (auto ec =
            co_await stream_->tls_connect(options.tls, *host, options.verify_server_certificate)) {
      co_return connection_failed(address_, "TLS handshake failed: " + ec.message());
    }
  }

  auto startup = protocol::startup_message(options.startup_params);
  if (auto ec = co_await stream_->write_all(asio::buffer(startup)))
    co_return connection_failed(address_, ec.message());

  std::optional<auth::ScramClientExchange> scram;
  for (;;) {
    auto msg = co_await read_message(*stream_, buffer_, protocol::kMaxAuthMessageLength);
    if (!msg) co_return msg.error();
    switch (msg->type) {
      case 'R': {
        auto st = co_await authenticate(msg->payload, options, scram);
        if (!st) co_return st;
        break;
      }
      case 'E': {
        auto fields = protocol::parse_error_response(msg->payload);
        if (!fields)
          co_return make_error(sqlstate::kProtocolViolation,
                               "malformed ErrorResponse from the server");
        co_return fields->error;
      }
      case 'S': {
        auto kv = protocol::parse_parameter_status(msg->payload);
        if (kv) login_parameters_.emplace_back(kv->first, kv->second);
        break;
      }
      case 'K': {
        auto key = protocol::parse_backend_key_data(msg->payload);
        if (key) std::tie(process_id_, secret_key_) = *key;
        break;
      }
      case 'Z': parameters_ = login_parameters_; co_return Ok{};
      case 'N':
      case 'v': break;  // notices and protocol negotiation carry nothing we act on
      default:
        co_return make_error(
            sqlstate::kProtocolViolation,
            fmt::format("unexpected message type '{}' from the server during login", msg->type));
    }
  }
}

awaitable<Status> ServerConnection::authenticate(std::string_view payload,
                                                 const ConnectOptions& options,
                                                 std::optional<auth::ScramClientExchange>& scram) {
  auto auth = protocol::parse_authentication(payload);
  if (!auth)
    co_return make_error(sqlstate::kProtocolViolation,
                         "malformed authentication request from the server");
  const Credentials& creds = options.credentials;
  const std::string* user = find_param(options.startup_params, "user");
  std::string reply;
  using protocol::AuthRequest;
  switch (auth->request) {
    case AuthRequest::Ok: co_return Ok{};
    case AuthRequest::CleartextPassword:
      if (!creds.password) co_return no_password("password");
      reply = protocol::password_message(*creds.password);
      break;
    case AuthRequest::Md5Password: {
      if (auth->data.size() != 4)
        co_return make_error(sqlstate::kProtocolViolation, "malformed MD5 salt");
      std::string stored;
      if (creds.password)
        stored = auth::md5_password_hash(*creds.password, user ? *user : "");
      else if (creds.md5_hash)
        stored = *creds.md5_hash;
      else
        co_return no_password("md5");
      reply = protocol::password_message(auth::md5_salted_response(stored, auth->data));
      break;
    }
    case AuthRequest::Sasl: {
      bool offered = false;
      protocol::ByteReader r(auth->data);
      while (auto mech = r.cstr()) {
        if (mech->empty()) break;
        if (*mech == auth::kScramMechanism) offered = true;
      }
      if (!offered)
        co_return make_error(sqlstate::kFeatureNotSupported,
                             "the server offers no SASL mechanism pgbalancer supports");
      if (creds.password)
        scram = auth::ScramClientExchange::with_password(*creds.password);
      else if (creds.scram_keys)
        scram = auth::ScramClientExchange::with_keys(*creds.scram_keys);
      else
        co_return no_password("SCRAM-SHA-256");
      reply = protocol::sasl_initial_response(auth::kScramMechanism, scram->client_first());
      break;
    }
    case AuthRequest::SaslContinue: {
      if (!scram)
        co_return make_error(sqlstate::kProtocolViolation,
                             "unexpected SASL continue from the server");
      auto final_message = scram->handle_server_first(auth->data);
      if (!final_message) co_return final_message.error();
      reply = protocol::sasl_response(*final_message);
      break;
    }
    case AuthRequest::SaslFinal: {
      if (!scram)
        co_return make_error(sqlstate::kProtocolViolation, "unexpected SASL final from the server");
      co_return scram->verify_server_final(auth->data);
    }
    default:
      co_return make_error(
          sqlstate::kFeatureNotSupported,
          fmt::format(
              "the server requested authentication method {}, which pgbalancer does not support",
              static_cast<int>(auth->request)));
  }
  if (auto ec = co_await stream_->write_all(asio::buffer(reply)))
    co_return connection_failed(address_, ec.message());
  co_return Ok{};
}

void ServerConnection::note_parameter(std::string_view name, std::string_view value) {
  protocol::set_parameter(parameters_, name, value);
  in_line_with_.reset();
}

awaitable<Status> ServerConnection::run_simple(const std::string& query,
                                               std::chrono::milliseconds timeout) {
  auto executor = co_await asio::this_coro::executor;
  net::Watchdog watchdog(executor, timeout, [this] { stream_->close(); });
  auto q = protocol::query(query);
  if (auto ec = co_await stream_->write_all(asio::buffer(q)))
    co_return connection_failed(address_, ec.message());
  Status outcome = Ok{};
  for (;;) {
    auto msg = co_await read_message(*stream_, buffer_, protocol::kMaxMessageLength);
    if (!msg) co_return msg.error();
    if (msg->type == 'S') {
      auto kv = protocol::parse_parameter_status(msg->payload);
      if (kv) note_parameter(kv->first, kv->second);
    } else if (msg->type == 'E') {
      auto fields = protocol::parse_error_response(msg->payload);
      outcome = fields ? fields->error
                       : make_error(sqlstate::kProtocolViolation, "malformed ErrorResponse");
    } else if (msg->type == 'Z') {
      if (outcome && (msg->payload.empty() || msg->payload[0] != 'I')) {
        outcome = make_error(sqlstate::kInternalError, "the query left a transaction open");
      }
      co_return outcome;
    }
  }
}

awaitable<Result<std::vector<ServerConnection::Row>>> ServerConnection::run_query(
    const std::string& sql, const std::vector<std::string>& params,
    std::chrono::milliseconds timeout) {
  auto executor = co_await asio::this_coro::executor;
  net::Watchdog watchdog(executor, timeout, [this] { stream_->close(); });
  auto request = protocol::extended_query(sql, params);
  if (auto ec = co_await stream_->write_all(asio::buffer(request)))
    co_return connection_failed(address_, ec.message());
  std::vector<Row> rows;
  std::optional<Error> failure;
  for (;;) {
    auto msg = co_await read_message(*stream_, buffer_, protocol::kMaxMessageLength);
    if (!msg) co_return msg.error();
    switch (msg->type) {
      case 'D': {
        auto columns = protocol::parse_data_row(msg->payload);
        if (!columns)
          co_return make_error(sqlstate::kProtocolViolation, "malformed DataRow from the server");
        Row row;
        for (const auto& c : *columns)
          row.push_back(c ? std::optional<std::string>(*c) : std::nullopt);
        rows.push_back(std::move(row));
        break;
      }
      case 'E': {
        auto fields = protocol::parse_error_response(msg->payload);
        failure = fields ? fields->error
                         : make_error(sqlstate::kProtocolViolation, "malformed ErrorResponse");
        break;
      }
      case 'Z':
        if (failure) co_return *failure;
        co_return rows;
      default: break;  // ParseComplete, BindComplete, CommandComplete, notices
    }
  }
}

namespace {

// What came back for a packet sent alone: the answer's first byte, if any, and why not.
struct FirstByte {
  std::optional<char> byte;
  error_code error;  // eof: the server closed the connection
};

// Sends one startup-phase packet on a connection of its own and reads the first byte of the
// answer; fails only if connecting or sending does.
awaitable<Result<FirstByte>> send_alone(const BackendAddress& address, std::string packet,
                                        std::chrono::milliseconds timeout) {
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  net::Stream stream{tcp::socket(executor)};
  net::Watchdog watchdog(executor, timeout, [&] {
    resolver.cancel();
    stream.close();
  });
  auto status = co_await open_socket(resolver, stream.socket(), address);
  if (!status) co_return status.error();
  if (auto ec = co_await stream.write_all(asio::buffer(packet)))
    co_return connection_failed(address, ec.message());
  char byte = 0;
  auto read = co_await stream.read_some(asio::buffer(&byte, 1));
  stream.close();
  const auto& [ec, n] = read;
  if (n == 1) co_return FirstByte{byte, {}};
  co_return FirstByte{std::nullopt, ec};
}

}  // namespace

awaitable<Status> send_cancel(const BackendAddress& address, std::int32_t process_id,
                              std::int32_t secret_key, std::chrono::milliseconds timeout) {
  // PostgreSQL closes the connection once it has read the request; waiting for that means the
  // cancel was delivered when this reports success.
  auto sent =
      co_await send_alone(address, protocol::cancel_request(process_id, secret_key), timeout);
  if (!sent) co_return sent.error();
  co_return Ok{};
}

awaitable<Status> probe(const BackendAddress& address, std::chrono::milliseconds timeout) {
  auto answer = co_await send_alone(address, protocol::ssl_request(), timeout);
  if (!answer) co_return answer.error();
  const auto& [byte, error] = answer.value();
  if (!byte) {
    co_return connection_failed(address, error == asio::error::eof
                                             ? "closed without answering SSLRequest"
                                             : error.message());
  }
  if (*byte != 'S' && *byte != 'N') {
    co_return connection_failed(address, "not a PostgreSQL server (unexpected SSLRequest answer)");
  }
  co_return Ok{};
}

}  // namespace pgb::backend
