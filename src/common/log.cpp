// Log sink: spdlog writing to stderr, one line per event, safe across worker threads.
#include "common/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>

namespace pgb::log {
namespace {

std::atomic<Level> g_level{Level::Info};

spdlog::logger& sink() {
  static auto logger = [] {
    auto l = spdlog::stderr_logger_mt("pgbalancer");
    l->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%t] %v");
    l->set_level(spdlog::level::trace);
    l->flush_on(spdlog::level::trace);
    return l;
  }();
  return *logger;
}

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::Debug: return spdlog::level::debug;
    case Level::Info: return spdlog::level::info;
    case Level::Warning: return spdlog::level::warn;
    case Level::Error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

std::string_view to_string(Level level) {
  switch (level) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warning: return "warning";
    case Level::Error: return "error";
  }
  return "info";
}

bool parse_level(std::string_view text, Level& out) {
  for (Level l : {Level::Debug, Level::Info, Level::Warning, Level::Error}) {
    if (text == to_string(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

void set_level(Level level) {
  g_level.store(level, std::memory_order_relaxed);
}
bool enabled(Level level) {
  return level >= g_level.load(std::memory_order_relaxed);
}
void write(Level level, std::string_view message) {
  sink().log(to_spdlog(level), message);
}

}  // namespace pgb::log
