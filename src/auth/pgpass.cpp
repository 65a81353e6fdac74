// .pgpass parsing with libpq's escaping rules: '\' escapes ':' and '\'.
#include "auth/pgpass.hpp"

#include <fstream>
#include <sstream>

namespace pgb::auth {
namespace {

std::optional<std::vector<std::string>> split_fields(std::string_view line) {
  std::vector<std::string> fields(1);
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '\\' && i + 1 < line.size()) {
      fields.back().push_back(line[++i]);
    } else if (c == ':' && fields.size() < 5) {
      fields.emplace_back();
    } else if (c == ':') {
      break;  // libpq ends the password at an unescaped ':'
    } else {
      fields.back().push_back(c);
    }
  }
  if (fields.size() != 5) return std::nullopt;
  return fields;
}

bool field_matches(const std::string& pattern, std::string_view value) {
  return pattern == "*" || pattern == value;
}

}  // namespace

std::vector<PgpassEntry> parse_pgpass(std::string_view text) {
  std::vector<PgpassEntry> entries;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    std::string_view line =
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    start = end == std::string_view::npos ? text.size() : end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    auto f = split_fields(line);
    if (!f) continue;  // libpq skips lines it cannot parse
    entries.push_back({(*f)[0], (*f)[1], (*f)[2], (*f)[3], (*f)[4]});
  }
  return entries;
}

std::optional<std::string> find_pgpass_password(const std::vector<PgpassEntry>& entries,
                                                std::string_view host, int port,
                                                std::string_view database, std::string_view user) {
  std::string port_text = std::to_string(port);
  for (const auto& e : entries) {
    if (field_matches(e.host, host) && field_matches(e.port, port_text) &&
        field_matches(e.database, database) && field_matches(e.user, user)) {
      return e.password;
    }
  }
  return std::nullopt;
}

std::vector<PgpassEntry> load_pgpass(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_pgpass(ss.str());
}

}  // namespace pgb::auth
