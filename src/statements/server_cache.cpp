#include "statements/server_cache.hpp"

namespace pgb::statements {

bool ServerCache::use(const Statement& statement) {
  auto it = index_.find(statement.id);
  if (it == index_.end()) return false;
  it->second->lease = lease_;
  lru_.splice(lru_.begin(), lru_, it->second);
  return true;
}

StatementRef ServerCache::make_room(std::size_t capacity) {
  if (index_.size() < capacity || lru_.empty() || lru_.back().lease == lease_) return nullptr;
  StatementRef evicted = std::move(lru_.back().statement);
  index_.erase(evicted->id);
  lru_.pop_back();
  return evicted;
}

void ServerCache::add(StatementRef statement) {
  auto id = statement->id;
  lru_.push_front({std::move(statement), lease_});
  index_[id] = lru_.begin();
}

void ServerCache::forget(std::uint64_t id) {
  auto it = index_.find(id);
  if (it == index_.end()) return;
  lru_.erase(it->second);
  index_.erase(it);
}

void ServerCache::clear() {
  lru_.clear();
  index_.clear();
}

}  // namespace pgb::statements
