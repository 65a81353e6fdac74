#pragma once
// Wall-clock times in the management plane's answers, always UTC.
#include <cstdint>
#include <ctime>
#include <string>

namespace pgb::admin {

// `format` as strftime's, e.g. "%Y-%m-%dT%H:%M:%SZ".
inline std::string utc_time(std::int64_t epoch_seconds, const char* format) {
  std::time_t t = static_cast<std::time_t>(epoch_seconds);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[64];
  std::size_t n = std::strftime(text, sizeof text, format, &utc);
  return std::string(text, n);
}

}  // namespace pgb::admin
