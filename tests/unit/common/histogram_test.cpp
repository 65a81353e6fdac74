#include "common/histogram.hpp"

#include <gtest/gtest.h>

#include <array>

namespace pgb {
namespace {

constexpr std::array<std::int64_t, 3> kBounds = {100, 200, 400};

TEST(HistogramQuantile, InterpolatesWithinTheBucket) {
  std::array<std::uint64_t, 4> counts = {0, 10, 0, 0};  // ten values in (100, 200]
  EXPECT_DOUBLE_EQ(histogram_quantile(kBounds, counts, 0.5), 150.0);
  EXPECT_DOUBLE_EQ(histogram_quantile(kBounds, counts, 1.0), 200.0);
}

TEST(HistogramQuantile, FindsTheBucketOfTheRank) {
  std::array<std::uint64_t, 4> counts = {90, 0, 10, 0};
  EXPECT_LE(histogram_quantile(kBounds, counts, 0.5), 100.0);
  EXPECT_DOUBLE_EQ(histogram_quantile(kBounds, counts, 0.95), 300.0);  // half-way in (200, 400]
}

TEST(HistogramQuantile, OpenEndedBucketReportsTheLastBound) {
  std::array<std::uint64_t, 4> counts = {1, 0, 0, 99};
  EXPECT_DOUBLE_EQ(histogram_quantile(kBounds, counts, 0.99), 400.0);
}

TEST(HistogramQuantile, EmptyIsZero) {
  std::array<std::uint64_t, 4> counts = {};
  EXPECT_DOUBLE_EQ(histogram_quantile(kBounds, counts, 0.99), 0.0);
}

}  // namespace
}  // namespace pgb
