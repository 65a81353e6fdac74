// Aligned text tables in psql's default format, for bctl's output. Pure: strings in, string out.
#pragma once

#include <string>
#include <vector>

namespace pgb::bctl {

struct Cell {
  std::string text;
  bool numeric = false;  // a column whose cells are all numeric (or empty) is right-aligned
};

struct Table {
  std::vector<std::string> headers;
  std::vector<std::vector<Cell>> rows;  // rows shorter than `headers` are padded with empty cells
  bool row_count_footer = true;         // psql's "(N rows)"; off for key/value tables
};

// psql's "aligned" format (border 1):
//
//    id |   host    | status
//   ----+-----------+--------
//     0 | 127.0.0.1 | up
//   (1 row)
//
// Headers are centred, numeric columns right-aligned, text left-aligned; no trailing blanks.
// Control characters in cells are escaped (\n, \t, \x1b): a client chooses its own
// application_name, and it must not be able to send escape sequences to an operator's terminal.
std::string render(const Table& table);

}  // namespace pgb::bctl
