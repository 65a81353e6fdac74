// The protocol rules both relays apply to each message.
#include "frontend/relay_rules.hpp"

#include "admin/console.hpp"
#include "common/log.hpp"
#include "common/sqlstate.hpp"
#include "protocol/byte_reader.hpp"
#include "protocol/codes.hpp"
#include "protocol/message_builder.hpp"
#include "protocol/messages.hpp"
#include "protocol/parameters.hpp"

#include <fmt/format.h>

namespace pgb::frontend {
namespace {

using protocol::FrameVerdict;

// "SHOW POOL_PROCESSES;" and some spacing: longer Query messages are not looked at for it.
constexpr std::uint32_t kMaxPgpoolShowLength = 64;

// What a user not allowed to see the pooler's status gets instead (no client text in it).
constexpr std::string_view kPoolStatusRefused =
    "DO $pgb$BEGIN RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'permission denied for "
    "SHOW POOL_NODES, POOL_PROCESSES and POOL_VERSION', HINT = 'pgbalancer answers them for users "
    "in admin_users or stats_users.'; END$pgb$";

// A Query, or an unnamed Parse without parameters, of pgpool-II's SHOW POOL_*: the message
// that replaces it. (A named statement would be prepared once and then answer old rows, so it
// goes to PostgreSQL untouched, and fails there.)
std::optional<std::string> pgpool_show_as_select(char type, std::string_view payload,
                                                 admin::Operations& operations, bool allowed) {
  std::string_view text = payload;
  if (type == 'P') {
    protocol::ByteReader reader(payload);
    auto name = reader.cstr();
    auto query = reader.cstr();
    auto parameters = reader.int16();
    if (!name || !name->empty() || !query || parameters.value_or(1) != 0) return std::nullopt;
    text = *query;
  } else if (!text.empty() && text.back() == '\0') {
    text.remove_suffix(1);
  }
  auto subject = admin::pgpool_show_subject(text);
  if (!subject) return std::nullopt;
  auto select = allowed ? admin::as_select(admin::show(*subject, operations).value())
                        : std::string(kPoolStatusRefused);
  if (type == 'Q') return protocol::query(select);
  return protocol::MessageBuilder().begin('P').cstr("").cstr(select).int16(0).end().take();
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

// Copies the client's parameter values (shared with other clients) only when one changes.
void set_wanted(ClientView& view, std::string_view name, std::string_view value) {
  const std::string* now = protocol::find_parameter(*view.wanted, name);
  if (now && *now == value) return;
  auto changed = std::make_shared<protocol::Parameters>(*view.wanted);
  protocol::set_parameter(*changed, name, value);
  view.wanted = std::move(changed);
}

}  // namespace

RelayRules::RelayRules(const RelayOptions& o, ClientView& v, backend::ServerConnection& s)
    : options(o), view(v), server(s) {
  if (view.info) view.info->set_backend_pid(server.process_id());
  if (options.max_prepared_statements > 0 && view.registry) {
    server.statements().begin_lease();
    rewriter.emplace(*view.registry, view.statements, server.statements(),
                     options.max_prepared_statements);
  }
}

RelayRules::~RelayRules() {
  if (view.stats) view.stats->add_bytes(bytes_received, bytes_sent);
  if (view.info) view.info->set_backend_pid(0);
}

void RelayRules::request_starting() {
  request_started = loop_time ? *loop_time : std::chrono::steady_clock::now();
  if (transaction_status == 'I') transaction_started = request_started;
  if (view.info) view.info->set_state(ClientState::Active);
}

void RelayRules::request_answered() {
  const auto now = loop_time ? *loop_time : std::chrono::steady_clock::now();
  using std::chrono::duration_cast, std::chrono::microseconds;
  if (view.stats) {
    view.stats->add_query(duration_cast<microseconds>(now - request_started));
    if (transaction_status == 'I') {
      view.stats->add_transaction(duration_cast<microseconds>(now - transaction_started));
    }
    view.stats->add_bytes(std::exchange(bytes_received, 0), std::exchange(bytes_sent, 0));
  }
  // A pipelined request already sent is timed from the answer before it.
  request_started = now;
  if (transaction_status == 'I') transaction_started = now;
  if (view.info && pending_ready == 0 && !unsynced) {
    view.info->set_state(transaction_status == 'I' ? ClientState::Idle
                                                   : ClientState::IdleInTransaction);
  }
}

FrameVerdict ClientVisitor::on_header(char type, std::uint32_t message_length) {
  length = message_length;
  if (!protocol::is_frontend_message_type(type)) {
    invalid_type = true;
    bad_type = type;
    return FrameVerdict::StopBefore;
  }
  if (type != 'X' && s.pending_ready == 0 && !s.unsynced) s.request_starting();
  switch (type) {
    case 'X': return FrameVerdict::StopBefore;
    case 'Q':
      ++s.pending_ready;
      if (s.rewriter) s.rewriter->on_ready_request();
      // LISTEN only hears notifications while the client holds this server connection.
      if (s.rewriter || (s.options.release != Release::AtSessionEnd && !s.view.warned_listen)) {
        return FrameVerdict::Capture;
      }
      if (s.view.operations && message_length <= kMaxPgpoolShowLength) {
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
      if (type == 'P' && s.view.operations && message_length <= kMaxPgpoolShowLength) {
        return FrameVerdict::Capture;
      }
      break;
    default: break;
  }
  return FrameVerdict::Forward;
}

bool ClientVisitor::on_message(char type, std::string_view payload) {
  if ((type == 'Q' || type == 'P') && s.view.operations && length <= kMaxPgpoolShowLength) {
    if (auto select =
            pgpool_show_as_select(type, payload, *s.view.operations, s.view.may_see_pool_status)) {
      // The server answers it, in order with everything else: the statement becomes a SELECT
      // of pgbalancer's rows.
      std::size_t at = offset_of(input, payload);
      edits.replace(at, at + 5 + payload.size(), *select);
      if (type == 'Q') return true;
    }
  }
  if (type == 'Q' && !s.view.warned_listen && s.options.release != Release::AtSessionEnd) {
    if (starts_with_listen(payload)) {
      s.view.warned_listen = true;
      log::warn(
          "client {} ran LISTEN in {} pooling mode: notifications only arrive while it holds "
          "a server connection; use session mode for LISTEN",
          s.view.peer, s.options.release == Release::AfterStatement ? "statement" : "transaction");
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

Error ClientVisitor::error() const {
  if (parse_too_large) {
    return make_error(sqlstate::kProgramLimitExceeded,
                      "statement too large to prepare through pgbalancer",
                      fmt::format("A named statement's Parse message may be at most {} bytes in "
                                  "transaction and statement pooling modes.",
                                  statements::Rewriter::kMaxParseLength));
  }
  std::string message = "invalid message length";
  if (invalid_type) {
    message = fmt::format("invalid frontend message type {}", static_cast<int>(bad_type));
  } else if (malformed) {
    message = fmt::format("invalid \"{}\" message format", bad_type);
  }
  return make_error(sqlstate::kProtocolViolation, message);
}

FrameVerdict ServerVisitor::on_header(char type, std::uint32_t) {
  if (type == 'Z' || type == 'E' || type == 'S') return FrameVerdict::Capture;
  if (s.rewriter && (type == '1' || type == '3' || type == 'C')) return FrameVerdict::Capture;
  return FrameVerdict::Forward;
}

bool ServerVisitor::on_message(char type, std::string_view payload) {
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
    if (s.resetting) {
      s.resetting = false;  // the reset's own ReadyForQuery
    } else {
      s.request_answered();
    }
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

bool may_release(const RelayRules& s, bool client_writing, bool client_gone,
                 bool server_input_pending, bool server_scan_at_boundary) {
  return s.options.release != Release::AtSessionEnd && !client_gone && !client_writing &&
         s.nothing_outstanding() && s.transaction_status == 'I' && !server_input_pending &&
         server_scan_at_boundary;
}

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

Error invalid_request_error() {
  return make_error(sqlstate::kProtocolViolation, "invalid frontend message type");
}

Error transaction_block_error() {
  return make_error(sqlstate::kFeatureNotSupported,
                    "transaction blocks not allowed in statement pooling mode",
                    "Use pool_mode transaction or session for this database or user.");
}

Error server_closed_error() {
  return make_error(sqlstate::kConnectionFailure, "server closed the connection unexpectedly",
                    "The PostgreSQL server process ended or the network failed.");
}

Error server_malformed_error() {
  return make_error(sqlstate::kProtocolViolation, "the server sent a malformed message");
}

}  // namespace pgb::frontend
