// Tests for Registry: one statement per content, shared while used, gone when not.
#include "statements/registry.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace pgb::statements {
namespace {

TEST(Registry, SameContentIsTheSameStatement) {
  Registry r;
  auto a = r.intern(std::string("SELECT 1\0\0\0", 11));
  auto b = r.intern(std::string("SELECT 1\0\0\0", 11));
  auto c = r.intern(std::string("SELECT 2\0\0\0", 11));
  EXPECT_EQ(a, b);
  EXPECT_NE(a->id, c->id);
  EXPECT_EQ(a->server_name, "pgbalancer_" + std::to_string(a->id));
  EXPECT_EQ(r.size(), 2u);
}

TEST(Registry, ParameterTypesAreContent) {
  Registry r;
  auto untyped = r.intern(std::string("SELECT $1\0\0\0", 12));
  auto typed = r.intern(std::string("SELECT $1\0\0\1\0\0\0\x17", 16));
  EXPECT_NE(untyped, typed);
}

TEST(Registry, UnusedStatementsAreFreed) {
  Registry r;
  std::uint64_t first_id;
  {
    auto a = r.intern("q");
    first_id = a->id;
    EXPECT_EQ(r.size(), 1u);
  }
  EXPECT_EQ(r.size(), 0u);
  EXPECT_NE(r.intern("q")->id, first_id);
}

TEST(Registry, ConcurrentInternAndReleaseAgree) {
  Registry r;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&r] {
      for (int i = 0; i < 20000; ++i) {
        auto a = r.intern("q" + std::to_string(i % 7));
        auto b = r.intern("q" + std::to_string(i % 7));
        ASSERT_EQ(a, b);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(r.size(), 0u);
}

}  // namespace
}  // namespace pgb::statements
