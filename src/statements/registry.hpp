// Prepared statements as pgbalancer knows them in transaction and statement pooling: one
// object per distinct Parse (query text and parameter types), shared by every client that
// prepares it, with the name it has on every server connection.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace pgb::statements {

struct Statement {
  std::uint64_t id;
  std::string server_name;  // "pgbalancer_<id>": the same on every server connection
  std::string parse_tail;   // Parse payload after the statement name: query, parameter types
};
using StatementRef = std::shared_ptr<const Statement>;

// Process-wide and thread-safe. A statement lives while a client or a server cache refers to
// it; the registry only finds the live one for a content, so memory follows use.
class Registry {
 public:
  Registry();
  StatementRef intern(std::string_view parse_tail);
  std::size_t size() const;

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with each statement's deleter
};

}  // namespace pgb::statements
