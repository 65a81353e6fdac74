// Startup negotiation, following ProcessStartupPacket() in PostgreSQL's postmaster.c.
#include "frontend/startup.hpp"

#include "common/sqlstate.hpp"
#include "protocol/byte_reader.hpp"
#include "protocol/codes.hpp"

namespace pgb::frontend {
namespace {

awaitable<Result<protocol::StartupPacket>> read_packet(net::Stream& client) {
  char header[4];
  if (auto ec = co_await client.read_exact(asio::buffer(header))) {
    co_return make_error(sqlstate::kProtocolViolation, "incomplete startup packet");
  }
  std::uint32_t length = protocol::load_u32(header);
  if (length < 8 || length > protocol::kMaxStartupPacketLength) {
    co_return make_error(sqlstate::kProtocolViolation, "invalid length of startup packet");
  }
  std::string body(length - 4, '\0');
  if (auto ec = co_await client.read_exact(asio::buffer(body))) {
    co_return make_error(sqlstate::kProtocolViolation, "incomplete startup packet");
  }
  co_return protocol::parse_startup_packet(body);
}

}  // namespace

awaitable<Result<FirstPacket>> negotiate_startup(net::Stream& client, const Settings& settings) {
  bool ssl_done = false;
  bool gss_done = false;
  for (;;) {
    auto packet = co_await read_packet(client);
    if (!packet) co_return packet.error();
    if (auto* m = std::get_if<protocol::StartupMessage>(&*packet))
      co_return FirstPacket{std::move(*m)};
    if (auto* c = std::get_if<protocol::CancelRequest>(&*packet)) co_return FirstPacket{*c};

    // SSLRequest or GSSENCRequest: each may come once, and never after TLS is up.
    bool is_ssl = std::holds_alternative<protocol::SslRequest>(*packet);
    if ((is_ssl && ssl_done) || (!is_ssl && gss_done) || client.is_tls()) {
      co_return make_error(sqlstate::kProtocolViolation,
                           "unsupported frontend protocol: duplicate encryption request");
    }
    (is_ssl ? ssl_done : gss_done) = true;
    char answer = (is_ssl && settings.client_tls) ? 'S' : 'N';
    if (auto ec = co_await client.write_all(asio::buffer(&answer, 1))) {
      co_return make_error(sqlstate::kConnectionFailure, "client went away during startup");
    }
    if (answer == 'S') {
      if (auto ec = co_await client.tls_accept(settings.client_tls)) {
        co_return make_error(sqlstate::kProtocolViolation,
                             "could not accept SSL connection: " + ec.message());
      }
    }
  }
}

}  // namespace pgb::frontend
