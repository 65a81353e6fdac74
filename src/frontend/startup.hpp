// The startup phase of a client connection: SSL/GSSAPI negotiation and the first real packet.
#pragma once

#include "frontend/shared_state.hpp"
#include "net/stream.hpp"
#include "protocol/startup.hpp"

#include <variant>

namespace pgb::frontend {

using FirstPacket = std::variant<protocol::StartupMessage, protocol::CancelRequest>;

// Answers SSLRequest ('S' and a TLS handshake when ssl is on, else 'N') and GSSENCRequest
// ('N'), then returns the StartupMessage or CancelRequest that follows.
awaitable<Result<FirstPacket>> negotiate_startup(net::Stream& client, const Settings& settings);

}  // namespace pgb::frontend
