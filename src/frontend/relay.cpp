// The two relay directions, the moment a server connection is given back, and what happens
// when the client leaves.
//
// Each direction is a coroutine that reads what is available, lets the frame scanner find
// message boundaries, and writes everything complete in one call: one read and one write per
// burst, payloads never copied. ReadyForQuery's status byte, with the count of requests still
// unanswered, is the one place that decides whether the server connection is idle (as in
// pgbouncer's server.c); in transaction and statement modes that is when it goes back.
#include "frontend/relay.hpp"

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

using protocol::FrameVerdict;
using protocol::ScanStatus;

struct RelayState {
  RelayState(const RelayOptions& o, ClientView& v, backend::ServerConnection& s,
             asio::any_io_executor ex)
      : options(o), view(v), server(s), executor(std::move(ex)) {}

  const RelayOptions& options;
  ClientView& view;
  backend::ServerConnection& server;
  asio::any_io_executor executor;

  // Requests sent that will each end with a ReadyForQuery: Query, Sync, FunctionCall.
  int pending_ready = 0;
  // Extended-protocol messages sent since the last Sync: the server may hold an open batch.
  bool unsynced = false;
  char transaction_status = 'I';  // from the last ReadyForQuery
  bool client_mid_message = false;
  bool client_reading = false;
  bool client_writing = false;
  bool client_gone = false;
  bool server_gone = false;
  bool released = false;   // the server connection goes back; the client stays
  bool resetting = false;  // session mode: the reset query runs; server output is ours
  bool reset_failed = false;
  bool server_sent_fatal = false;
  bool idle_expired = false;
  bool transaction_block_refused = false;  // statement mode saw BEGIN (or similar) succeed
  std::optional<net::Watchdog> idle_watchdog;
  std::optional<net::Watchdog> reset_watchdog;
  std::optional<statements::Rewriter> rewriter;  // named prepared statements across servers
  RelayOutcome outcome;

  bool server_idle() const { return pending_ready == 0 && !unsynced && transaction_status == 'I'; }
  bool nothing_outstanding() const {
    return pending_ready == 0 && !unsynced && !client_mid_message;
  }
};

// client_idle_timeout while nothing is open, idle_transaction_timeout inside a transaction.
void arm_idle_timer(RelayState& s, net::Stream& client) {
  std::chrono::milliseconds timeout{0};
  if (s.pending_ready == 0 && !s.unsynced) {
    timeout = s.transaction_status == 'I' ? s.options.client_idle_timeout
                                          : s.options.idle_transaction_timeout;
  }
  if (timeout.count() == 0) {
    s.idle_watchdog.reset();
    return;
  }
  s.idle_watchdog.emplace(s.executor, timeout, [&s, &client] {
    s.idle_expired = true;
    client.socket().cancel();
  });
}

bool starts_with_listen(std::string_view sql) {
  auto start = sql.find_first_not_of(" \t\r\n(");
  if (start == std::string_view::npos || sql.size() - start < 6) return false;
  return protocol::same_parameter(sql.substr(start, 6), "listen");
}

// Where a message shown to on_message starts in the scanned input: edits are made there.
std::size_t offset_of(std::string_view input, std::string_view payload) {
  return static_cast<std::size_t>(payload.data() - input.data()) - 5;
}

struct ClientVisitor {
  RelayState& s;
  std::string_view input;  // what is being scanned
  protocol::Splice& edits;
  std::uint32_t length = 0;  // of the message on_header saw last
  bool invalid_type = false;
  char bad_type = 0;
  bool malformed = false;
  bool parse_too_large = false;

