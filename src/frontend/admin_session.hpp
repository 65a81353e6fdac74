// The SQL admin console: a client of the virtual database "pgbalancer" talks to pgbalancer
// itself, as pgbouncer's console does (simple and extended query protocols, text results).
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

}  // namespace pgb::frontend
