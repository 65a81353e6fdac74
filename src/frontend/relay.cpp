// The coroutine relay: the two directions, the moment a server connection is given back, and
// what happens when the client leaves. It serves session mode and TLS clients; plain-TCP
// clients in transaction and statement modes use the event-loop relay (transaction_loop.cpp).
// The protocol rules both apply are in relay_rules.cpp.
//
// Each direction is a coroutine that reads what is available, lets the frame scanner find
// message boundaries, and writes everything complete in one call: one read and one write per
// burst, payloads never copied.
#include "frontend/relay.hpp"

#include "frontend/relay_rules.hpp"

#include "common/log.hpp"
#include "common/sqlstate.hpp"
#include "net/watchdog.hpp"
#include "protocol/codes.hpp"
#include "protocol/frame_scanner.hpp"
#include "protocol/messages.hpp"
#include "protocol/parameters.hpp"
#include "protocol/splice.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>

#include <fmt/format.h>

namespace pgb::frontend {
namespace {

using protocol::ScanStatus;

struct RelayState : RelayRules {
  RelayState(const RelayOptions& o, ClientView& v, backend::ServerConnection& s,
             asio::any_io_executor ex)
      : RelayRules(o, v, s), executor(std::move(ex)) {}

  asio::any_io_executor executor;
  bool client_reading = false;
  bool client_writing = false;
  bool client_gone = false;
  bool server_gone = false;
  bool released = false;  // the server connection goes back; the client stays
  bool idle_expired = false;
  std::optional<net::Watchdog> idle_watchdog;
  std::optional<net::Watchdog> reset_watchdog;
  RelayOutcome outcome;
};

// client_idle_timeout while nothing is open, idle_transaction_timeout inside a transaction.
void arm_idle_timer(RelayState& s, net::Stream& client) {
  auto timeout = s.idle_timeout();
  if (timeout.count() == 0) {
    s.idle_watchdog.reset();
    return;
  }
  s.idle_watchdog.emplace(s.executor, timeout, [&s, &client] {
    s.idle_expired = true;
    client.socket().cancel();
  });
}

// The client has left (or is being disconnected) while holding the server connection.
awaitable<void> client_left(RelayState& s, bool scanner_at_boundary) {
  auto& server = s.server;
  if (!s.server_idle() || !scanner_at_boundary) {
    // Mid-query or mid-transaction: the server's state is unknown to the next client, so the
    // connection is closed. A running query would go on until it next writes; cancel it first
    // so it stops holding locks and a backend slot.
    if (s.pending_ready > 0) {
      co_await backend::send_cancel(server.address(), server.process_id(), server.secret_key(),
                                    s.options.reset_timeout);
    }
    server.stream().close();
    co_return;
  }
  if (s.options.release != Release::AtSessionEnd) {
    server.stream()
        .close();  // idle yet still held: cannot happen unless the client broke the protocol
    co_return;
  }
  // server_to_client consumes the reset's output and ends the relay at its ReadyForQuery.
  s.reset_watchdog.emplace(s.executor, s.options.reset_timeout,
                           [&server] { server.stream().close(); });
  s.resetting = true;
  ++s.pending_ready;
  auto reset = protocol::query(s.options.reset_query);
  if (co_await server.stream().write_all(asio::buffer(reset))) server.stream().close();
}

// The scanned bytes with the edits made to them, for one gathering write.
std::vector<asio::const_buffer> edited(std::string_view data, const protocol::Splice& edits) {
  std::vector<asio::const_buffer> pieces;
  edits.for_each_piece(data, [&](std::string_view p) { pieces.emplace_back(p.data(), p.size()); });
  return pieces;
}

// Room to read into, for at least the message the scanner waits to see whole.
asio::mutable_buffer read_space(ByteBuffer& buf, const protocol::FrameScanner& scanner) {
  buf.reserve(scanner.needed());
  std::size_t wanted = scanner.needed() - std::min(scanner.needed(), buf.size());
  char* tail = buf.tail(std::max<std::size_t>(wanted, protocol::FrameScanner::kMaxCapture + 5));
  return asio::buffer(tail, buf.tail_space());
}

awaitable<void> client_to_server(net::Stream& client, ByteBuffer& buf, RelayState& s) {
  protocol::FrameScanner scanner(s.options.max_message_size);
  protocol::Splice edits;
  for (;;) {
    ClientVisitor visitor{s, buf.readable(), edits};
    edits.clear();
    auto scan = scanner.scan(buf.readable(), visitor);
    s.client_mid_message = !scanner.at_boundary();
    if (scan.consumed > 0) {
      s.client_writing = true;
      auto data = buf.readable().substr(0, scan.consumed);
      error_code ec;
      if (edits.empty()) {
        ec = co_await s.server.stream().write_all(asio::buffer(data.data(), data.size()));
      } else {
        auto pieces = edited(data, edits);
        ec = co_await s.server.stream().write_all(pieces);
      }
      s.client_writing = false;
      if (ec) {
        s.server_gone = true;
        s.outcome.end_reason = "server write failed: " + ec.message();
        co_return;
      }
      s.bytes_received += scan.consumed;
      buf.consume(scan.consumed);
    }
    if (scan.status == ScanStatus::Stopped && !visitor.failed()) {
      s.outcome.end_reason = "client sent Terminate";
      break;
    }
    if (scan.status != ScanStatus::NeedMore) {
      s.outcome.client_error = visitor.error();
      s.outcome.end_reason =
          visitor.parse_too_large ? "Parse message too large" : "protocol violation by the client";
      break;
    }
    arm_idle_timer(s, client);
    s.client_reading = true;
    auto space = read_space(buf, scanner);
    auto [ec, n] = co_await client.read_some(space);
    s.client_reading = false;
    s.idle_watchdog.reset();
    if (s.released) {
      if (!ec) buf.commit(n);  // the start of the next transaction, for the next lease
      co_return;
    }
    if (s.server_gone) co_return;  // the other direction ended the session
    if (s.idle_expired) {
      s.outcome.client_error = idle_timeout_error(s.transaction_status);
      s.outcome.end_reason = "idle timeout";
      break;
    }
    if (ec) {
      s.outcome.end_reason = "client closed the connection";
      break;
    }
    buf.commit(n);
  }
  s.client_gone = true;
  s.outcome.session_over = true;
  co_await client_left(s, scanner.at_boundary());
}

awaitable<void> server_to_client(net::Stream& client, RelayState& s) {
  protocol::FrameScanner scanner(protocol::kMaxMessageLength);
  ByteBuffer& buf = s.server.buffer();
  protocol::Splice edits;
  for (;;) {
    bool was_resetting = s.resetting;
    ServerVisitor visitor{s, buf.readable(), edits};
    edits.clear();
    auto scan = scanner.scan(buf.readable(), visitor);
    if (scan.consumed > 0) {
      if (!was_resetting && !s.client_gone) {
        auto data = buf.readable().substr(0, scan.consumed);
        error_code ec;
        if (edits.empty()) {
          ec = co_await client.write_all(asio::buffer(data.data(), data.size()));
        } else {
          auto pieces = edited(data, edits);
          ec = co_await client.write_all(pieces);
        }
        if (ec) {
          s.client_gone = true;
          s.outcome.session_over = true;
          s.outcome.end_reason = "client write failed: " + ec.message();
          s.server.stream().close();
          client.socket().cancel();
          co_return;
        }
        s.bytes_sent += scan.consumed;
      }
      buf.consume(scan.consumed);
    }
    if (was_resetting && !s.resetting) {
      s.outcome.server_reusable = !s.reset_failed && s.transaction_status == 'I' && buf.empty();
      co_return;
    }
    if (scan.status == ScanStatus::Malformed) {
      s.server_gone = true;
      s.outcome.session_over = true;
      s.outcome.client_error = server_malformed_error();
      s.server.stream().close();
      client.socket().cancel();
      co_return;
    }
    if (s.transaction_block_refused) {
      s.outcome.client_error = transaction_block_error();
      s.outcome.end_reason = "transaction block in statement mode";
      s.outcome.session_over = true;
      s.server_gone = true;  // the open transaction dies with the connection
      s.server.stream().close();
      if (s.client_reading) client.socket().cancel();
      co_return;
    }
    if (may_release(s, s.client_writing, s.client_gone, !buf.empty(), scanner.at_boundary())) {
      s.released = true;
      s.outcome.server_reusable = true;
      if (s.client_reading) client.socket().cancel();  // its next bytes need a new lease
      co_return;
    }
    if (s.server_gone) co_return;
    if (s.client_reading) arm_idle_timer(s, client);
    auto [ec, n] = co_await s.server.stream().read_some(
        asio::buffer(buf.tail(protocol::FrameScanner::kMaxCapture + 5), buf.tail_space()));
    if (ec) {
      s.server_gone = true;
      if (!s.client_gone) {
        s.outcome.session_over = true;
        if (!s.server_sent_fatal) s.outcome.client_error = server_closed_error();
        s.outcome.end_reason = "server closed the connection";
        client.socket().cancel();
      }
      co_return;
    }
    buf.commit(n);
  }
}

}  // namespace

awaitable<RelayOutcome> relay(net::Stream& client, ByteBuffer& client_buffer,
                              backend::ServerConnection& server, const RelayOptions& options,
                              ClientView& view) {
  using namespace asio::experimental::awaitable_operators;
  auto executor = co_await asio::this_coro::executor;
  client_buffer.reserve(backend::kRelayBufferSize);  // idle clients keep a small one
  RelayState state(options, view, server, executor);
  co_await (client_to_server(client, client_buffer, state) && server_to_client(client, state));
  co_return std::move(state.outcome);
}

awaitable<ClientWait> wait_for_request(net::Stream& client, ByteBuffer& buffer,
                                       std::chrono::milliseconds idle_timeout) {
  auto executor = co_await asio::this_coro::executor;
  for (;;) {
    auto data = buffer.readable();
    if (!data.empty()) {
      if (data[0] == 'X') co_return ClientWait::Terminate;
      if (!protocol::is_frontend_message_type(data[0])) co_return ClientWait::ProtocolError;
      co_return ClientWait::Request;
    }
    bool expired = false;
    std::optional<net::Watchdog> watchdog;
    if (idle_timeout.count() > 0) {
      watchdog.emplace(executor, idle_timeout, [&] {
        expired = true;
        client.socket().cancel();
      });
    }
    auto [ec, n] = co_await client.read_some(asio::buffer(buffer.tail(), buffer.tail_space()));
    if (expired) co_return ClientWait::IdleTimeout;
    if (ec) co_return ClientWait::Closed;
    buffer.commit(n);
  }
}

}  // namespace pgb::frontend
