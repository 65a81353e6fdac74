#include "statements/rewriter.hpp"

#include "protocol/byte_reader.hpp"
#include "protocol/message_builder.hpp"

namespace pgb::statements {
namespace {

// Closing a statement that does not exist is no error (protocol docs, "Close"): this name is
// never prepared, since every statement pgbalancer prepares is pgbalancer_<number>.
constexpr std::string_view kNoSuchStatement = "pgbalancer_none";

std::string parse_message(const Statement& s) {
  return protocol::MessageBuilder().begin('P').cstr(s.server_name).bytes(s.parse_tail).end().take();
}

std::string statement_message(char type, std::string_view name) {
  return protocol::MessageBuilder().begin(type).byte('S').cstr(name).end().take();
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

// Splits off the next word (an identifier, or a double-quoted one with its quotes).
std::string_view next_word(std::string_view& sql) {
  while (!sql.empty() && is_space(sql.front())) sql.remove_prefix(1);
  std::size_t n = 0;
  if (!sql.empty() && sql.front() == '"') {
    n = sql.find('"', 1);
    n = n == std::string_view::npos ? sql.size() : n + 1;
  } else {
    while (n < sql.size() && !is_space(sql[n]) && sql[n] != ';') ++n;
  }
  auto word = sql.substr(0, n);
  sql.remove_prefix(n);
  return word;
}

bool word_is(std::string_view word, std::string_view keyword) {
  if (word.size() != keyword.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if ((word[i] | 0x20) != keyword[i]) return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> deallocate_target(std::string_view sql) {
  if (!sql.empty() && sql.back() == '\0') sql.remove_suffix(1);
  if (!word_is(next_word(sql), "deallocate")) return std::nullopt;
  auto name = next_word(sql);
  if (word_is(name, "prepare")) name = next_word(sql);
  while (!sql.empty() && (is_space(sql.front()) || sql.front() == ';')) sql.remove_prefix(1);
  if (name.empty() || !sql.empty() || word_is(name, "all")) return std::nullopt;
  if (name.front() == '"') {
    if (name.size() < 3 || name.back() != '"') return std::nullopt;
    return std::string(name.substr(1, name.size() - 2));
  }
  std::string folded(name);
  for (auto& c : folded) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
  }
  return folded;
}

protocol::FrameVerdict Rewriter::verdict_for(char type, std::uint32_t length) {
  switch (type) {
    case 'P':
      return length - 4 <= kMaxParseLength ? protocol::FrameVerdict::CaptureWhole
                                           : protocol::FrameVerdict::CapturePrefix;
    case 'B': return protocol::FrameVerdict::CapturePrefix;
    case 'D':
    case 'C':
    case 'Q': return protocol::FrameVerdict::Capture;
    default: return protocol::FrameVerdict::Forward;
  }
}

Rewriter::Check Rewriter::on_client_message(char type, std::string_view payload,
                                            std::uint32_t length, std::size_t at,
                                            protocol::Splice& out) {
  bool ok = true;
  switch (type) {
    case 'P':
      if (payload.size() < length - 4) return on_large_parse(payload);
      ok = on_parse(payload, length, at, out);
      break;
    case 'B': ok = on_bind(payload, length, at, out); break;
    case 'D':
    case 'C': ok = on_describe_or_close(type, payload, length, at, out); break;
    case 'Q': ok = on_query(payload, length, at, out); break;
    default: break;
  }
  return ok ? Check::Ok : Check::Malformed;
}

Rewriter::Check Rewriter::on_large_parse(std::string_view start) {
  protocol::ByteReader reader(start);
  auto name = reader.cstr();
  if (!name) return Check::Malformed;
  if (!name->empty()) return Check::TooLarge;
  push(parses_, Reply::Relay);
  return Check::Ok;
}

void Rewriter::push(Fifo<Pending>& queue, Reply action, StatementRef statement,
                    std::string client_name) {
  queue.push_back({action, std::move(statement), std::move(client_name), ready_requests_});
}

void Rewriter::make_room(std::size_t at, protocol::Splice& out) {
  while (auto evicted = server_.make_room(capacity_)) {
    out.insert(at, statement_message('C', evicted->server_name));
    push(closes_, Reply::Drop, std::move(evicted));
  }
}

void Rewriter::ensure_prepared(const StatementRef& statement, std::size_t at,
                               protocol::Splice& out) {
  if (server_.use(*statement)) return;
  make_room(at, out);
  server_.add(statement);
  out.insert(at, parse_message(*statement));
  push(parses_, Reply::Drop, statement);
}

bool Rewriter::on_parse(std::string_view payload, std::uint32_t length, std::size_t at,
                        protocol::Splice& out) {
  protocol::ByteReader reader(payload);
  auto name = reader.cstr();
  if (!name) return false;
  if (name->empty()) {  // the unnamed statement lives within one lease: relayed as it is
    auto query = reader.cstr();
    auto target = query ? take_deallocated(*query) : std::nullopt;
    if (target) {
      // psycopg sends its DEALLOCATE this way (extended protocol, unnamed statement)
      protocol::MessageBuilder rewritten;
      rewritten.begin('P').cstr("").cstr("DEALLOCATE " + target->statement->server_name);
      rewritten.bytes(reader.rest());
      ensure_prepared(target->statement, at, out);  // its Parse goes first, and so its reply
      out.replace(at, at + 1 + length, rewritten.end().data());
    }
    push(parses_, Reply::Relay);
    if (target) {
      push(deallocates_, Reply::Relay, std::move(target->statement),
           std::move(target->client_name));
    }
    return true;
  }
  auto statement = registry_.intern(reader.rest());
  client_.insert_or_assign(std::string(*name), statement);
  std::size_t end = at + 1 + length;
  if (server_.use(*statement)) {
    out.replace(at, end, statement_message('C', kNoSuchStatement));
    push(closes_, Reply::AsParseComplete, statement, std::string(*name));
    return true;
  }
  make_room(at, out);
  server_.add(statement);
  out.replace(at, end, parse_message(*statement));
  push(parses_, Reply::Relay, statement, std::string(*name));
  return true;
}

bool Rewriter::on_bind(std::string_view payload, std::uint32_t length, std::size_t at,
                       protocol::Splice& out) {
  protocol::ByteReader reader(payload);
  auto portal = reader.cstr();
  auto name = portal ? reader.cstr() : std::nullopt;
  if (!name) return false;  // also names longer than the captured start: no real client's
  if (name->empty()) return true;
  auto it = client_.find(*name);
  if (it == client_.end()) return true;  // the server answers "does not exist" by this name
  const Statement& statement = *it->second;
  ensure_prepared(it->second, at, out);
  std::size_t names_end = portal->size() + 1 + name->size() + 1;
  auto new_length = static_cast<std::int32_t>(length - name->size() + statement.server_name.size());
  protocol::MessageBuilder start;
  start.byte('B').int32(new_length).cstr(*portal).cstr(statement.server_name);
  out.replace(at, at + 5 + names_end, start.data());
  return true;
}

std::optional<Rewriter::Pending> Rewriter::take_deallocated(std::string_view sql) {
  auto name = deallocate_target(sql);
  auto it = name ? client_.find(*name) : client_.end();
  if (it == client_.end()) return std::nullopt;  // not a client's statement: the server answers
  Pending taken{Reply::Relay, std::move(it->second), std::move(*name), 0};
  client_.erase(it);
  return taken;
}

bool Rewriter::on_query(std::string_view payload, std::uint32_t length, std::size_t at,
                        protocol::Splice& out) {
  auto target = take_deallocated(payload);
  if (!target) return true;
  // This Query's ReadyForQuery is counted already; what is sent for it comes before that.
  --ready_requests_;
  // PostgreSQL refuses to deallocate a statement it does not have, so it is prepared first.
  ensure_prepared(target->statement, at, out);
  std::string sql = "DEALLOCATE " + target->statement->server_name;
  out.replace(at, at + 1 + length, protocol::MessageBuilder().begin('Q').cstr(sql).end().data());
  push(deallocates_, Reply::Relay, std::move(target->statement), std::move(target->client_name));
  ++ready_requests_;
  return true;
}

bool Rewriter::on_describe_or_close(char type, std::string_view payload, std::uint32_t length,
                                    std::size_t at, protocol::Splice& out) {
  protocol::ByteReader reader(payload);
  auto kind = reader.byte();
  auto name = kind ? reader.cstr() : std::nullopt;
  if (!name) return false;
  auto it = *kind == 'S' && !name->empty() ? client_.find(*name) : client_.end();
  if (it == client_.end()) {
    if (type == 'C') push(closes_, Reply::Relay);
    return true;
  }
  std::size_t end = at + 1 + length;
  if (type == 'C') {
    // The server copy stays for other clients and later reuse; the client's name goes.
    push(closes_, Reply::Relay, it->second, std::string(*name));
    client_.erase(it);
    out.replace(at, end, statement_message('C', kNoSuchStatement));
    return true;
  }
  StatementRef statement = it->second;
  ensure_prepared(statement, at, out);
  out.replace(at, end, statement_message('D', statement->server_name));
  return true;
}

Rewriter::Reply Rewriter::on_parse_complete() {
  if (parses_.empty()) return Reply::Relay;
  auto action = parses_.front().action;
  parses_.pop_front();
  return action;
}

Rewriter::Reply Rewriter::on_close_complete() {
  if (closes_.empty()) return Reply::Relay;
  auto action = closes_.front().action;
  closes_.pop_front();
  return action;
}

void Rewriter::forget_client_name(const Pending& skipped) {
  if (skipped.client_name.empty()) return;
  auto it = client_.find(skipped.client_name);
  if (it != client_.end() && it->second == skipped.statement) client_.erase(it);
}

void Rewriter::on_ready_for_query() {
  ++ready_received_;
  // What is still queued for an earlier ReadyForQuery was skipped after an error (or, for a
  // Parse, failed): undo what was recorded when it was sent.
  while (!parses_.empty() && parses_.front().ready < ready_received_) {
    auto& failed = parses_.front();
    if (failed.statement) server_.forget(failed.statement->id);
    forget_client_name(failed);
    parses_.pop_front();
  }
  // A rewritten DEALLOCATE that failed: the statement is still there, for the client too.
  while (!deallocates_.empty() && deallocates_.front().ready < ready_received_) {
    auto& failed = deallocates_.front();
    client_.try_emplace(std::move(failed.client_name), std::move(failed.statement));
    deallocates_.pop_front();
  }
  while (!closes_.empty() && closes_.front().ready < ready_received_) {
    auto& skipped = closes_.front();
    if (skipped.action == Reply::Drop) {
      server_.add(std::move(skipped.statement));  // the evicted statement is still there
    } else if (skipped.action == Reply::AsParseComplete) {
      forget_client_name(skipped);
    } else if (skipped.statement) {
      client_.try_emplace(std::move(skipped.client_name), std::move(skipped.statement));
    }
    closes_.pop_front();
  }
}

void Rewriter::on_command_complete(std::string_view tag) {
  using namespace std::string_view_literals;
  if (tag == "DISCARD ALL\0"sv || tag == "DEALLOCATE ALL\0"sv) {
    server_.clear();
    client_.clear();
  } else if (tag == "DEALLOCATE\0"sv && !deallocates_.empty() &&
             deallocates_.front().ready == ready_received_) {
    server_.forget(deallocates_.front().statement->id);
    deallocates_.pop_front();
  }
}

}  // namespace pgb::statements
