// psql-style aligned tables (see table.hpp).
#include "tools/bctl/table.hpp"

#include <algorithm>
#include <cstdio>

namespace pgb::bctl {
namespace {

// C0 controls and DEL as \n, \t, \xNN; C1 controls (UTF-8 C2 80..C2 9F, which some terminals
// obey like ESC [) as \u00NN. Everything else, including other UTF-8, is kept as it is.
std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  char hex[8];
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else if (c == 0xc2 && i + 1 < text.size() &&
               static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
      std::snprintf(hex, sizeof hex, "\\u00%02x", static_cast<unsigned char>(text[++i]));
      out += hex;
    } else {
      out += text[i];
    }
  }
  return out;
}

// Characters as a terminal shows them, near enough: UTF-8 code points (continuation bytes do
// not count). East Asian wide characters take two columns and will misalign; psql's
// wcwidth tables are not worth carrying for names and addresses.
std::size_t width(const std::string& text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
}

void pad(std::string& line, std::size_t n) {
  line.append(n, ' ');
}

void end_line(std::string& out, std::string& line) {
  while (!line.empty() && line.back() == ' ') line.pop_back();
  out += line;
  out += '\n';
  line.clear();
}

}  // namespace

std::string render(const Table& table) {
  const std::size_t columns = table.headers.size();
  std::vector<std::string> headers;
  std::vector<std::vector<std::string>> cells(table.rows.size());
  std::vector<std::size_t> widths(columns);
  std::vector<bool> right(columns, true);
  for (std::size_t c = 0; c < columns; ++c) {
    headers.push_back(escape(table.headers[c]));
    widths[c] = width(headers[c]);
  }
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    for (std::size_t c = 0; c < columns; ++c) {
      const Cell empty;
      const Cell& cell = c < table.rows[r].size() ? table.rows[r][c] : empty;
      cells[r].push_back(escape(cell.text));
      widths[c] = std::max(widths[c], width(cells[r][c]));
      if (!cell.numeric && !cell.text.empty()) right[c] = false;
    }
  }

  std::string out, line;
  for (std::size_t c = 0; c < columns; ++c) {
    line += c == 0 ? " " : " | ";
    std::size_t room = widths[c] - width(headers[c]);
    pad(line, room / 2);
    line += headers[c];
    pad(line, room - room / 2);
  }
  end_line(out, line);
  for (std::size_t c = 0; c < columns; ++c) {
    if (c > 0) line += '+';
    line.append(widths[c] + 2, '-');
  }
  end_line(out, line);
  for (const auto& row : cells) {
    for (std::size_t c = 0; c < columns; ++c) {
      line += c == 0 ? " " : " | ";
      std::size_t room = widths[c] - width(row[c]);
      if (right[c]) pad(line, room);
      line += row[c];
      if (!right[c]) pad(line, room);
    }
    end_line(out, line);
  }
  if (table.row_count_footer) {
    std::size_t n = table.rows.size();
    out += "(" + std::to_string(n) + (n == 1 ? " row)\n" : " rows)\n");
  }
  return out;
}

}  // namespace pgb::bctl
