// What a relay tracks of the conversation between a client and the server connection it
// holds, and what it decides from each message: shared by both relays (the coroutine one for
// session mode and TLS clients, the event-loop one for plain-TCP transaction pooling), so the
// protocol rules exist once.
//
// ReadyForQuery's status byte, with the count of requests still unanswered, is the one place
// that decides whether the server connection is idle (as in pgbouncer's server.c); in
// transaction and statement modes that is when it goes back.
#pragma once

#include "backend/server_connection.hpp"
#include "frontend/relay.hpp"
#include "protocol/frame_scanner.hpp"
#include "protocol/splice.hpp"

#include <optional>
#include <string_view>

namespace pgb::frontend {

struct RelayRules {
  RelayRules(const RelayOptions& o, ClientView& v, backend::ServerConnection& s);
  RelayRules(const RelayRules&) = delete;
  RelayRules& operator=(const RelayRules&) = delete;
  ~RelayRules();  // reports what is left to report

  const RelayOptions& options;
  ClientView& view;
  backend::ServerConnection& server;

  // Requests sent that will each end with a ReadyForQuery: Query, Sync, FunctionCall.
  int pending_ready = 0;
  // Extended-protocol messages sent since the last Sync: the server may hold an open batch.
  bool unsynced = false;
  char transaction_status = 'I';  // from the last ReadyForQuery
  bool client_mid_message = false;
  bool resetting = false;  // session mode: the reset query runs; server output is ours
  bool reset_failed = false;
  bool server_sent_fatal = false;
  bool transaction_block_refused = false;        // statement mode saw BEGIN (or similar) succeed
  std::optional<statements::Rewriter> rewriter;  // named prepared statements across servers
  // For the statistics (ClientView::stats): when the request answered by the next
  // ReadyForQuery and the current transaction began, and bytes relayed not yet added.
  std::chrono::steady_clock::time_point request_started, transaction_started;
  // The event loop's wake-up time (the loop relay), read instead of the clock; null: read it.
  const std::chrono::steady_clock::time_point* loop_time = nullptr;
  std::uint64_t bytes_received = 0, bytes_sent = 0;

  // A client message that opens a request (nothing outstanding before it).
  void request_starting();
  // The server's ReadyForQuery (not the session reset's): a query, perhaps a transaction, ended.
  void request_answered();

  bool server_idle() const { return pending_ready == 0 && !unsynced && transaction_status == 'I'; }
  bool nothing_outstanding() const {
    return pending_ready == 0 && !unsynced && !client_mid_message;
  }
  // The idle timeout that applies now: none while the client waits for the server.
  std::chrono::milliseconds idle_timeout() const {
    if (pending_ready > 0 || unsynced) return std::chrono::milliseconds{0};
    return transaction_status == 'I' ? options.client_idle_timeout
                                     : options.idle_transaction_timeout;
  }
};

// Client → server: counts requests, sees LISTEN, and rewrites statement names.
struct ClientVisitor {
  RelayRules& s;
  std::string_view input;  // what is being scanned
  protocol::Splice& edits;
  std::uint32_t length = 0;  // of the message on_header saw last
  bool invalid_type = false;
  char bad_type = 0;
  bool malformed = false;
  bool parse_too_large = false;

  protocol::FrameVerdict on_header(char type, std::uint32_t message_length);
  // A message held back by the last scan (this visitor is new): its length, counted already.
  void on_header_again(char, std::uint32_t message_length) { length = message_length; }
  bool on_message(char type, std::string_view payload);

  bool failed() const { return invalid_type || malformed || parse_too_large; }
  // Why the client is disconnected when the scan stopped short of Terminate.
  Error error() const;
};

// Server → client: ReadyForQuery, ParameterStatus, errors, and the replies the statement
// rewriting added or changed.
struct ServerVisitor {
  RelayRules& s;
  std::string_view input;  // what is being scanned
  protocol::Splice& edits;

  protocol::FrameVerdict on_header(char type, std::uint32_t);
  // Returns false to hold a message back from the client.
  bool on_message(char type, std::string_view payload);
};

// Whether the server connection can go back now: not while the client's input is being sent
// (`client_writing`), nor while server output is left unrelayed or cut mid-message.
bool may_release(const RelayRules& s, bool client_writing, bool client_gone,
                 bool server_input_pending, bool server_scan_at_boundary);

Error idle_timeout_error(char transaction_status);
// A request between transactions that starts with no frontend message type.
Error invalid_request_error();
Error transaction_block_error();
Error server_closed_error();
Error server_malformed_error();

}  // namespace pgb::frontend
