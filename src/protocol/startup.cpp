// Startup packet decoding, following ProcessStartupPacket() in PostgreSQL's postmaster.c.
#include "protocol/startup.hpp"

#include "common/sqlstate.hpp"
#include "protocol/byte_reader.hpp"
#include "protocol/codes.hpp"

#include <fmt/format.h>

namespace pgb::protocol {

const std::string* StartupMessage::find(std::string_view name) const {
  for (const auto& [k, v] : params) {
    if (k == name) return &v;
  }
  return nullptr;
}

namespace {

Error protocol_violation(std::string message) {
  return Error{std::string(sqlstate::kProtocolViolation), std::move(message), {}};
}

Result<StartupPacket> parse_v3(std::uint32_t version, ByteReader& r) {
  StartupMessage msg;
  msg.major = static_cast<std::uint16_t>(version >> 16);
  msg.minor = static_cast<std::uint16_t>(version & 0xffff);
  for (;;) {
    auto name = r.cstr();
    if (!name)
      return protocol_violation("invalid startup packet layout: expected terminator as last byte");
    if (name->empty()) break;
    auto value = r.cstr();
    if (!value)
      return protocol_violation("invalid startup packet layout: expected terminator as last byte");
    if (name->starts_with("_pq_.")) {
      msg.protocol_options.emplace_back(*name);
      continue;
    }
    for (const auto& [k, v] : msg.params) {
      if (k == *name)
        return protocol_violation(fmt::format("duplicate startup parameter \"{}\"", *name));
    }
    msg.params.emplace_back(*name, *value);
  }
  if (!r.at_end())
    return protocol_violation("invalid startup packet layout: expected terminator as last byte");
  return StartupPacket{std::move(msg)};
}

}  // namespace

Result<StartupPacket> parse_startup_packet(std::string_view body) {
  ByteReader r(body);
  auto code = r.int32();
  if (!code) return protocol_violation("invalid length of startup packet");
  auto version = static_cast<std::uint32_t>(*code);
  switch (version) {
    case kSslRequestCode:
      if (!r.at_end()) return protocol_violation("invalid length of startup packet");
      return StartupPacket{SslRequest{}};
    case kGssEncRequestCode:
      if (!r.at_end()) return protocol_violation("invalid length of startup packet");
      return StartupPacket{GssEncRequest{}};
    case kCancelRequestCode: {
      auto pid = r.int32();
      auto key = r.int32();
      if (!pid || !key || !r.at_end())
        return protocol_violation("invalid length of cancel request packet");
      return StartupPacket{CancelRequest{*pid, *key}};
    }
    default: break;
  }
  if ((version >> 16) != 3) {
    return Error{std::string(sqlstate::kFeatureNotSupported),
                 fmt::format("unsupported frontend protocol {}.{}: server supports 3.0 to 3.0",
                             version >> 16, version & 0xffff),
                 {}};
  }
  return parse_v3(version, r);
}

}  // namespace pgb::protocol
