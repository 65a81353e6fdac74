// A client session: the path of one connection through startup, auth, pool and relay.
#include "frontend/client_session.hpp"

#include "auth/crypto.hpp"
#include "backend/server_connection.hpp"
#include "common/log.hpp"
#include "common/sqlstate.hpp"
#include "frontend/admin_session.hpp"
#include "frontend/authenticator.hpp"
#include "frontend/relay.hpp"
#include "frontend/relay_rules.hpp"
#include "frontend/startup.hpp"
#include "frontend/transaction_loop.hpp"
#include "frontend/transaction_session.hpp"
#include "net/watchdog.hpp"
#include "pool/pool_registry.hpp"
#include "protocol/messages.hpp"
#include "protocol/parameters.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <cstring>

namespace pgb::frontend {
namespace {

// A client between transactions reads its next request into this much; the relay grows it to
// kRelayBufferSize while the client holds a server connection.
constexpr std::size_t kIdleClientBuffer = 512;

// How long a cancel may take to reach PostgreSQL before we give up on it.
constexpr std::chrono::milliseconds kCancelTimeout{5'000};

void log_internal_error(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log::error("client session ended with an internal error: {}", ex.what());
  }
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

// A client past authentication, about to be served in its pool mode.
struct LoggedIn {
  net::Stream& client;
  ByteBuffer& buffer;
  SharedState& shared;
  const Settings& settings;
  std::string user, database, peer;
  protocol::Parameters params;  // from the startup packet, database included
  backend::Credentials credentials;
  ClientInfo& info;  // its entry in the client list

  // Lists the client under its pool, and has the relay keep the pool's statistics.
  void joined(pool::Pool& pool, ClientView& view) const {
    auto app = protocol::find_parameter(params, "application_name");
    shared.clients().logged_in(info, user, database, app ? std::string(*app) : std::string(),
                               pool.name(), client.is_tls());
    info.set_state(ClientState::Idle);
    view.info = &info;
    view.stats = &pool.stats();
    view.operations = shared.operations();
    view.may_see_pool_status = settings.config.may_see_pool_status(user);
  }

  const config::Config& cfg() const { return settings.config; }

  backend::ConnectOptions connect_options(protocol::Parameters startup_params) const {
    std::size_t node = cfg().primary_index();
    const auto& server = cfg().backend_servers[node];
    return backend::ConnectOptions{
        backend::BackendAddress{node, server.hostname, server.port},
        std::move(startup_params),
        credentials,
        settings.backend_tls,
        !cfg().backend_ssl_ca_cert.empty(),
        cfg().server_connect_timeout,
    };
  }

  std::shared_ptr<pool::Pool> pool_for(const backend::ConnectOptions& options) const {
    return shared.pools().get(
        options.address.node_index,
        pool::make_pool_key(options.address.node_index, options.startup_params),
        fmt::format("{}@{}/{}:{}", user, database, options.address.host, options.address.port),
        database, user);
  }
};

std::string greeting(const protocol::Parameters& params, CancelRegistry::Key key) {
  std::string out;
  for (const auto& [name, value] : params) out += protocol::parameter_status(name, value);
  out += protocol::backend_key_data(key.first, key.second);
  out += protocol::ready_for_query('I');
  return out;
}

// Session pooling: one server connection, started with the client's own parameters, for the
// whole session; its real process id goes to the client, so pg_backend_pid() matches.
awaitable<void> run_session_mode(LoggedIn& s) {
  auto options = s.connect_options(s.params);
  auto pool = s.pool_for(options);
  auto lease = co_await lease_for(s.cfg(), *pool, options, s.peer);
  if (!lease) {
    co_await send_fatal(s.client, lease.error());
    co_return;
  }
  backend::ServerConnection& conn = lease->conn();
  CancelSlot cancel(s.shared.cancels(), conn.process_id());
  cancel.point_at(&conn);
  auto welcome = greeting(conn.parameters(), cancel.key());
  log::debug("client {} logged in as \"{}\" to \"{}\" (session mode, server pid {}, tls {})",
             s.peer, s.user, s.database, conn.process_id(), s.client.is_tls());

  RelayOutcome outcome;
  ClientView view{s.peer, nullptr, {}, false, nullptr, {}};
  s.joined(*pool, view);
  auto relay_options = relay_options_for(s.cfg(), Release::AtSessionEnd);
  if (!co_await s.client.write_all(asio::buffer(welcome))) {
    outcome = co_await relay(s.client, s.buffer, conn, relay_options, view);
  }
  cancel.point_at(nullptr);
  if (outcome.client_error) co_await send_fatal(s.client, *outcome.client_error);
  s.client.close();
  log::debug("client {} session ended: {}", s.peer, outcome.end_reason);
  if (outcome.server_reusable) {
    lease->give_back();
  } else {
    lease->discard();
  }
}

// No single backend represents a transaction-pooled client, so its process id is made up,
// as pgbouncer does; the cancel key still reaches whichever backend runs its query.
std::int32_t pseudo_process_id() {
  std::int32_t pid;
  auto random = auth::random_bytes(sizeof pid);
  std::memcpy(&pid, random.data(), sizeof pid);
  return pid & 0x7fffffff;
}

// A transaction- or statement-mode client on the coroutine relay: a TLS client, or any client
// when backend_encryption is on (the others are served by transaction_loop.cpp). Between
// requests a plain-TCP one is parked: only this object and one readiness wait on its socket
// exist, no coroutine frame and no read buffer. A TLS client keeps its serving coroutine:
// OpenSSL may hold already-read input that a readiness wait would not see.
struct TransactionClient {
  std::unique_ptr<net::Stream> client;
  TransactionSession session;
  ByteBuffer buffer{0};
  std::optional<net::Watchdog> idle_deadline;  // client_idle_timeout while parked
  bool idle_expired = false;

  const config::Config& cfg() const { return session.cfg(); }
};

awaitable<void> serve_requests(std::shared_ptr<TransactionClient> c);

void park(std::shared_ptr<TransactionClient> c) {
  TransactionClient& s = *c;
  s.buffer.release_when_empty();
  auto& socket = s.client->socket();
  if (s.cfg().client_idle_timeout.count() > 0) {
    s.idle_deadline.emplace(socket.get_executor(), s.cfg().client_idle_timeout, [&s] {
      s.idle_expired = true;
      s.client->socket().cancel();
    });
  }
  // Readable, hung up or timed out: the serving coroutine finds out which.
  socket.async_wait(tcp::socket::wait_read, [c = std::move(c)](error_code) mutable {
    c->idle_deadline.reset();
    auto executor = c->client->socket().get_executor();
    asio::co_spawn(executor, serve_requests(std::move(c)), log_internal_error);
  });
}

// Serves requests until the client is idle (then parks it) or leaves.
awaitable<void> serve_requests(std::shared_ptr<TransactionClient> c) {
  TransactionClient& s = *c;
  std::optional<Error> farewell;
  for (;;) {
    if (s.idle_expired) {
      farewell = idle_timeout_error('I');
      break;
    }
    // Asio's epoll registration is edge-triggered: input that arrived while no read was
    // pending (since the relay's read was cancelled) would never wake a readiness wait, so
    // look first. The poll replaces the read attempt that would find nothing otherwise.
    if (s.buffer.empty() && !s.client->is_tls() && !s.client->has_pending_input()) {
      park(std::move(c));
      co_return;
    }
    s.buffer.reserve(kIdleClientBuffer);
    // A parked client's idle deadline ran while it was parked, and it only wakes with input
    // (or a hang-up) there: only a TLS client needs a deadline for this read.
    auto idle_timeout =
        s.client->is_tls() ? s.cfg().client_idle_timeout : std::chrono::milliseconds{0};
    auto wait = co_await wait_for_request(*s.client, s.buffer, idle_timeout);
    if (wait == ClientWait::IdleTimeout) {
      s.idle_expired = true;
      continue;
    }
    if (wait == ClientWait::ProtocolError) {
      farewell = invalid_request_error();
    }
    if (wait != ClientWait::Request) break;

    TransactionSession& session = s.session;
    auto lease = co_await lease_in_line(session, pool::Lease());
    if (!lease) {
      farewell = lease.error();
      break;
    }
    backend::ServerConnection& conn = lease->conn();
    session.cancel.point_at(&conn);
    auto outcome = co_await relay(*s.client, s.buffer, conn, session.relay_options, session.view);
    session.cancel.point_at(nullptr);
    s.buffer.shrink_when_empty(kIdleClientBuffer);
    if (outcome.server_reusable) {
      lease->give_back();
    } else {
      lease->discard();
    }
    if (outcome.session_over) {
      farewell = outcome.client_error;
      log::debug("client {} session ended: {}", session.view.peer, outcome.end_reason);
      break;
    }
  }
  if (farewell) co_await send_fatal(*s.client, *farewell);
  s.client->close();
}

// Transaction and statement pooling: a server connection only while a transaction (or
// statement) runs. Server connections are started without the parameters pgbalancer keeps
// in line itself, so clients that differ only in those share them.
awaitable<void> run_transaction_mode(LoggedIn& s, std::unique_ptr<net::Stream> stream,
                                     ClientRegistry::Handle registration,
                                     std::shared_ptr<const Settings> settings) {
  Release release = s.cfg().pool_mode_for(s.database, s.user) == config::PoolMode::Statement
                        ? Release::AfterStatement
                        : Release::AfterTransaction;
  const auto& tracked = s.settings.tracked_parameters;
  ClientView view{s.peer, &tracked, {}, false, &s.shared.statements(), {}};
  // Tracked settings go through parameter sync rather than into the server's startup packet,
  // including `options=-c name=value` when it holds nothing but tracked settings.
  protocol::Parameters server_params, client_settings;
  for (const auto& [name, value] : s.params) {
    auto settings_in_options =
        name == "options" ? protocol::parse_startup_options(value) : std::nullopt;
    bool all_tracked =
        settings_in_options &&
        std::all_of(settings_in_options->begin(), settings_in_options->end(),
                    [&](const auto& kv) { return protocol::is_tracked(tracked, kv.first); });
    if (all_tracked) {
      client_settings.insert(client_settings.end(), settings_in_options->begin(),
                             settings_in_options->end());
    } else if (protocol::is_tracked(tracked, name)) {
      client_settings.emplace_back(name, value);
    } else {
      server_params.emplace_back(name, value);
    }
  }
  auto options = s.connect_options(std::move(server_params));
  auto pool = s.pool_for(options);
  s.joined(*pool, view);

  CancelSlot cancel(s.shared.cancels(), pseudo_process_id());
  {
    // Greeted with the server's parameters and its own settings; only the tracked ones are
    // kept for the session (an idle client should cost little).
    auto welcome = pool->welcome_parameters();
    if (!welcome) {  // the pool's first client: learn the server's parameters from a connection
      auto lease = co_await lease_for(s.cfg(), *pool, options, s.peer);
      if (!lease) {
        co_await send_fatal(s.client, lease.error());
        co_return;
      }
      welcome = lease->conn().login_parameters();
      lease->give_back();
    }
    for (const auto& [name, value] : client_settings)
      protocol::set_parameter(*welcome, name, value);
    protocol::Parameters wanted;
    for (const auto& [name, value] : *welcome) {
      if (protocol::is_tracked(tracked, name)) wanted.emplace_back(name, value);
    }
    view.wanted = pool->shared_parameters(std::move(wanted));
    auto hello = greeting(*welcome, cancel.key());
    if (co_await s.client.write_all(asio::buffer(hello))) s.client.close();
  }
  log::debug("client {} logged in as \"{}\" to \"{}\" ({} mode, tls {})", s.peer, s.user,
             s.database, release == Release::AfterStatement ? "statement" : "transaction",
             s.client.is_tls());
  TransactionSession session{std::move(registration),
                             std::move(settings),
                             s.shared,
                             std::move(options),
                             std::move(pool),
                             std::move(view),
                             relay_options_for(s.cfg(), release),
                             std::move(cancel)};
  // Plain TCP both ways: the event-loop relay. (TLS state lives in Asio's stream objects.)
  if (!s.client.is_tls() && !s.settings.backend_tls && s.client.is_open()) {
    auto& context = static_cast<asio::io_context&>(
        asio::query(s.client.socket().get_executor(), asio::execution::context));
    error_code ec;
    int fd = s.client.socket().release(ec);
    if (!ec) {
      serve_on_event_loop(context, fd, std::move(session), std::move(s.buffer));
      co_return;
    }
  }
  auto client = std::make_shared<TransactionClient>(std::move(stream), std::move(session),
                                                    std::move(s.buffer), std::nullopt, false);
  co_await serve_requests(std::move(client));
}

awaitable<void> run_client_session(tcp::socket socket, SharedState& shared) {
  auto settings = shared.settings();
  const config::Config& cfg = settings->config;
  auto stream = std::make_unique<net::Stream>(std::move(socket));
  net::Stream& client = *stream;
  std::string peer = client.peer_address();
  auto registration = shared.clients().add(peer);
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

  if (auto refusal = refuse_startup(startup, registration.count_at_connect(), cfg)) {
    co_await send_fatal(client, *refusal);
    co_return;
  }
  std::string user = *startup.find("user");
  if (!startup.find("database")) startup.params.emplace_back("database", user);  // as libpq
  std::string database = *startup.find("database");

  if (startup.minor > 0 || !startup.protocol_options.empty()) {
    auto negotiate = protocol::negotiate_protocol_version(0, startup.protocol_options);
    if (co_await client.write_all(asio::buffer(negotiate))) co_return;
  }

  ByteBuffer client_buffer(kIdleClientBuffer);
  auto creds =
      co_await authenticate_client(client, client_buffer, *settings, shared, user, database, peer);
  if (!creds) {
    co_await send_fatal(client, creds.error());
    co_return;
  }
  login_deadline.reset();  // from here on, query_wait_timeout and server_connect_timeout apply

  auto ok = protocol::authentication(protocol::AuthRequest::Ok);
  if (co_await client.write_all(asio::buffer(ok))) co_return;
  if (database == kAdminDatabase) {
    const std::string* app = startup.find("application_name");
    shared.clients().logged_in(registration.info(), user, database, app ? *app : std::string(),
                               std::string(), client.is_tls());
    registration.info().set_state(ClientState::Idle);
    co_await run_admin_session(client, client_buffer, shared, user, peer);
    co_return;
  }

  LoggedIn session{client,
                   client_buffer,
                   shared,
                   *settings,
                   user,
                   database,
                   peer,
                   std::move(startup.params),
                   std::move(*creds),
                   registration.info()};
  if (cfg.pool_mode_for(database, user) == config::PoolMode::Session) {
    co_await run_session_mode(session);
  } else {
    co_await run_transaction_mode(session, std::move(stream), std::move(registration),
                                  std::move(settings));
  }
}

}  // namespace

void start_client_session(tcp::socket socket, SharedState& shared) {
  auto executor = socket.get_executor();
  asio::co_spawn(executor, run_client_session(std::move(socket), shared), log_internal_error);
}

}  // namespace pgb::frontend
