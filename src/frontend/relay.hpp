// Session-mode relay: moves bytes both ways between a client and its server connection
// until either ends, then leaves the server connection reset and reusable if it can.
#pragma once

#include "backend/server_connection.hpp"
#include "common/byte_buffer.hpp"
#include "net/stream.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace pgb::frontend {

struct RelayOptions {
  std::uint32_t max_message_size;
  std::string reset_query;
  std::chrono::milliseconds reset_timeout;
};

struct RelayOutcome {
  bool server_reusable = false;       // idle, synced, reset: give it back to the pool
  std::optional<Error> client_error;  // to send the client (as FATAL) before closing
  std::string end_reason;             // for the log
};

awaitable<RelayOutcome> relay_session(net::Stream& client, ByteBuffer& client_buffer,
                                      backend::ServerConnection& server,
                                      const RelayOptions& options);

}  // namespace pgb::frontend
