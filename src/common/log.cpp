// Log sink: spdlog writing to stderr or log_file, one line per event, safe across worker threads.
#include "common/log.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>
#include <mutex>

namespace pgb::log {
namespace {

std::atomic<Level> g_level{Level::Info};

std::shared_ptr<spdlog::logger> configured(std::shared_ptr<spdlog::logger> l) {
  l->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%t] %v");
  l->set_level(spdlog::level::trace);
  l->flush_on(spdlog::level::trace);
  return l;
}

std::shared_ptr<spdlog::logger> stderr_logger() {
  return configured(std::make_shared<spdlog::logger>(
      "pgbalancer", std::make_shared<spdlog::sinks::stderr_sink_mt>()));
}

// Swapped whole when the log file is (re)opened; a line being written keeps the old one alive.
std::atomic<std::shared_ptr<spdlog::logger>> g_logger{stderr_logger()};
std::mutex g_file_mutex;  // serializes opening; guards g_file
std::string g_file;

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
  g_logger.load(std::memory_order_acquire)->log(to_spdlog(level), message);
}

std::optional<std::string> set_file(const std::string& path) {
  std::lock_guard lock(g_file_mutex);
  if (path.empty()) {
    g_logger.store(stderr_logger(), std::memory_order_release);
    g_file.clear();
    return std::nullopt;
  }
  try {
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, false);
    g_logger.store(configured(std::make_shared<spdlog::logger>("pgbalancer", std::move(sink))),
                   std::memory_order_release);
  } catch (const spdlog::spdlog_ex& e) {
    return std::string(e.what());
  }
  g_file = path;
  return std::nullopt;
}

std::string file() {
  std::lock_guard lock(g_file_mutex);
  return g_file;
}

}  // namespace pgb::log
