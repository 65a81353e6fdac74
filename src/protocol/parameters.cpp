// Parameter comparison and the SET statements that synchronize them.
#include "protocol/parameters.hpp"

#include <algorithm>
#include <cctype>

namespace pgb::protocol {

bool same_parameter(std::string_view a, std::string_view b) {
  // Runs for every tracked parameter on every lease: ASCII folding inline, not std::tolower
  // (a libc call per character showed up in profiles). GUC names are ASCII.
  if (a.size() != b.size()) return false;
  auto fold = [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
  };
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (fold(a[i]) != fold(b[i])) return false;
  }
  return true;
}

bool is_tracked(const std::vector<std::string>& tracked, std::string_view name) {
  return std::any_of(tracked.begin(), tracked.end(),
                     [&](const std::string& t) { return same_parameter(t, name); });
}

const std::string* find_parameter(const Parameters& params, std::string_view name) {
  for (const auto& [k, v] : params) {
    if (same_parameter(k, name)) return &v;
  }
  return nullptr;
}

void set_parameter(Parameters& params, std::string_view name, std::string_view value) {
  for (auto& [k, v] : params) {
    if (same_parameter(k, name)) {
      v = value;
      return;
    }
  }
  params.emplace_back(name, value);
}

namespace {

std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

std::string quote_literal(std::string_view value) {
  std::string out = "E'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out.push_back(c);
    out.push_back(c);
  }
  return out + "'";
}

}  // namespace

std::optional<Parameters> parse_startup_options(std::string_view options) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (std::size_t i = 0; i < options.size(); ++i) {
    char c = options[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    if (c == '\\' && i + 1 < options.size()) c = options[++i];
    word.push_back(c);
    in_word = true;
  }
  if (in_word) words.push_back(std::move(word));

  Parameters settings;
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::string setting;
    if (words[i] == "-c" && i + 1 < words.size())
      setting = words[++i];
    else if (words[i].starts_with("-c"))
      setting = words[i].substr(2);
    else if (words[i].starts_with("--"))
      setting = words[i].substr(2);
    else
      return std::nullopt;
    auto eq = setting.find('=');
    if (eq == std::string::npos || eq == 0) return std::nullopt;
    std::string name = setting.substr(0, eq);
    std::replace(name.begin(), name.end(), '-', '_');  // as PostgreSQL's ParseLongOption
    settings.emplace_back(std::move(name), setting.substr(eq + 1));
  }
  return settings;
}

std::string parameter_sync_query(const std::vector<std::string>& tracked, const Parameters& current,
                                 const Parameters& wanted) {
  std::string sql;
  for (const auto& name : tracked) {
    const std::string* want = find_parameter(wanted, name);
    if (!want) continue;
    const std::string* have = find_parameter(current, name);
    if (have && *have == *want) continue;
    // GUC names match case-insensitively, so the lower-case identifier finds "DateStyle" too.
    std::string lower(name);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    sql += "SET " + quote_identifier(lower) + " TO " + quote_literal(*want) + ";";
  }
  return sql;
}

}  // namespace pgb::protocol
