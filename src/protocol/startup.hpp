// Decodes the first packet a client sends: StartupMessage, SSLRequest, GSSENCRequest or
// CancelRequest.
#pragma once

#include "common/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace pgb::protocol {

using Parameters = std::vector<std::pair<std::string, std::string>>;

struct StartupMessage {
  std::uint16_t major = 3;
  std::uint16_t minor = 0;
  Parameters params;                          // in the order the client sent them, `_pq_.` excluded
  std::vector<std::string> protocol_options;  // `_pq_.*` names, which protocol 3.0 does not know

  const std::string* find(std::string_view name) const;
};
struct SslRequest {};
struct GssEncRequest {};
struct CancelRequest {
  std::int32_t process_id = 0;
  std::int32_t secret_key = 0;
};

using StartupPacket = std::variant<StartupMessage, SslRequest, GssEncRequest, CancelRequest>;

// `body` is the packet without its leading int32 length. Errors carry the SQLSTATE and text
// PostgreSQL itself uses for the same fault (src/backend/postmaster/postmaster.c).
Result<StartupPacket> parse_startup_packet(std::string_view body);

}  // namespace pgb::protocol
