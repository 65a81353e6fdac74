// The relay between a client and the server connection it holds, for every pool mode:
// it moves bytes both ways until the server connection is to be given back (end of the
// session, transaction or statement) or either side ends.
#pragma once

#include "admin/operations.hpp"
#include "backend/server_connection.hpp"
#include "common/byte_buffer.hpp"
#include "frontend/client_registry.hpp"
#include "net/stream.hpp"
#include "pool/stats.hpp"
#include "protocol/startup.hpp"
#include "statements/rewriter.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace pgb::frontend {

// When a server connection goes back to the pool: the pool modes.
enum class Release { AtSessionEnd, AfterTransaction, AfterStatement };

struct RelayOptions {
  std::uint32_t max_message_size;
  Release release;
  std::string reset_query;  // session mode: run when the client leaves an idle session
  std::chrono::milliseconds reset_timeout;
  std::chrono::milliseconds client_idle_timeout;       // 0: never
  std::chrono::milliseconds idle_transaction_timeout;  // 0: never
  // Named prepared statements kept per server connection; 0: names relayed untouched
  // (always so in session mode, where a client keeps its server connection).
  std::size_t max_prepared_statements = 0;
};

// What a client believes about its session, kept across the server connections it uses.
struct ClientView {
  std::string peer;  // for the log
  // Parameters kept in line (Settings::tracked_parameters; none in session mode) and the
  // values the client last saw reported for them, shared between clients until one differs.
  const std::vector<std::string>* tracked = nullptr;
  std::shared_ptr<const protocol::Parameters> wanted;
  bool warned_listen = false;
  // Transaction and statement modes: the client's prepared statements, by its names.
  statements::Registry* registry = nullptr;
  statements::ClientStatements statements;
  // Where the relay reports: the client's state in the client list, the pool's statistics.
  ClientInfo* info = nullptr;
  pool::PoolStats* stats = nullptr;
  // For pgpool-II's SHOW POOL_* commands, answered on any connection; with the rows only for
  // users in admin_users or stats_users (they show every client's user and database).
  admin::Operations* operations = nullptr;
  bool may_see_pool_status = false;
};

struct RelayOutcome {
  bool server_reusable = false;       // idle (and reset in session mode): give it back
  bool session_over = false;          // the client left or must be disconnected
  std::optional<Error> client_error;  // to send the client (as FATAL) before closing
  std::string end_reason;             // for the log
};

awaitable<RelayOutcome> relay(net::Stream& client, ByteBuffer& client_buffer,
                              backend::ServerConnection& server, const RelayOptions& options,
                              ClientView& view);

// Between transactions (transaction and statement modes): waits, holding no server
// connection, until the client's next message starts.
enum class ClientWait { Request, Terminate, Closed, IdleTimeout, ProtocolError };
awaitable<ClientWait> wait_for_request(net::Stream& client, ByteBuffer& buffer,
                                       std::chrono::milliseconds idle_timeout);

}  // namespace pgb::frontend
