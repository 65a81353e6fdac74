// One client connection from accept to close: startup, authentication, lease, relay.
#pragma once

#include "frontend/shared_state.hpp"
#include "net/asio.hpp"

namespace pgb::frontend {

// Serves the connection on the worker its socket belongs to; an internal error ends only this
// session, and is logged.
void start_client_session(tcp::socket socket, SharedState& shared);

}  // namespace pgb::frontend
