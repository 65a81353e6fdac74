#include "statements/registry.hpp"

#include <fmt/format.h>

#include <mutex>
#include <unordered_map>

namespace pgb::statements {

struct Registry::State {
  struct Entry {
    const Statement* statement;
    std::weak_ptr<const Statement> weak;
  };
  std::mutex mutex;
  // Keys are views of the statements' own parse_tail: a statement's deleter removes its
  // entry before freeing it.
  std::unordered_map<std::string_view, Entry> by_content;
  std::uint64_t next_id = 1;
};

Registry::Registry() : state_(std::make_shared<State>()) {}

StatementRef Registry::intern(std::string_view parse_tail) {
  std::lock_guard lock(state_->mutex);
  auto& map = state_->by_content;
  if (auto it = map.find(parse_tail); it != map.end()) {
    if (auto live = it->second.weak.lock()) return live;
    // Its last reference is being dropped right now; the deleter, waiting for this lock,
    // sees the entry is no longer its own and leaves it alone.
    map.erase(it);
  }
  auto id = state_->next_id++;
  auto* raw = new Statement{id, fmt::format("pgbalancer_{}", id), std::string(parse_tail)};
  StatementRef ref(raw, [state = state_](const Statement* s) {
    {
      std::lock_guard lock(state->mutex);
      auto it = state->by_content.find(s->parse_tail);
      if (it != state->by_content.end() && it->second.statement == s) {
        state->by_content.erase(it);
      }
    }
    delete s;
  });
  map.emplace(std::string_view(raw->parse_tail), State::Entry{raw, ref});
  return ref;
}

std::size_t Registry::size() const {
  std::lock_guard lock(state_->mutex);
  return state_->by_content.size();
}

}  // namespace pgb::statements
