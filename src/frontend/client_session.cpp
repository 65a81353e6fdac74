// A client session: the path of one connection through startup, auth, pool and relay.
#include "frontend/client_session.hpp"

#include "backend/server_connection.hpp"
#include "common/log.hpp"
#include "common/sqlstate.hpp"
#include "frontend/authenticator.hpp"
#include "frontend/relay.hpp"
#include "frontend/startup.hpp"
#include "net/watchdog.hpp"
#include "protocol/messages.hpp"

#include <boost/asio/this_coro.hpp>

namespace pgb::frontend {
namespace {

// How long a cancel may take to reach PostgreSQL before we give up on it.
constexpr std::chrono::milliseconds kCancelTimeout{5'000};

class ClientCounter {
 public:
  explicit ClientCounter(std::atomic<int>& n) : n_(n), value_(++n) {}
  ~ClientCounter() { --n_; }
  int value() const { return value_; }

 private:
  std::atomic<int>& n_;
  int value_;
};

std::string param_or(const protocol::StartupMessage& m, std::string_view name,
                     const std::string& fallback) {
  const std::string* v = m.find(name);
  return v ? *v : fallback;
}

// The checks PostgreSQL makes on a startup packet before authentication, and max_client_conn.
std::optional<Error> refuse_startup(const protocol::StartupMessage& startup, int clients,
                                    const config::Config& cfg) {
  if (clients > cfg.max_client_conn) {
    return make_error(sqlstate::kTooManyConnections, "sorry, too many clients already",
                      fmt::format("max_client_conn is {}.", cfg.max_client_conn));
  }
  const std::string* user = startup.find("user");
  if (!user || user->empty()) {
    return make_error(sqlstate::kInvalidAuthorization,
                      "no PostgreSQL user name specified in startup packet");
  }
  if (startup.find("replication")) {
    return make_error(sqlstate::kFeatureNotSupported,
                      "pgbalancer does not support replication connections");
  }
  return std::nullopt;
}

awaitable<void> send_fatal(net::Stream& client, const Error& error) {
  if (!client.is_open()) co_return;
  auto msg = protocol::error_response(error, "FATAL");
  co_await client.write_all(asio::buffer(msg));
}

awaitable<void> forward_cancel(SharedState& shared, const protocol::CancelRequest& request,
                               const std::string& peer) {
  auto target = shared.cancels().find({request.process_id, request.secret_key});
  if (!target) {
    log::debug("cancel request from {} matches no session", peer);
    co_return;
  }
  auto status = co_await backend::send_cancel(target->address, target->process_id,
                                              target->secret_key, kCancelTimeout);
  if (!status)
    log::warn("could not forward cancel request to {}:{}: {}", target->address.host,
              target->address.port, status.error().message);
}

}  // namespace

awaitable<void> run_client_session(tcp::socket socket, SharedState& shared) {
  auto settings = shared.settings();
  const config::Config& cfg = settings->config;
  ClientCounter counter(shared.client_count());
  net::Stream client(std::move(socket));
  std::string peer = client.peer_address();
  auto executor = co_await asio::this_coro::executor;
  std::optional<net::Watchdog> login_deadline;
  login_deadline.emplace(executor, cfg.client_login_timeout, [&client] { client.close(); });

  auto first = co_await negotiate_startup(client, *settings);
  if (!first) {
    log::info("startup from {} failed: {}", peer, first.error().message);
    co_await send_fatal(client, first.error());
    co_return;
  }
  if (auto* cancel = std::get_if<protocol::CancelRequest>(&*first)) {
    login_deadline.reset();
    co_await forward_cancel(shared, *cancel, peer);
    co_return;
  }
  auto& startup = std::get<protocol::StartupMessage>(*first);

  if (auto refusal = refuse_startup(startup, counter.value(), cfg)) {
    co_await send_fatal(client, *refusal);
    co_return;
  }
  std::string user = *startup.find("user");
  std::string database = param_or(startup, "database", user);
  if (!startup.find("database")) startup.params.emplace_back("database", database);

  if (startup.minor > 0 || !startup.protocol_options.empty()) {
    auto negotiate = protocol::negotiate_protocol_version(0, startup.protocol_options);
    if (co_await client.write_all(asio::buffer(negotiate))) co_return;
  }

  ByteBuffer client_buffer(backend::kRelayBufferSize);
  auto creds =
      co_await authenticate_client(client, client_buffer, *settings, shared, user, database, peer);
  if (!creds) {
    co_await send_fatal(client, creds.error());
    co_return;
  }
  login_deadline.reset();  // from here on, query_wait_timeout and server_connect_timeout apply

  std::size_t node = cfg.primary_index();
  const config::BackendServer& server = cfg.backend_servers[node];
  auto ok = protocol::authentication(protocol::AuthRequest::Ok);
  if (co_await client.write_all(asio::buffer(ok))) co_return;

  backend::ConnectOptions connect_options{
      backend::BackendAddress{node, server.hostname, server.port},
      startup.params,
      *creds,
      settings->backend_tls,
      !cfg.backend_ssl_ca_cert.empty(),
      cfg.server_connect_timeout,
  };
  auto pool =
      shared.pools().get(pool::make_pool_key(node, startup.params),
                         fmt::format("{}@{}/{}:{}", user, database, server.hostname, server.port));
  pool::Pool::Connector connect = [&]() {
    return backend::ServerConnection::connect(connect_options);
  };
  auto lease = co_await pool->acquire(
      cfg.max_pool, std::chrono::steady_clock::now() + cfg.query_wait_timeout, connect);
  if (!lease) {
    log::info("client {} user \"{}\" database \"{}\": no server connection: {} {}", peer, user,
              database, lease.error().message, lease.error().detail);
    co_await send_fatal(client, lease.error());
    co_return;
  }
  backend::ServerConnection& conn = lease->conn();

  CancelTarget target{conn.address(), conn.process_id(), conn.secret_key()};
  auto cancel_key = shared.cancels().add(conn.process_id(), target);
  std::string welcome;
  for (const auto& [name, value] : conn.parameters())
    welcome += protocol::parameter_status(name, value);
  welcome += protocol::backend_key_data(cancel_key.first, cancel_key.second);
  welcome += protocol::ready_for_query('I');
  log::debug("client {} logged in as \"{}\" to \"{}\" (server pid {}, tls {})", peer, user,
             database, conn.process_id(), client.is_tls());

  RelayOutcome outcome;
  RelayOptions relay_options{cfg.max_message_size, cfg.server_reset_query,
                             cfg.server_connect_timeout};
  if (!co_await client.write_all(asio::buffer(welcome))) {
    outcome = co_await relay_session(client, client_buffer, conn, relay_options);
  }
  shared.cancels().remove(cancel_key);
  if (outcome.client_error) co_await send_fatal(client, *outcome.client_error);
  client.close();
  log::debug("client {} session ended: {}", peer, outcome.end_reason);
  if (outcome.server_reusable) {
    lease->give_back();
  } else {
    lease->discard();
  }
}

}  // namespace pgb::frontend
