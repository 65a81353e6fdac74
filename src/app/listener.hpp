// Accepts client connections on one address and starts a session for each on its own strand.
#pragma once

#include "frontend/shared_state.hpp"
#include "net/asio.hpp"

namespace pgb::app {

awaitable<void> accept_loop(tcp::acceptor& acceptor, frontend::SharedState& shared);

}  // namespace pgb::app
