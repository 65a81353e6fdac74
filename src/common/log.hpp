// Logging facade: the rest of the code formats with fmt and never sees the sink.
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string>
#include <string_view>

namespace pgb::log {

enum class Level { Debug, Info, Warning, Error };

std::string_view to_string(Level level);
bool parse_level(std::string_view text, Level& out);
void set_level(Level level);
bool enabled(Level level);
void write(Level level, std::string_view message);
// Logs to `path` from now on (appending; opened anew each call, which is how a rotated file is
// let go), or to stderr if it is empty. The reason if the file cannot be opened; the log
// stays where it was then.
std::optional<std::string> set_file(const std::string& path);
std::string file();  // empty: stderr

template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::Debug)) write(Level::Debug, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::Info)) write(Level::Info, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::Warning)) write(Level::Warning, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::Error)) write(Level::Error, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace pgb::log
