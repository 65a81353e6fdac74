// The auth_file: pgbouncer's userlist.txt format, one `"user" "secret"` pair per line.
#pragma once

#include "common/result.hpp"

#include <string>
#include <string_view>
#include <unordered_map>

namespace pgb::auth {

// What an auth_file line stores for a user, by how PostgreSQL would store it.
enum class SecretKind { Plaintext, Md5, Scram };

struct UserSecret {
  SecretKind kind;
  std::string value;
};

SecretKind classify_secret(std::string_view secret);

using UserList = std::unordered_map<std::string, UserSecret>;

// Parses the file's text; `source` names it in errors. Lines starting with ';' or '#' and
// blank lines are ignored; a '"' inside a quoted field is written twice, as in pgbouncer.
// Errors say which line is wrong but never echo the secret.
Result<UserList> parse_userlist(std::string_view text, std::string_view source);
Result<UserList> load_userlist(const std::string& path);

}  // namespace pgb::auth
