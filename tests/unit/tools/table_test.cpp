#include "tools/bctl/table.hpp"

#include <gtest/gtest.h>

namespace pgb::bctl {
namespace {

Cell num(std::string text) {
  return Cell{std::move(text), true};
}

TEST(Table, PsqlLayoutCentredHeadersNumbersRightTextLeft) {
  Table t;
  t.headers = {"id", "host", "status"};
  t.rows = {{num("0"), Cell{"127.0.0.1"}, Cell{"up"}}, {num("12"), Cell{"db2"}, Cell{"down"}}};
  // As psql prints SELECT 0 AS id, '127.0.0.1' AS host, 'up' AS status (trailing blanks cut).
  EXPECT_EQ(render(t),
            " id |   host    | status\n"
            "----+-----------+--------\n"
            "  0 | 127.0.0.1 | up\n"
            " 12 | db2       | down\n"
            "(2 rows)\n");
}

TEST(Table, OneRowAndNoRowsFooters) {
  Table t;
  t.headers = {"name"};
  EXPECT_EQ(render(t), " name\n------\n(0 rows)\n");
  t.rows = {{Cell{"a"}}};
  EXPECT_EQ(render(t), " name\n------\n a\n(1 row)\n");
}

TEST(Table, HeaderWiderThanValuesAndOddPadding) {
  Table t;
  t.headers = {"clients_waiting", "ab"};
  t.rows = {{num("3"), Cell{"abcde"}}};
  EXPECT_EQ(render(t),
            " clients_waiting |  ab\n"
            "-----------------+-------\n"
            "               3 | abcde\n"
            "(1 row)\n");
}

TEST(Table, EmptyCellsDoNotMakeANumericColumnText) {
  Table t;
  t.headers = {"backend_pid", "state"};
  t.rows = {{num("12345"), Cell{"active"}}, {Cell{}, Cell{"logging in"}}};
  EXPECT_EQ(render(t),
            " backend_pid |   state\n"
            "-------------+------------\n"
            "       12345 | active\n"
            "             | logging in\n"
            "(2 rows)\n");
}

TEST(Table, AColumnWithTextAndNumbersIsLeftAligned) {
  Table t;
  t.headers = {"field", "value"};
  t.rows = {{Cell{"version"}, Cell{"0.1.0"}}, {Cell{"pools"}, num("12")}};
  t.row_count_footer = false;
  EXPECT_EQ(render(t),
            "  field  | value\n"
            "---------+-------\n"
            " version | 0.1.0\n"
            " pools   | 12\n");
}

TEST(Table, ShortRowsArePadded) {
  Table t;
  t.headers = {"a", "b"};
  t.rows = {{Cell{"x"}}};
  EXPECT_EQ(render(t), " a | b\n---+---\n x |\n(1 row)\n");
}

TEST(Table, Utf8CountsCharactersNotBytes) {
  Table t;
  t.headers = {"user"};
  t.rows = {{Cell{"d\xc3\xa4ve"}}, {Cell{"bob"}}};  // "däve": 5 bytes, 4 characters
  EXPECT_EQ(render(t), " user\n------\n d\xc3\xa4ve\n bob\n(2 rows)\n");
}

TEST(Table, ControlCharactersAreEscapedNotSentToTheTerminal) {
  Table t;
  t.headers = {"application_name"};
  t.rows = {{Cell{"evil\x1b]0;owned\x07"}},  // an xterm title change
            {Cell{"two\nlines\ttab\x7f"}},   // a newline would break the table
            {Cell{"c1 \xc2\x9b"
                  "31m"}}};  // C1 CSI, as UTF-8
  std::string out = render(t);
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
  EXPECT_EQ(out.find('\x07'), std::string::npos);
  EXPECT_EQ(out.find("\xc2\x9b"), std::string::npos);
  EXPECT_NE(out.find(" evil\\x1b]0;owned\\x07\n"), std::string::npos) << out;
  EXPECT_NE(out.find(" two\\nlines\\ttab\\x7f\n"), std::string::npos) << out;
  EXPECT_NE(out.find(" c1 \\u009b31m\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("\n\n"), std::string::npos);
}

}  // namespace
}  // namespace pgb::bctl
