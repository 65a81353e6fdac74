#include "pool/connection_budget.hpp"

#include <gtest/gtest.h>

namespace pgb::pool {
namespace {

TEST(ConnectionBudget, DatabaseLimitSpansUsers) {
  ConnectionBudget b;
  EXPECT_TRUE(b.try_take("app", "alice", 2, 0));
  EXPECT_TRUE(b.try_take("app", "bob", 2, 0));
  EXPECT_FALSE(b.try_take("app", "carol", 2, 0));
  EXPECT_TRUE(b.try_take("other", "carol", 2, 0));
  b.give_back("app", "alice");
  EXPECT_TRUE(b.try_take("app", "carol", 2, 0));
}

TEST(ConnectionBudget, UserLimitSpansDatabases) {
  ConnectionBudget b;
  EXPECT_TRUE(b.try_take("a", "alice", 0, 1));
  EXPECT_FALSE(b.try_take("b", "alice", 0, 1));
  EXPECT_TRUE(b.try_take("b", "bob", 0, 1));
  b.give_back("a", "alice");
  EXPECT_TRUE(b.try_take("b", "alice", 0, 1));
}

TEST(ConnectionBudget, ZeroMeansNoLimit) {
  ConnectionBudget b;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(b.try_take("a", "u", 0, 0));
}

}  // namespace
}  // namespace pgb::pool
