#include "tools/bctl/views.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <array>

namespace pgb::bctl {
namespace {

namespace json = boost::json;
using namespace std::string_view_literals;

std::vector<std::string> texts(const std::vector<Cell>& row) {
  std::vector<std::string> out;
  for (const auto& c : row) out.push_back(c.text);
  return out;
}

TEST(Views, CellsKeepNumbersShortAndNullEmpty) {
  EXPECT_EQ(to_cell(json::parse("0.41")).text, "0.41");  // Boost.JSON would say 4.1E-1
  EXPECT_EQ(to_cell(json::parse("120.5")).text, "120.5");
  EXPECT_EQ(to_cell(json::parse("900")).text, "900");
  EXPECT_EQ(to_cell(json::parse("18446744073709551615")).text, "18446744073709551615");
  EXPECT_TRUE(to_cell(json::parse("-3")).numeric);
  EXPECT_EQ(to_cell(json::parse("null")).text, "");
  EXPECT_FALSE(to_cell(json::parse("null")).numeric);
  EXPECT_EQ(to_cell(json::parse("false")).text, "false");
  EXPECT_EQ(to_cell(json::parse(R"("up")")).text, "up");
  EXPECT_FALSE(to_cell(json::parse(R"("12")")).numeric);  // a string of digits stays text
  EXPECT_EQ(to_cell(json::parse(R"([1,"a"])")).text, R"([1,"a"])");
}

constexpr std::array kColumns = {"id"sv, "host"sv, "status"sv};

TEST(Views, ListInDocumentedOrderMissingKeysEmptyNewKeysLast) {
  auto table = list_table(json::parse(R"([{"status":"up","id":0,"host":"a","extra":true},
                                          {"id":1,"host":"b"}])"),
                          kColumns);
  ASSERT_TRUE(table);
  EXPECT_EQ(table->headers, (std::vector<std::string>{"id", "host", "status", "extra"}));
  ASSERT_EQ(table->rows.size(), 2u);
  EXPECT_EQ(texts(table->rows[0]), (std::vector<std::string>{"0", "a", "up", "true"}));
  EXPECT_EQ(texts(table->rows[1]), (std::vector<std::string>{"1", "b", "", ""}));
  EXPECT_TRUE(table->row_count_footer);
}

TEST(Views, EmptyListKeepsItsHeader) {
  auto table = list_table(json::parse("[]"), kColumns);
  ASSERT_TRUE(table);
  EXPECT_EQ(table->headers, (std::vector<std::string>{"id", "host", "status"}));
  EXPECT_TRUE(table->rows.empty());
}

TEST(Views, ListOfSomethingElseIsRefused) {
  EXPECT_FALSE(list_table(json::parse(R"({"id":1})"), kColumns));
  EXPECT_FALSE(list_table(json::parse("[1,2]"), kColumns));
}

TEST(Views, RecordFlattensNestedKeysAndIndexesArrays) {
  auto table = record_table(json::parse(R"({"port":6432,"rest_api":{"port":8080,
      "jwt_secret":"<redacted>","tls":{}},"backend_servers":[{"host":"h1"},{"host":"h2"}],
      "listen":[]})"),
                            "setting");
  ASSERT_TRUE(table);
  EXPECT_EQ(table->headers, (std::vector<std::string>{"setting", "value"}));
  EXPECT_FALSE(table->row_count_footer);
  std::vector<std::vector<std::string>> rows;
  for (const auto& row : table->rows) rows.push_back(texts(row));
  EXPECT_EQ(rows, (std::vector<std::vector<std::string>>{{"port", "6432"},
                                                         {"rest_api.port", "8080"},
                                                         {"rest_api.jwt_secret", "<redacted>"},
                                                         {"rest_api.tls", "{}"},
                                                         {"backend_servers[0].host", "h1"},
                                                         {"backend_servers[1].host", "h2"},
                                                         {"listen", "[]"}}));
}

TEST(Views, RecordOfSomethingElseIsRefused) {
  EXPECT_FALSE(record_table(json::parse("[]"), "field"));
  auto empty = record_table(json::parse("{}"), "field");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->rows.empty());
}

}  // namespace
}  // namespace pgb::bctl