  FrameVerdict on_header(char type, std::uint32_t message_length) {
    length = message_length;
    if (!protocol::is_frontend_message_type(type)) {
      invalid_type = true;
      bad_type = type;
      return FrameVerdict::StopBefore;
    }
    switch (type) {
      case 'X': return FrameVerdict::StopBefore;
      case 'Q':
        ++s.pending_ready;
        if (s.rewriter) s.rewriter->on_ready_request();
        // LISTEN only hears notifications while the client holds this server connection.
        if (s.rewriter || (s.options.release != Release::AtSessionEnd && !s.view.warned_listen)) {
          return FrameVerdict::Capture;
        }
        break;
      case 'F':
      case 'S':
        ++s.pending_ready;
        if (type == 'S') s.unsynced = false;
        if (s.rewriter) s.rewriter->on_ready_request();
        break;
      case 'P':
      case 'B':
      case 'D':
      case 'E':
      case 'C':
      case 'H':
        s.unsynced = true;
        if (s.rewriter) return statements::Rewriter::verdict_for(type, message_length);
        break;
      default: break;
    }
    return FrameVerdict::Forward;
  }
  bool on_message(char type, std::string_view payload) {
    if (type == 'Q' && !s.view.warned_listen && s.options.release != Release::AtSessionEnd) {
      if (starts_with_listen(payload)) {
        s.view.warned_listen = true;
        log::warn(
            "client {} ran LISTEN in {} pooling mode: notifications only arrive while it holds "
            "a server connection; use session mode for LISTEN",
            s.view.peer,
            s.options.release == Release::AfterStatement ? "statement" : "transaction");
      }
    }
    if (!s.rewriter) return true;
    auto check =
        s.rewriter->on_client_message(type, payload, length, offset_of(input, payload), edits);
    if (check == statements::Rewriter::Check::Ok) return true;
    malformed = check == statements::Rewriter::Check::Malformed;
    parse_too_large = check == statements::Rewriter::Check::TooLarge;
    bad_type = type;
    return false;
  }
};

// Copies the client's parameter values (shared with other clients) only when one changes.
void set_wanted(ClientView& view, std::string_view name, std::string_view value) {
  const std::string* now = protocol::find_parameter(*view.wanted, name);
  if (now && *now == value) return;
  auto changed = std::make_shared<protocol::Parameters>(*view.wanted);
  protocol::set_parameter(*changed, name, value);
  view.wanted = std::move(changed);
}

struct ServerVisitor {
  RelayState& s;
  std::string_view input;  // what is being scanned
  protocol::Splice& edits;

  FrameVerdict on_header(char type, std::uint32_t) {
    if (type == 'Z' || type == 'E' || type == 'S') return FrameVerdict::Capture;
    if (s.rewriter && (type == '1' || type == '3' || type == 'C')) return FrameVerdict::Capture;
    return FrameVerdict::Forward;
  }
  // Returns false to hold a message back from the client.
  bool on_message(char type, std::string_view payload) {
    if (type == '1' || type == '3') {
      auto reply = type == '1' ? s.rewriter->on_parse_complete() : s.rewriter->on_close_complete();
      std::size_t at = offset_of(input, payload);
      if (reply == statements::Rewriter::Reply::Drop) edits.replace(at, at + 5, {});
      if (reply == statements::Rewriter::Reply::AsParseComplete) {
        using namespace std::string_view_literals;
        edits.replace(at, at + 5, "1\0\0\0\4"sv);
      }
      return true;
    }
    if (type == 'C') {
      s.rewriter->on_command_complete(payload);
      return true;
    }
    if (type == 'Z') {
      if (s.pending_ready > 0) --s.pending_ready;
      if (s.rewriter) s.rewriter->on_ready_for_query();
      s.transaction_status = payload.empty() ? 'E' : payload[0];
      if (s.resetting) s.resetting = false;  // the reset's own ReadyForQuery
      // Statement pooling: a statement left a transaction open. The client gets an error
      // instead of this ReadyForQuery, so it never believes the transaction started.
      if (s.options.release == Release::AfterStatement && s.pending_ready == 0 && !s.unsynced &&
          s.transaction_status != 'I') {
        s.transaction_block_refused = true;
        return false;
      }
      return true;
    }
    if (type == 'S') {
      auto kv = protocol::parse_parameter_status(payload);
      if (!kv) return true;
      s.server.note_parameter(kv->first, kv->second);
      if (!s.resetting && s.view.tracked && protocol::is_tracked(*s.view.tracked, kv->first)) {
        set_wanted(s.view, kv->first, kv->second);
      }
      return true;
    }
    auto fields = protocol::parse_error_response(payload);
    if (s.resetting) s.reset_failed = true;
    if (fields && (fields->severity == "FATAL" || fields->severity == "PANIC")) {
      s.server_sent_fatal = true;
    }
    return true;
  }
};

