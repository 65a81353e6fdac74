#pragma once
// Quantiles of a bucketed histogram, as Prometheus' histogram_quantile() estimates them.
#include <algorithm>
#include <cstdint>
#include <span>

namespace pgb {

// `counts` has one entry per upper bound in `bounds` plus a last one for everything above
// (not cumulative). The value below which `fraction` of the observations fall, interpolated
// linearly within its bucket; the last bound if it falls in the open-ended bucket; 0 if empty.
inline double histogram_quantile(std::span<const std::int64_t> bounds,
                                 std::span<const std::uint64_t> counts, double fraction) {
  std::uint64_t total = 0;
  for (auto n : counts) total += n;
  if (total == 0 || bounds.empty()) return 0;
  const double rank = std::clamp(fraction, 0.0, 1.0) * static_cast<double>(total);
  double below = 0;
  for (std::size_t i = 0; i < counts.size() && i < bounds.size(); ++i) {
    const double here = static_cast<double>(counts[i]);
    if (here > 0 && below + here >= rank) {
      const double low = i == 0 ? 0.0 : static_cast<double>(bounds[i - 1]);
      const double high = static_cast<double>(bounds[i]);
      return low + (high - low) * (rank - below) / here;
    }
    below += here;
  }
  return static_cast<double>(bounds.back());
}

}  // namespace pgb
