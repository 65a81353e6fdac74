#pragma once
// The time for the per-transaction bookkeeping (last activity, idle and lifetime checks, queue
// entry times): read once or twice per transaction, and needed to a few milliseconds only.
#include <chrono>
#include <ctime>

namespace pgb {

// steady_clock's time (CLOCK_MONOTONIC) as of the kernel's last tick, so at most a few
// milliseconds behind. It is a plain load from the vDSO page, where steady_clock::now() reads
// the TSC: profiled, those reads were 2% of the pooler's CPU in select-only transaction pooling.
// Compare its values with each other, not with steady_clock::now().
inline std::chrono::steady_clock::time_point coarse_now() {
  timespec ts{};
  if (::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0) return std::chrono::steady_clock::now();
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

}  // namespace pgb
