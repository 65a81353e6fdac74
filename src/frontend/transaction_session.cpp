// Getting a server connection ready for a pooled client's next transaction.
#include "frontend/transaction_session.hpp"

#include "common/log.hpp"
#include "protocol/parameters.hpp"

namespace pgb::frontend {

bool TransactionSession::in_line(backend::ServerConnection& conn) const {
  if (conn.known_in_line_with(view.wanted)) return true;
  if (!protocol::parameter_sync_query(*view.tracked, conn.parameters(), *view.wanted).empty()) {
    return false;
  }
  conn.set_in_line_with(view.wanted);
  return true;
}

RelayOptions relay_options_for(const config::Config& cfg, Release release) {
  bool session = release == Release::AtSessionEnd;
  return RelayOptions{cfg.max_message_size,
                      release,
                      session ? cfg.server_reset_query : std::string(),
                      cfg.server_connect_timeout,
                      cfg.client_idle_timeout,
                      cfg.idle_transaction_timeout,
                      session ? 0 : static_cast<std::size_t>(cfg.max_prepared_statements)};
}

awaitable<Result<pool::Lease>> lease_for(const config::Config& cfg, pool::Pool& pool,
                                         const backend::ConnectOptions& options,
                                         const std::string& peer) {
  auto deadline = std::chrono::steady_clock::now() + cfg.query_wait_timeout;
  auto lease = co_await pool.acquire(pool::pool_limits(cfg), deadline, options);
  if (!lease) {
    log::info("client {} user \"{}\" database \"{}\": no server connection: {} {}", peer,
              pool.user(), pool.database(), lease.error().message, lease.error().detail);
  }
  co_return lease;
}

awaitable<Result<pool::Lease>> lease_in_line(TransactionSession& s, pool::Lease lease) {
  if (!lease) {
    s.registration.info().set_state(ClientState::Waiting);
    auto leased = co_await lease_for(s.cfg(), *s.pool, s.options, s.view.peer);
    if (!leased) co_return leased.error();
    lease = std::move(*leased);
  }
  backend::ServerConnection& conn = lease.conn();
  if (s.in_line(conn)) co_return std::move(lease);
  auto sync = protocol::parameter_sync_query(*s.view.tracked, conn.parameters(), *s.view.wanted);
  auto synced = co_await conn.run_simple(sync, s.cfg().server_connect_timeout);
  if (!synced) {
    log::warn("client {}: could not bring server parameters in line: {}", s.view.peer,
              synced.error().message);
    lease.discard();
    co_return synced.error();
  }
  co_return std::move(lease);
}

}  // namespace pgb::frontend
