// The two relay directions of a session, and the hand-over to reset when the client leaves.
//
// Each direction is a coroutine that reads what is available, lets the frame scanner find
// message boundaries, and writes everything complete in one call: one read and one write per
// burst, payloads never copied. ReadyForQuery's status byte is the one place that decides
// whether the server connection is idle (as in pgbouncer's server.c).
#include "frontend/relay.hpp"

#include "common/sqlstate.hpp"
#include "net/watchdog.hpp"
#include "protocol/codes.hpp"
#include "protocol/frame_scanner.hpp"
#include "protocol/messages.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>

#include <fmt/format.h>

namespace pgb::frontend {
namespace {

using protocol::FrameVerdict;
using protocol::ScanStatus;

struct RelayState {
  // Requests sent that will each end with a ReadyForQuery: Query, Sync, FunctionCall.
  int pending_ready = 0;
  // Extended-protocol messages sent since the last Sync: the server may hold an open batch.
  bool unsynced = false;
  char transaction_status = 'I';  // from the last ReadyForQuery
  bool client_gone = false;
  bool resetting = false;  // the reset query is running; server output is ours
  bool reset_failed = false;
  bool server_gone = false;
  bool server_sent_fatal = false;
  std::optional<net::Watchdog> reset_watchdog;
  RelayOutcome outcome;

  bool server_idle() const { return pending_ready == 0 && !unsynced && transaction_status == 'I'; }
};

struct ClientVisitor {
  RelayState& s;
  bool invalid_type = false;
  char bad_type = 0;

  FrameVerdict on_header(char type, std::uint32_t) {
    if (!protocol::is_frontend_message_type(type)) {
      invalid_type = true;
      bad_type = type;
      return FrameVerdict::StopBefore;
    }
    switch (type) {
      case 'X': return FrameVerdict::StopBefore;
      case 'Q':
      case 'F': ++s.pending_ready; break;
      case 'S':
        ++s.pending_ready;
        s.unsynced = false;
        break;
      case 'P':
      case 'B':
      case 'D':
      case 'E':
      case 'C':
      case 'H': s.unsynced = true; break;
      default: break;
    }
    return FrameVerdict::Forward;
  }
  void on_message(char, std::string_view) {}
};

struct ServerVisitor {
  RelayState& s;

