// .pgpass lookup (https://www.postgresql.org/docs/15/libpq-pgpass.html) for backend logins
// that cannot use SCRAM pass-through.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgb::auth {

struct PgpassEntry {
  std::string host, port, database, user, password;  // "*" matches anything
};

std::vector<PgpassEntry> parse_pgpass(std::string_view text);
// First matching entry's password, as libpq does.
std::optional<std::string> find_pgpass_password(const std::vector<PgpassEntry>& entries,
                                                std::string_view host, int port,
                                                std::string_view database, std::string_view user);
// Reads the file; an absent or unreadable file is simply no entries.
std::vector<PgpassEntry> load_pgpass(const std::string& path);

}  // namespace pgb::auth
