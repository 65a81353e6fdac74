// Loads and validates the YAML configuration file.
#pragma once

#include "config/config.hpp"

#include <string>
#include <variant>
#include <vector>

namespace pgb::config {

// One problem, formatted "FILE:LINE: KEY: message".
struct Problem {
  std::string file;
  int line = 0;  // 1-based; 0 when the problem is not tied to a line
  std::string key;
  std::string message;
  std::string to_string() const;
};

// Either a valid Config or every problem found (validation does not stop at the first).
using LoadResult = std::variant<Config, std::vector<Problem>>;

LoadResult load_config(const std::string& path);
LoadResult parse_config(const std::string& yaml_text, const std::string& source_name);

}  // namespace pgb::config
