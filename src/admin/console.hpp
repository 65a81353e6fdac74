// The SQL admin console's commands (pgbouncer's SHOW POOLS and friends, RELOAD, PAUSE, RESUME)
// and pgpool-II's SHOW POOL_NODES, POOL_PROCESSES and POOL_VERSION: statements in, result sets
// out, without I/O (frontend/admin_session.cpp speaks the protocol).
#pragma once

#include "admin/operations.hpp"
#include "common/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgb::admin {

struct ResultSet {
  struct Column {
    std::string name;
    bool numeric = false;  // int8 (psql aligns it right), else text
  };
  std::vector<Column> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;
  std::string tag = "SHOW";  // CommandComplete
};

struct ConsoleCommand {
  enum class Verb { Empty, Show, Reload, Pause, Resume };
  Verb verb = Verb::Empty;
  std::string argument;  // SHOW's subject (lower case), PAUSE's and RESUME's database
};

// One statement (a trailing semicolon allowed); keywords are case-insensitive.
Result<ConsoleCommand> parse_console_command(std::string_view statement);
// Splits a simple Query's text at semicolons outside quotes.
std::vector<std::string_view> split_statements(std::string_view text);

// SHOW's answer; an unknown subject is an error.
Result<ResultSet> show(std::string_view subject, Operations& operations);

// "pool_nodes", "pool_processes" or "pool_version" if `query` is that pgpool-II SHOW command,
// which pgbalancer answers on any connection.
std::optional<std::string> pgpool_show_subject(std::string_view query);

// A SELECT that returns `result` (all columns text) when PostgreSQL runs it: how a pgpool-II
// SHOW on an ordinary connection is answered, in line with the queries around it. Values are
// hex-encoded, so no client-chosen name can change the statement.
std::string as_select(const ResultSet& result);

}  // namespace pgb::admin
