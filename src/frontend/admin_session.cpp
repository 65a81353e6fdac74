#include "frontend/admin_session.hpp"

#include "admin/console.hpp"
#include "auth/crypto.hpp"
#include "backend/message_reader.hpp"
#include "common/log.hpp"
#include "common/sqlstate.hpp"
#include "pgbalancer_version.hpp"
#include "protocol/byte_reader.hpp"
#include "protocol/message_builder.hpp"
#include "protocol/messages.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <cstring>
#include <map>

namespace pgb::frontend {
namespace {

// Console statements are short; a longer message is a mistake or an attack.
constexpr std::uint32_t kMaxConsoleMessage = 64 * 1024;
// How often a PAUSE looks whether the last server connection has closed.
constexpr std::chrono::milliseconds kPausePoll{50};

std::string row_description(const admin::ResultSet& r) {
  std::vector<protocol::ColumnDescription> columns;
  for (const auto& c : r.columns) {
    columns.push_back({c.name, c.numeric ? protocol::kInt8Oid : protocol::kTextOid});
  }
  return protocol::row_description(columns);
}

// DataRows and CommandComplete: what Execute sends after a Describe sent the RowDescription.
std::string rows_and_tag(const admin::ResultSet& r) {
  std::string out;
  for (const auto& row : r.rows) out += protocol::data_row(row);
  out += protocol::command_complete(fmt::format("{} {}", r.tag, r.rows.size()));
  return out;
}

struct Console {
  net::Stream& client;
  SharedState& shared;
  const std::string& user;
  const std::string& peer;

  // Checked for each command against the settings in force, so a reload that takes a user
  // off the lists takes effect in open sessions too.
  bool may_show() const { return shared.settings()->config.may_see_pool_status(user); }
  bool may_change() const { return shared.settings()->config.is_admin_user(user); }

  Result<admin::ResultSet> show(const std::string& subject) const {
    if (!may_show()) {
      return make_error(sqlstate::kInsufficientPrivilege,
                        "only admin_users and stats_users may use the admin console");
    }
    return admin::show(subject, *shared.operations());
  }

  // One statement: its messages, or an Error (the rest of the Query is then skipped).
  awaitable<Result<std::string>> run(std::string_view statement) {
    auto parsed = admin::parse_console_command(statement);
    if (!parsed) co_return parsed.error();
    auto& ops = *shared.operations();
    using Verb = admin::ConsoleCommand::Verb;
    const auto& [verb, argument] = parsed.value();
    if (verb == Verb::Empty) co_return protocol::empty_query_response();
    if (verb == Verb::Show) {
      auto result = show(argument);
      if (!result) co_return result.error();
      co_return row_description(result.value()) + rows_and_tag(result.value());
    }
    if (!may_change()) {
      co_return make_error(sqlstate::kInsufficientPrivilege,
                           "only admin_users may change pgbalancer's state (stats_users may SHOW)");
    }
    if (verb == Verb::Reload) {
      log::info("admin console: {} ({}) asked for RELOAD", user, peer);
      auto problems = ops.reload();
      if (!problems.empty()) {
        co_return make_error(sqlstate::kInternalError,
                             "the configuration file has problems; the previous settings stay "
                             "in force",
                             fmt::format("{}", fmt::join(problems, "\n")));
      }
      co_return protocol::command_complete("RELOAD");
    }
    const std::string what = argument.empty() ? "every database" : "database " + argument;
    if (verb == Verb::Resume) {
      if (auto refused = ops.resume(argument))
        co_return make_error(sqlstate::kObjectNotInState, *refused);
      log::info("admin console: {} resumed {}", user, what);
      co_return protocol::command_complete("RESUME");
    }
    if (auto refused = ops.pause(argument))
      co_return make_error(sqlstate::kObjectNotInState, *refused);
    log::info("admin console: {} paused {}; waiting for its server connections to close", user,
              what);
    // As pgbouncer's PAUSE: returns once every server connection has been given back (and
    // closed), i.e. every transaction (every session, in session mode) has ended.
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (ops.server_connections(argument) > 0) {
      if (!ops.paused(argument)) {
        co_return make_error(sqlstate::kObjectNotInState,
                             what + " was resumed before the pause completed");
      }
      if (client.peer_closed()) {  // nobody to answer; the pause itself stays in force
        co_return make_error(sqlstate::kConnectionFailure, "the console client left");
      }
      timer.expires_after(kPausePoll);
      co_await timer.async_wait(use_nothrow);
    }
    log::info("admin console: {} paused", what);
    co_return protocol::command_complete("PAUSE");
  }