  FrameVerdict on_header(char type, std::uint32_t) {
    return (type == 'Z' || type == 'E') ? FrameVerdict::Capture : FrameVerdict::Forward;
  }
  void on_message(char type, std::string_view payload) {
    if (type == 'Z') {
      if (s.pending_ready > 0) --s.pending_ready;
      s.transaction_status = payload.empty() ? 'E' : payload[0];
      if (s.resetting) s.resetting = false;  // the reset's own ReadyForQuery
      return;
    }
    auto fields = protocol::parse_error_response(payload);
    if (s.resetting) s.reset_failed = true;
    if (fields && (fields->severity == "FATAL" || fields->severity == "PANIC"))
      s.server_sent_fatal = true;
  }
};

awaitable<void> client_to_server(net::Stream& client, ByteBuffer& buf,
                                 backend::ServerConnection& server, RelayState& s,
                                 const RelayOptions& options) {
  protocol::FrameScanner scanner(options.max_message_size);
  ClientVisitor visitor{s};
  for (;;) {
    auto scan = scanner.scan(buf.readable(), visitor);
    if (scan.consumed > 0) {
      if (auto ec = co_await server.stream().write_all(
              asio::buffer(buf.readable().data(), scan.consumed))) {
        s.server_gone = true;
        s.outcome.end_reason = "server write failed: " + ec.message();
        client.socket().cancel();
        co_return;
      }
      buf.consume(scan.consumed);
    }
    if (scan.status == ScanStatus::Stopped && !visitor.invalid_type) {
      s.outcome.end_reason = "client sent Terminate";
      break;
    }
    if (scan.status != ScanStatus::NeedMore) {
      s.outcome.client_error = make_error(
          sqlstate::kProtocolViolation,
          visitor.invalid_type
              ? fmt::format("invalid frontend message type {}", static_cast<int>(visitor.bad_type))
              : "invalid message length");
      s.outcome.end_reason = "protocol violation by the client";
      s.client_gone = true;
      server.stream().close();
      co_return;
    }
    auto [ec, n] = co_await client.read_some(
        asio::buffer(buf.tail(protocol::FrameScanner::kMaxCapture + 5), buf.tail_space()));
    if (ec) {
      if (s.server_gone) co_return;  // the other direction ended the session
      s.outcome.end_reason = "client closed the connection";
      break;
    }
    buf.commit(n);
  }

  s.client_gone = true;
  if (s.server_gone) co_return;
  if (!s.server_idle() || !scanner.at_boundary()) {
    // Mid-query or mid-transaction: the server's state is unknown to the next client, so the
    // connection is closed. A running query would go on until it next writes; cancel it first
    // so it stops holding locks and a backend slot.
    if (s.pending_ready > 0) {
      co_await backend::send_cancel(server.address(), server.process_id(), server.secret_key(),
                                    options.reset_timeout);
    }
    server.stream().close();
    co_return;
  }
  // server_to_client consumes the reset's output and ends the relay at its ReadyForQuery.
  auto executor = co_await asio::this_coro::executor;
  s.reset_watchdog.emplace(executor, options.reset_timeout, [&server] { server.stream().close(); });
  s.resetting = true;
  ++s.pending_ready;
  auto reset = protocol::query(options.reset_query);
  if (co_await server.stream().write_all(asio::buffer(reset))) server.stream().close();
}

awaitable<void> server_to_client(net::Stream& client, backend::ServerConnection& server,
                                 RelayState& s, const RelayOptions&) {
  protocol::FrameScanner scanner(protocol::kMaxMessageLength);
  ServerVisitor visitor{s};
  ByteBuffer& buf = server.buffer();
  for (;;) {
    bool was_resetting = s.resetting;
    auto scan = scanner.scan(buf.readable(), visitor);
    if (scan.consumed > 0) {
      if (!was_resetting && !s.client_gone) {
        if (auto ec =
                co_await client.write_all(asio::buffer(buf.readable().data(), scan.consumed))) {
          s.client_gone = true;
          s.outcome.end_reason = "client write failed: " + ec.message();
          server.stream().close();
          client.socket().cancel();
          co_return;
        }
      }
      buf.consume(scan.consumed);
    }
    if (was_resetting && !s.resetting) {
      s.outcome.server_reusable = !s.reset_failed && s.transaction_status == 'I' && buf.empty();
      co_return;
    }
    if (scan.status == ScanStatus::Malformed) {
      s.server_gone = true;
      s.outcome.client_error =
          make_error(sqlstate::kProtocolViolation, "the server sent a malformed message");
      server.stream().close();
      client.socket().cancel();
      co_return;
    }
    auto [ec, n] = co_await server.stream().read_some(
        asio::buffer(buf.tail(protocol::FrameScanner::kMaxCapture + 5), buf.tail_space()));
    if (ec) {
      s.server_gone = true;
      if (!s.client_gone) {
        if (!s.server_sent_fatal) {
          s.outcome.client_error =
              make_error(sqlstate::kConnectionFailure, "server closed the connection unexpectedly",
                         "The PostgreSQL server process ended or the network failed.");
        }
        s.outcome.end_reason = "server closed the connection";
        client.socket().cancel();
      }
      co_return;
    }
    buf.commit(n);
  }
}

}  // namespace

awaitable<RelayOutcome> relay_session(net::Stream& client, ByteBuffer& client_buffer,
                                      backend::ServerConnection& server,
                                      const RelayOptions& options) {
  using namespace asio::experimental::awaitable_operators;
  RelayState state;
  co_await (client_to_server(client, client_buffer, server, state, options) &&
            server_to_client(client, server, state, options));
  co_return std::move(state.outcome);
}

}  // namespace pgb::frontend
