#include "pool/stats.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace pgb::pool {
namespace {

using std::chrono::microseconds;

TEST(PoolStats, CountsQueriesIntoTheirDurationBuckets) {
  PoolStats stats;
  stats.add_query(microseconds(50));      // <= 100 µs
  stats.add_query(microseconds(100));     // <= 100 µs: the bounds are inclusive, as "le"
  stats.add_query(microseconds(101));     // <= 250 µs
  stats.add_query(microseconds(20'000'000));  // above the last bound
  stats.add_query(microseconds(-3));      // a clock step backwards counts as 0
  auto t = stats.totals();
  EXPECT_EQ(t.queries, 5u);
  EXPECT_EQ(t.query_time_us, 50u + 100 + 101 + 20'000'000);
  EXPECT_EQ(t.buckets[0], 3u);
  EXPECT_EQ(t.buckets[1], 1u);
  EXPECT_EQ(t.buckets.back(), 1u);
}

TEST(PoolStats, KeepsTransactionsBytesAndWaitsApart) {
  PoolStats stats;
  stats.add_transaction(microseconds(300));
  stats.add_bytes(10, 0);
  stats.add_bytes(0, 25);
  stats.add_wait(microseconds(7));
  auto t = stats.totals();
  EXPECT_EQ(t.transactions, 1u);
  EXPECT_EQ(t.transaction_time_us, 300u);
  EXPECT_EQ(t.bytes_received, 10u);
  EXPECT_EQ(t.bytes_sent, 25u);
  EXPECT_EQ(t.waits, 1u);
  EXPECT_EQ(t.wait_time_us, 7u);
  EXPECT_EQ(t.queries, 0u);
}

// More threads than slots: the ones with slots of their own and those sharing the last one
// must all be counted exactly.
TEST(PoolStats, SumsEveryThreadExactly) {
  PoolStats stats;
  constexpr int kThreads = PoolStats::kSlots * 2;
  constexpr int kEach = 20'000;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int n = 0; n < kEach; ++n) stats.add_query(microseconds(1));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(stats.totals().queries, std::uint64_t{kThreads} * kEach);
}

}  // namespace
}  // namespace pgb::pool