Error idle_timeout_error(char transaction_status) {
  if (transaction_status == 'I') {
    return make_error(sqlstate::kIdleSessionTimeout,
                      "terminating connection due to idle-session timeout",
                      "client_idle_timeout expired.");
  }
  return make_error(sqlstate::kIdleInTransactionTimeout,
                    "terminating connection due to idle-in-transaction timeout",
                    "idle_transaction_timeout expired.");
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
      buf.consume(scan.consumed);
    }
    if (visitor.parse_too_large) {
      s.outcome.client_error = make_error(
          sqlstate::kProgramLimitExceeded, "statement too large to prepare through pgbalancer",
          fmt::format("A named statement's Parse message may be at most {} bytes in "
                      "transaction and statement pooling modes.",
                      statements::Rewriter::kMaxParseLength));
      s.outcome.end_reason = "Parse message too large";
      break;
    }
    if (scan.status == ScanStatus::Stopped && !visitor.invalid_type && !visitor.malformed) {
      s.outcome.end_reason = "client sent Terminate";
      break;
    }
    if (scan.status != ScanStatus::NeedMore) {
      std::string message = "invalid message length";
      if (visitor.invalid_type) {
        message =
            fmt::format("invalid frontend message type {}", static_cast<int>(visitor.bad_type));
      } else if (visitor.malformed) {
        message = fmt::format("invalid \"{}\" message format", visitor.bad_type);
      }
      s.outcome.client_error = make_error(sqlstate::kProtocolViolation, message);
      s.outcome.end_reason = "protocol violation by the client";
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

// Whether the server connection can go back now.
bool may_release(const RelayState& s, const ByteBuffer& buf,
                 const protocol::FrameScanner& scanner) {
  return s.options.release != Release::AtSessionEnd && !s.client_gone && !s.client_writing &&
         s.nothing_outstanding() && s.transaction_status == 'I' && buf.empty() &&
         scanner.at_boundary();
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
      s.outcome.client_error =
          make_error(sqlstate::kProtocolViolation, "the server sent a malformed message");
      s.server.stream().close();
      client.socket().cancel();
      co_return;
    }
    if (s.transaction_block_refused) {
      s.outcome.client_error =
          make_error(sqlstate::kFeatureNotSupported,
                     "transaction blocks not allowed in statement pooling mode",
                     "Use pool_mode transaction or session for this database or user.");
      s.outcome.end_reason = "transaction block in statement mode";
      s.outcome.session_over = true;
      s.server_gone = true;  // the open transaction dies with the connection
      s.server.stream().close();
      if (s.client_reading) client.socket().cancel();
      co_return;
    }
    if (may_release(s, buf, scanner)) {
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

awaitable<RelayOutcome> relay(net::Stream& client, ByteBuffer& client_buffer,
                              backend::ServerConnection& server, const RelayOptions& options,
                              ClientView& view) {
  using namespace asio::experimental::awaitable_operators;
  auto executor = co_await asio::this_coro::executor;
  client_buffer.reserve(backend::kRelayBufferSize);  // idle clients keep a small one
  RelayState state(options, view, server, executor);
  if (options.max_prepared_statements > 0 && view.registry) {
    server.statements().begin_lease();
    state.rewriter.emplace(*view.registry, view.statements, server.statements(),
                           options.max_prepared_statements);
  }
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
