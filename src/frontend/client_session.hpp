// One client connection from accept to close: startup, authentication, lease, relay.
#pragma once

#include "frontend/shared_state.hpp"
#include "net/asio.hpp"

namespace pgb::frontend {

// Runs on the strand the socket was accepted on; never throws.
awaitable<void> run_client_session(tcp::socket socket, SharedState& shared);

}  // namespace pgb::frontend
