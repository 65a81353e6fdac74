// Protocol constants from the PostgreSQL v3 protocol (src/include/libpq/pqcomm.h, protocol.h).
#pragma once

#include <cstdint>
#include <string_view>

namespace pgb::protocol {

inline constexpr std::uint32_t kProtocolV3 = 3u << 16;
inline constexpr std::uint32_t kCancelRequestCode = (1234u << 16) | 5678u;
inline constexpr std::uint32_t kSslRequestCode = (1234u << 16) | 5679u;
inline constexpr std::uint32_t kGssEncRequestCode = (1234u << 16) | 5680u;

// PostgreSQL's MAX_STARTUP_PACKET_LENGTH (src/include/libpq/pqcomm.h).
inline constexpr std::uint32_t kMaxStartupPacketLength = 10000;
// Messages exchanged during authentication are small; PostgreSQL caps them at
// PG_MAX_AUTH_TOKEN_LENGTH (65535).
inline constexpr std::uint32_t kMaxAuthMessageLength = 65535;
// PostgreSQL's PQ_LARGE_MESSAGE_LIMIT: no protocol message may exceed 1 GB.
inline constexpr std::uint32_t kMaxMessageLength = 0x3fffffff;

// Authentication request codes (AuthenticationXXX messages, type 'R').
enum class AuthRequest : std::int32_t {
  Ok = 0,
  CleartextPassword = 3,
  Md5Password = 5,
  Gss = 7,
  Sspi = 9,
  Sasl = 10,
  SaslContinue = 11,
  SaslFinal = 12,
};

// True for the message types a frontend may send after startup (protocol-message-formats.html).
constexpr bool is_frontend_message_type(char type) {
  switch (type) {
    case 'B':
    case 'C':
    case 'd':
    case 'c':
    case 'f':
    case 'D':
    case 'E':
    case 'H':
    case 'F':
    case 'p':
    case 'P':
    case 'Q':
    case 'S':
    case 'X': return true;
    default: return false;
  }
}

}  // namespace pgb::protocol
