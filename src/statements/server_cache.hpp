// The statements prepared on one server connection, least recently used first out, so a
// connection holds at most max_prepared_statements of them.
#pragma once

#include "statements/registry.hpp"

#include <cstdint>
#include <list>
#include <unordered_map>

namespace pgb::statements {

class ServerCache {
 public:
  // A lease starts: statements used from now on are not evicted before it ends, because
  // closing a statement also closes the portals bound from it.
  void begin_lease() { ++lease_; }

  // Whether the statement is prepared on the connection; marks it used.
  bool use(const Statement& statement);

  // Before an add when the cache is full: removes and returns the statement to close on the
  // server, the least recently used one not used in this lease, or null if there is none
  // to remove. With every statement in use the cache grows past its capacity for a while.
  StatementRef make_room(std::size_t capacity);
  // Records that `statement` is being prepared.
  void add(StatementRef statement);

  // The server does not have it after all (its Parse failed).
  void forget(std::uint64_t id);
  // The server dropped them all (DISCARD ALL, DEALLOCATE ALL).
  void clear();

  std::size_t size() const { return index_.size(); }

 private:
  struct Entry {
    StatementRef statement;
    std::uint64_t lease;  // the lease that last used it
  };
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::uint64_t, std::list<Entry>::iterator> index_;
  std::uint64_t lease_ = 0;
};

}  // namespace pgb::statements
