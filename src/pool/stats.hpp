// Traffic counters of one pool: queries, transactions, bytes, time, and a query duration
// histogram, for SHOW STATS, the REST API's stats and /metrics.
//
// Written on every transaction by whichever worker relays it, read rarely. Each of the first
// kSlots - 1 writing threads (the workers) has a slot of its own, which it updates with plain
// loads and stores, so workers neither bounce a cache line nor lock the bus per transaction;
// further threads share the last slot with atomic additions. A read sums the slots.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace pgb::pool {

// Upper bounds of the query duration histogram buckets, in microseconds (Prometheus' "le"),
// from a fast index lookup to a long report; a last bucket takes everything above.
inline constexpr std::array<std::int64_t, 16> kDurationBucketsUs = {
    100,    250,     500,     1'000,   2'500,     5'000,     10'000,    25'000,
    50'000, 100'000, 250'000, 500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000};

struct StatsTotals {
  std::uint64_t queries = 0;  // requests answered with ReadyForQuery (a Query, or up to a Sync)
  std::uint64_t transactions = 0;
  std::uint64_t bytes_received = 0;  // from clients
  std::uint64_t bytes_sent = 0;      // to clients
  std::uint64_t query_time_us = 0;
  std::uint64_t transaction_time_us = 0;
  std::uint64_t waits = 0;  // clients that queued for a server connection
  std::uint64_t wait_time_us = 0;
  std::array<std::uint64_t, kDurationBucketsUs.size() + 1> buckets{};  // not cumulative
};

class PoolStats {
 public:
  static constexpr std::size_t kSlots = 8;

  void add_query(std::chrono::microseconds took);
  void add_transaction(std::chrono::microseconds took);
  void add_bytes(std::uint64_t received, std::uint64_t sent);
  void add_wait(std::chrono::microseconds waited);

  StatsTotals totals() const;

 private:
  struct alignas(64) Slot {
    std::atomic<std::uint64_t> queries{0}, transactions{0}, bytes_received{0}, bytes_sent{0},
        query_time_us{0}, transaction_time_us{0}, waits{0}, wait_time_us{0};
    std::array<std::atomic<std::uint64_t>, kDurationBucketsUs.size() + 1> buckets{};
  };
  // The calling thread's slot, and whether it is the only writer there.
  struct Mine {
    Slot& slot;
    bool exclusive;
    void add(std::atomic<std::uint64_t> Slot::*counter, std::uint64_t n) const;
    void add(std::atomic<std::uint64_t>& counter, std::uint64_t n) const;
  };
  Mine mine();

  std::array<Slot, kSlots> slots_;
};

}  // namespace pgb::pool
