// auth_file parsing.
#include "auth/userlist.hpp"

#include "auth/md5.hpp"
#include "auth/scram.hpp"
#include "common/sqlstate.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace pgb::auth {
namespace {

// Reads one double-quoted field starting at `pos`; advances `pos` past it.
std::optional<std::string> quoted_field(std::string_view line, std::size_t& pos) {
  while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
  if (pos >= line.size() || line[pos] != '"') return std::nullopt;
  ++pos;
  std::string out;
  while (pos < line.size()) {
    char c = line[pos++];
    if (c != '"') {
      out.push_back(c);
      continue;
    }
    if (pos < line.size() && line[pos] == '"') {
      out.push_back('"');
      ++pos;
      continue;
    }
    return out;
  }
  return std::nullopt;  // unterminated
}

}  // namespace

SecretKind classify_secret(std::string_view secret) {
  if (secret.starts_with(kScramMechanism) && parse_scram_secret(secret)) return SecretKind::Scram;
  if (is_md5_hash(secret)) return SecretKind::Md5;
  return SecretKind::Plaintext;
}

Result<UserList> parse_userlist(std::string_view text, std::string_view source) {
  UserList users;
  std::size_t line_no = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    std::string_view line =
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    start = end == std::string_view::npos ? text.size() + 1 : end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == ';' || line[first] == '#') continue;

    std::size_t pos = 0;
    auto user = quoted_field(line, pos);
    auto secret = user ? quoted_field(line, pos) : std::nullopt;
    if (!user || !secret || user->empty()) {
      return make_error(sqlstate::kInternalError,
                        fmt::format("{}:{}: expected \"user\" \"secret\"", source, line_no));
    }
    if (secret->starts_with(kScramMechanism) && !parse_scram_secret(*secret)) {
      return make_error(
          sqlstate::kInternalError,
          fmt::format("{}:{}: malformed SCRAM secret for user \"{}\"", source, line_no, *user));
    }
    SecretKind kind = classify_secret(*secret);
    users[*user] = UserSecret{kind, std::move(*secret)};
  }
  return users;
}

Result<UserList> load_userlist(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return make_error(sqlstate::kInternalError, fmt::format("cannot read auth_file \"{}\"", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_userlist(ss.str(), path);
}

}  // namespace pgb::auth
