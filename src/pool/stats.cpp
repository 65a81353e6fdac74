#include "pool/stats.hpp"

#include <algorithm>

namespace pgb::pool {
namespace {

std::uint64_t micros(std::chrono::microseconds d) {
  return d.count() > 0 ? static_cast<std::uint64_t>(d.count()) : 0;
}

}  // namespace

void PoolStats::Mine::add(std::atomic<std::uint64_t>& counter, std::uint64_t n) const {
  if (exclusive) {  // a reader may see the old value, never a torn one
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  } else {
    counter.fetch_add(n, std::memory_order_relaxed);
  }
}

void PoolStats::Mine::add(std::atomic<std::uint64_t> Slot::*counter, std::uint64_t n) const {
  add(slot.*counter, n);
}

PoolStats::Mine PoolStats::mine() {
  static std::atomic<std::size_t> next_thread{0};
  thread_local const std::size_t index = next_thread.fetch_add(1);
  if (index < kSlots - 1) return {slots_[index], true};
  return {slots_[kSlots - 1], false};
}

void PoolStats::add_query(std::chrono::microseconds took) {
  const auto m = mine();
  const auto us = micros(took);
  m.add(&Slot::queries, 1);
  m.add(&Slot::query_time_us, us);
  auto bucket = std::lower_bound(kDurationBucketsUs.begin(), kDurationBucketsUs.end(),
                                 static_cast<std::int64_t>(us)) -
                kDurationBucketsUs.begin();
  m.add(m.slot.buckets[static_cast<std::size_t>(bucket)], 1);
}

void PoolStats::add_transaction(std::chrono::microseconds took) {
  const auto m = mine();
  m.add(&Slot::transactions, 1);
  m.add(&Slot::transaction_time_us, micros(took));
}

void PoolStats::add_bytes(std::uint64_t received, std::uint64_t sent) {
  const auto m = mine();
  if (received) m.add(&Slot::bytes_received, received);
  if (sent) m.add(&Slot::bytes_sent, sent);
}

void PoolStats::add_wait(std::chrono::microseconds waited) {
  const auto m = mine();
  m.add(&Slot::waits, 1);
  m.add(&Slot::wait_time_us, micros(waited));
}

StatsTotals PoolStats::totals() const {
  StatsTotals t;
  for (const auto& s : slots_) {
    auto get = [](const std::atomic<std::uint64_t>& c) {
      return c.load(std::memory_order_relaxed);
    };
    t.queries += get(s.queries);
    t.transactions += get(s.transactions);
    t.bytes_received += get(s.bytes_received);
    t.bytes_sent += get(s.bytes_sent);
    t.query_time_us += get(s.query_time_us);
    t.transaction_time_us += get(s.transaction_time_us);
    t.waits += get(s.waits);
    t.wait_time_us += get(s.wait_time_us);
    for (std::size_t i = 0; i < t.buckets.size(); ++i) t.buckets[i] += get(s.buckets[i]);
  }
  return t;
}

}  // namespace pgb::pool
