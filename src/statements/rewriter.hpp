// Named prepared statements across server connections (transaction and statement pooling).
//
// A client's statement names are its own; on the server each distinct statement is
// "pgbalancer_<id>", prepared on a connection the first time a client that leases it needs
// it. Client messages that name a statement are rewritten on the way through; the
// rewriting never invents a reply the server did not send:
//  - Parse of a statement the connection already has becomes a Close of a name that does
//    not exist, whose CloseComplete goes back to the client as the ParseComplete it expects;
//  - Bind or Describe of a statement the connection lacks gets a Parse put before it, whose
//    ParseComplete is dropped (as is the CloseComplete of a Close evicting an old statement);
//  - Close of a client's statement forgets the name and becomes a Close of a name that does
//    not exist, so the client still gets its CloseComplete.
//  - SQL "DEALLOCATE name" of a client's statement (psycopg sends it to evict one, as the
//    unnamed statement of an extended-protocol query) becomes
//    the same for the server's name, preceded by a Parse if the connection lacks it;
//  - a completed DISCARD ALL or DEALLOCATE ALL empties the client's and connection's lists.
// Replies are matched to these requests in order; a request the server skipped after an
// error is known to be unanswered at the next ReadyForQuery.
#pragma once

#include "protocol/frame_scanner.hpp"
#include "protocol/splice.hpp"
#include "statements/registry.hpp"
#include "statements/server_cache.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pgb::statements {

struct NameHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
// A client's prepared statements by the names it gave them.
using ClientStatements = std::unordered_map<std::string, StatementRef, NameHash, std::equal_to<>>;

// The statement name of a query that is exactly "DEALLOCATE [PREPARE] name" (as PostgreSQL
// reads the name: folded to lower case unless double-quoted), else nothing.
std::optional<std::string> deallocate_target(std::string_view sql);

// A FIFO that allocates nothing while it has never been used: a Rewriter is made for every
// lease, and most see no named statement at all (std::deque allocates when constructed).
template <class T>
class Fifo {
 public:
  bool empty() const { return head_ == items_.size(); }
  T& front() { return items_[head_]; }
  void push_back(T item) { items_.push_back(std::move(item)); }
  void pop_front() {
    items_[head_] = T();
    if (++head_ == items_.size()) {
      items_.clear();
      head_ = 0;
    }
  }

 private:
  std::vector<T> items_;
  std::size_t head_ = 0;
};

class Rewriter {
 public:
  // A named statement's Parse is held in memory whole (and kept while the statement is in
  // use), so it may be at most this large; PostgreSQL itself allows 1 GB. A larger unnamed
  // one streams through.
  static constexpr std::uint32_t kMaxParseLength = 1 << 20;

  Rewriter(Registry& registry, ClientStatements& client, ServerCache& server, std::size_t capacity)
      : registry_(registry), client_(client), server_(server), capacity_(capacity) {}

  // Client → server: how much of each message must be seen. Parse whole (the start of one
  // over kMaxParseLength); a Bind's start (its names); Describe, Close and Query whole (Query
  // for SQL-level DEALLOCATE). `length` is the protocol's length field.
  static protocol::FrameVerdict verdict_for(char type, std::uint32_t length);

  // A client message, `at` bytes into the input being relayed; `payload` is whole, or the
  // start of a large Bind or Parse. Edits go to `out`.
  enum class Check { Ok, Malformed, TooLarge };
  Check on_client_message(char type, std::string_view payload, std::uint32_t length, std::size_t at,
                          protocol::Splice& out);
  // A Query, Sync or FunctionCall goes to the server: each ends with a ReadyForQuery. Call
  // before on_client_message for that message.
  void on_ready_request() { ++ready_requests_; }

  // Server → client.
  enum class Reply { Relay, Drop, AsParseComplete };
  Reply on_parse_complete();
  Reply on_close_complete();
  void on_ready_for_query();
  // A CommandComplete; `tag` includes its NUL.
  void on_command_complete(std::string_view tag);
  // Nothing is waiting for a reply.
  bool settled() const { return parses_.empty() && closes_.empty() && deallocates_.empty(); }

 private:
  struct Pending {
    Reply action;
    StatementRef statement;   // what a Parse prepares, or a Close closes
    std::string client_name;  // for a client's own Parse or Close of a named statement
    std::uint64_t ready;      // ReadyForQuery the reply comes before
  };

  void forget_client_name(const Pending& skipped);
  // Closes least recently used statements (their replies dropped) until one more fits.
  void make_room(std::size_t at, protocol::Splice& out);
  void ensure_prepared(const StatementRef& statement, std::size_t at, protocol::Splice& out);
  void push(Fifo<Pending>& queue, Reply action, StatementRef statement = nullptr,
            std::string client_name = {});
  Check on_large_parse(std::string_view start);
  bool on_parse(std::string_view payload, std::uint32_t length, std::size_t at,
                protocol::Splice& out);
  bool on_bind(std::string_view payload, std::uint32_t length, std::size_t at,
               protocol::Splice& out);
  // The client's statement a query "DEALLOCATE name" is about, taken from the client (and
  // given back if the DEALLOCATE fails).
  std::optional<Pending> take_deallocated(std::string_view sql);
  bool on_query(std::string_view payload, std::uint32_t length, std::size_t at,
                protocol::Splice& out);
  bool on_describe_or_close(char type, std::string_view payload, std::uint32_t length,
                            std::size_t at, protocol::Splice& out);

  Registry& registry_;
  ClientStatements& client_;
  ServerCache& server_;
  std::size_t capacity_;
  Fifo<Pending> parses_;       // ParseComplete expected, in order
  Fifo<Pending> closes_;       // CloseComplete expected, in order
  Fifo<Pending> deallocates_;  // SQL DEALLOCATE of a client's statement, rewritten
  std::uint64_t ready_requests_ = 0;
  std::uint64_t ready_received_ = 0;
};

}  // namespace pgb::statements
