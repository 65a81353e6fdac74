// The SQL admin console: a client of the virtual database "pgbalancer" talks to pgbalancer
// itself (simple query protocol), as pgbouncer's console does. Also answers pgpool-II's
// SHOW POOL_* commands for the relays, on any connection.
#pragma once

#include "common/byte_buffer.hpp"
#include "frontend/shared_state.hpp"
#include "net/stream.hpp"

#include <optional>
#include <string>

namespace pgb::frontend {

inline constexpr std::string_view kAdminDatabase = "pgbalancer";

// Serves a console session after authentication (AuthenticationOk already sent). Refuses users
// in neither admin_users nor stats_users.
awaitable<void> run_admin_session(net::Stream& client, ByteBuffer& buffer, SharedState& shared,
                                  const std::string& user, const std::string& peer);

// If `query` (a simple Query's text) is a pgpool-II SHOW POOL_* command: its complete answer,
// RowDescription to CommandComplete, without ReadyForQuery.
std::optional<std::string> answer_pgpool_show(std::string_view query, SharedState& shared);

}  // namespace pgb::frontend
