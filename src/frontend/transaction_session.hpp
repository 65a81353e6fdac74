// What a client in transaction or statement pooling keeps between transactions, whichever
// relay serves it (transaction_loop.cpp for plain TCP, the coroutine relay for TLS), and the
// steps both take to get a server connection for its next transaction.
#pragma once

#include "frontend/cancel_registry.hpp"
#include "frontend/relay.hpp"
#include "frontend/shared_state.hpp"
#include "pool/pool.hpp"

#include <atomic>
#include <memory>
#include <utility>

namespace pgb::frontend {

struct TransactionSession {
  ClientRegistry::Handle registration;       // counted for max_client_conn, listed
  std::shared_ptr<const Settings> settings;  // the snapshot at login
  SharedState& shared;
  backend::ConnectOptions options;  // the server's startup parameters, the credentials
  std::shared_ptr<pool::Pool> pool;
  ClientView view;
  RelayOptions relay_options;
  CancelSlot cancel;

  const config::Config& cfg() const { return settings->config; }
  // The leased connection's tracked parameters already match the client's.
  bool in_line(backend::ServerConnection& conn) const;
};

RelayOptions relay_options_for(const config::Config& cfg, Release release);

// A server connection from `pool`, waiting up to query_wait_timeout; a failure is logged.
awaitable<Result<pool::Lease>> lease_for(const config::Config& cfg, pool::Pool& pool,
                                         const backend::ConnectOptions& options,
                                         const std::string& peer);

// A server connection for the session's next transaction, its tracked parameters brought in
// line with the client's (one SET batch, only when one differs). `lease` may already hold one.
awaitable<Result<pool::Lease>> lease_in_line(TransactionSession& s, pool::Lease lease);

}  // namespace pgb::frontend