  // Runs a simple Query's statements, sending each answer as it is ready (a Query of many
  // SHOW CLIENTS must not pile up in memory). False if the client is gone.
  awaitable<bool> query(std::string_view text) {
    auto statements = admin::split_statements(text);
    if (statements.empty()) {
      auto empty = protocol::empty_query_response();
      co_return !co_await client.write_all(asio::buffer(empty));
    }
    for (auto statement : statements) {
      auto done = co_await run(statement);
      std::string out =
          done ? std::move(done.value()) : protocol::error_response(done.error(), "ERROR");
      if (co_await client.write_all(asio::buffer(out))) co_return false;
      if (!done) break;
    }
    co_return true;
  }
};

std::string greeting() {
  std::string out;
  // What psql and drivers expect to be told; server_version is pgbalancer's own, as
  // pgbouncer's console does (psql warns about the version, and works).
  for (auto [name, value] : {std::pair{"server_version", std::string_view(kVersion)},
                             {"server_encoding", "UTF8"},
                             {"client_encoding", "UTF8"},
                             {"DateStyle", "ISO, MDY"},
                             {"integer_datetimes", "on"},
                             {"standard_conforming_strings", "on"},
                             {"TimeZone", "UTC"},
                             {"application_name", "pgbalancer admin console"}}) {
    out += protocol::parameter_status(name, value);
  }
  std::int32_t key;
  auto random = auth::random_bytes(sizeof key);
  std::memcpy(&key, random.data(), sizeof key);
  out += protocol::backend_key_data(0, key);  // nothing to cancel
  out += protocol::ready_for_query('I');
  return out;
}

Error malformed(char type) {
  return make_error(sqlstate::kProtocolViolation,
                    fmt::format("invalid \"{}\" message format", type));
}

// The extended query protocol, for drivers that use it for every statement (psycopg 3, JDBC):
// statements without parameters, text results. Describe runs a SHOW to learn its columns and
// keeps the rows for the Execute that follows.
class Extended {
 public:
  explicit Extended(Console& console) : console_(console) {}

  // Messages to send, or an Error after which everything up to Sync is skipped.
  awaitable<Result<std::string>> on_message(char type, std::string_view payload) {
    protocol::ByteReader r(payload);
    switch (type) {
      case 'P': {
        auto name = r.cstr();
        auto text = r.cstr();
        auto params = r.int16();
        if (!name || !text || !params) co_return malformed(type);
        if (*params > 0) co_return no_parameters();
        statements_[std::string(*name)] = std::string(*text);
        co_return std::string("1\0\0\0\4", 5);  // ParseComplete
      }
      case 'B': {
        auto portal = r.cstr();
        auto statement = r.cstr();
        if (!portal || !statement) co_return malformed(type);
        auto it = statements_.find(std::string(*statement));
        if (it == statements_.end()) co_return unknown("prepared statement", *statement);
        auto formats = r.int16();
        for (int i = 0; formats && i < *formats; ++i) r.int16();
        auto values = r.int16();
        if (!values) co_return malformed(type);
        if (*values > 0) co_return no_parameters();
        auto results = r.int16();
        for (int i = 0; results && i < *results; ++i) {
          if (r.int16().value_or(0) != 0) {
            co_return make_error(sqlstate::kFeatureNotSupported,
                                 "the pgbalancer admin console answers in text format only");
          }
        }
        portals_[std::string(*portal)] = Portal{it->second, std::nullopt};
        co_return std::string("2\0\0\0\4", 5);  // BindComplete
      }
      case 'D': {
        auto kind = r.byte();
        auto name = r.cstr();
        if (!kind || !name) co_return malformed(type);
        if (*kind == 'S') {
          auto it = statements_.find(std::string(*name));
          if (it == statements_.end()) co_return unknown("prepared statement", *name);
          auto described = describe(it->second, nullptr);
          if (!described) co_return described.error();
          co_return parameter_description_none() + described.value();
        }
        auto it = portals_.find(std::string(*name));
        if (it == portals_.end()) co_return unknown("portal", *name);
        co_return describe(it->second.text, &it->second.rows);
      }
      case 'E': {
        auto name = r.cstr();
        if (!name) co_return malformed(type);
        auto it = portals_.find(std::string(*name));
        if (it == portals_.end()) co_return unknown("portal", *name);
        if (it->second.rows) co_return *it->second.rows;
        if (auto subject = show_subject(it->second.text)) {  // Execute without Describe
          auto result = console_.show(*subject);
          if (!result) co_return result.error();
          co_return rows_and_tag(result.value());
        }
        co_return co_await console_.run(it->second.text);
      }
      case 'C': {
        auto kind = r.byte();
        auto name = r.cstr();
        if (!kind || !name) co_return malformed(type);
        if (*kind == 'S') statements_.erase(std::string(*name));
        if (*kind == 'P') portals_.erase(std::string(*name));
        co_return std::string("3\0\0\0\4", 5);  // CloseComplete
      }
      default:  // Flush: everything is sent at once anyway
        co_return std::string();
    }
  }

