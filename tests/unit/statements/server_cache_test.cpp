// Tests for ServerCache: least recently used out, never one the current lease used.
#include "statements/server_cache.hpp"

#include <gtest/gtest.h>

namespace pgb::statements {
namespace {

TEST(ServerCache, EvictsTheLeastRecentlyUsedFromEarlierLeases) {
  Registry r;
  ServerCache cache;
  auto a = r.intern("a"), b = r.intern("b"), c = r.intern("c");
  cache.begin_lease();
  cache.add(a);
  cache.add(b);
  cache.begin_lease();
  EXPECT_TRUE(cache.use(*a));  // b is now the least recently used
  EXPECT_EQ(cache.make_room(2), b);
  EXPECT_EQ(cache.make_room(2), nullptr);  // room enough now
  cache.add(c);
  EXPECT_FALSE(cache.use(*b));
  EXPECT_EQ(cache.size(), 2u);
}

TEST(ServerCache, StatementsOfTheCurrentLeaseStay) {
  Registry r;
  ServerCache cache;
  auto a = r.intern("a"), b = r.intern("b");
  cache.begin_lease();
  cache.add(a);
  EXPECT_EQ(cache.make_room(1), nullptr);  // a is in use: the cache grows instead
  cache.add(b);
  cache.begin_lease();
  EXPECT_EQ(cache.make_room(1), a);
  EXPECT_EQ(cache.make_room(1), b);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(ServerCache, ForgetAndClear) {
  Registry r;
  ServerCache cache;
  auto a = r.intern("a"), b = r.intern("b");
  cache.add(a);
  cache.add(b);
  cache.forget(a->id);
  EXPECT_FALSE(cache.use(*a));
  EXPECT_TRUE(cache.use(*b));
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace pgb::statements
