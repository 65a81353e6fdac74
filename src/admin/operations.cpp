#include "admin/operations.hpp"

#include "common/histogram.hpp"

namespace pgb::admin {

TrafficStats& TrafficStats::operator+=(const TrafficStats& o) {
  queries += o.queries;
  transactions += o.transactions;
  bytes_received += o.bytes_received;
  bytes_sent += o.bytes_sent;
  query_time_us += o.query_time_us;
  transaction_time_us += o.transaction_time_us;
  waits += o.waits;
  wait_time_us += o.wait_time_us;
  if (bucket_bounds_us.empty()) {
    bucket_bounds_us = o.bucket_bounds_us;
    buckets.assign(o.buckets.size(), 0);
  }
  for (std::size_t i = 0; i < buckets.size() && i < o.buckets.size(); ++i)
    buckets[i] += o.buckets[i];
  return *this;
}

double TrafficStats::query_time_quantile_us(double fraction) const {
  return histogram_quantile(bucket_bounds_us, buckets, fraction);
}

}  // namespace pgb::admin