 private:
  struct Portal {
    std::string text;
    std::optional<std::string> rows;  // DataRows and CommandComplete, kept by Describe
  };

  // The subject of a SHOW statement; nothing for the other commands.
  static std::optional<std::string> show_subject(const std::string& text) {
    auto parsed = admin::parse_console_command(text);
    if (!parsed || parsed->verb != admin::ConsoleCommand::Verb::Show) return std::nullopt;
    return parsed->argument;
  }

  // A SHOW's RowDescription, its rows kept in `rows` for the Execute to come (a portal's);
  // NoData for the other commands, which run at Execute.
  Result<std::string> describe(const std::string& text, std::optional<std::string>* rows) {
    auto parsed = admin::parse_console_command(text);
    if (!parsed) return parsed.error();
    if (parsed->verb != admin::ConsoleCommand::Verb::Show) {
      return std::string("n\0\0\0\4", 5);  // NoData
    }
    auto result = console_.show(parsed->argument);
    if (!result) return result.error();
    if (rows) *rows = rows_and_tag(result.value());
    return row_description(result.value());
  }
  static std::string parameter_description_none() {
    return protocol::MessageBuilder().begin('t').int16(0).end().take();
  }
  static Error no_parameters() {
    return make_error(sqlstate::kFeatureNotSupported,
                      "pgbalancer admin console commands take no parameters");
  }
  static Error unknown(std::string_view what, std::string_view name) {
    return make_error(sqlstate::kInvalidStatementName,
                      fmt::format("{} \"{}\" does not exist", what, name));
  }

  Console& console_;
  std::map<std::string, std::string> statements_;
  std::map<std::string, Portal> portals_;
};

}  // namespace

awaitable<void> run_admin_session(net::Stream& client, ByteBuffer& buffer, SharedState& shared,
                                  const std::string& user, const std::string& peer) {
  Console console{client, shared, user, peer};
  if (!console.may_show()) {
    log::warn("admin console: {} refused to {}: not in admin_users or stats_users", user, peer);
    auto refusal = protocol::error_response(
        make_error(sqlstate::kInvalidAuthorization,
                   fmt::format("user \"{}\" may not use the pgbalancer admin console", user),
                   "Only users listed in admin_users or stats_users may."));
    co_await client.write_all(asio::buffer(refusal));
    co_return;
  }
  log::info("admin console: {} connected from {} ({})", user, peer,
            console.may_change() ? "admin" : "stats only");
  auto hello = greeting();
  if (co_await client.write_all(asio::buffer(hello))) co_return;

  Extended extended(console);
  bool skipping = false;  // an extended-protocol error was sent: skipping until Sync
  for (;;) {
    auto message = co_await backend::read_message(client, buffer, kMaxConsoleMessage);
    if (!message) {
      if (message.error().sqlstate != sqlstate::kConnectionFailure) {
        auto fatal = protocol::error_response(message.error());
        co_await client.write_all(asio::buffer(fatal));
      }
      co_return;
    }
    std::string reply;
    const char type = message->type;
    if (type == 'X') co_return;
    if (type == 'Q') {
      std::string_view text = message->payload;
      if (!text.empty() && text.back() == '\0') text.remove_suffix(1);
      if (!co_await console.query(text)) co_return;
      reply = protocol::ready_for_query('I');
    } else if (type == 'S') {
      skipping = false;
      reply = protocol::ready_for_query('I');
    } else if (std::string_view("PBDECH").find(type) != std::string_view::npos) {
      if (!skipping) {
        auto done = co_await extended.on_message(type, message->payload);
        if (done) {
          reply = std::move(done.value());
        } else {
          skipping = true;
          reply = protocol::error_response(done.error(), "ERROR");
        }
      }
    } else {
      auto fatal = protocol::error_response(
          make_error(sqlstate::kProtocolViolation,
                     fmt::format("invalid frontend message type {}", static_cast<int>(type))));
      co_await client.write_all(asio::buffer(fatal));
      co_return;
    }
    if (!reply.empty() && co_await client.write_all(asio::buffer(reply))) co_return;
  }
}

}  // namespace pgb::frontend
