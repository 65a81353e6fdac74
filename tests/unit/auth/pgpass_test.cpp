// Tests for .pgpass parsing and lookup, following libpq's rules.
#include "auth/pgpass.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>

namespace pgb::auth {
namespace {

TEST(ParsePgpass, FiveFields) {
  auto entries = parse_pgpass("db.example:5432:app:alice:s3cret\n");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].host, "db.example");
  EXPECT_EQ(entries[0].port, "5432");
  EXPECT_EQ(entries[0].database, "app");
  EXPECT_EQ(entries[0].user, "alice");
  EXPECT_EQ(entries[0].password, "s3cret");
}

TEST(ParsePgpass, BackslashEscapesColonAndBackslash) {
  auto entries = parse_pgpass(R"(h\:6:5432:d\\b:u:pa\:ss\\word)");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].host, "h:6");
  EXPECT_EQ(entries[0].database, "d\\b");
  EXPECT_EQ(entries[0].password, "pa:ss\\word");
}

TEST(ParsePgpass, CommentsBlankLinesAndCrlf) {
  auto entries = parse_pgpass("# comment\n\nh:1:d:u:p\r\n");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].password, "p");
}

TEST(ParsePgpass, MalformedLinesAreSkipped) {
  auto entries = parse_pgpass("too:few:fields\nh:1:d:u:good\nh:1:d:u\n\\\nh:2:d:u:\n");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].password, "good");
  EXPECT_EQ(entries[1].port, "2");
  EXPECT_EQ(entries[1].password, "");
}

TEST(FindPgpassPassword, WildcardsMatchAnything) {
  auto entries = parse_pgpass("*:*:*:alice:a\n");
  EXPECT_EQ(find_pgpass_password(entries, "h1", 5432, "db", "alice"), "a");
  EXPECT_EQ(find_pgpass_password(entries, "other", 6543, "x", "alice"), "a");
  EXPECT_EQ(find_pgpass_password(entries, "h1", 5432, "db", "bob"), std::nullopt);
}

TEST(FindPgpassPassword, EveryFieldMustMatch) {
  auto entries = parse_pgpass("h:5432:db:u:p\n");
  EXPECT_EQ(find_pgpass_password(entries, "h", 5432, "db", "u"), "p");
  EXPECT_EQ(find_pgpass_password(entries, "H", 5432, "db", "u"), std::nullopt);
  EXPECT_EQ(find_pgpass_password(entries, "h", 5433, "db", "u"), std::nullopt);
  EXPECT_EQ(find_pgpass_password(entries, "h", 5432, "db2", "u"), std::nullopt);
  EXPECT_EQ(find_pgpass_password(entries, "h", 5432, "db", "u2"), std::nullopt);
}

TEST(FindPgpassPassword, FirstMatchWins) {
  auto entries = parse_pgpass("h:5432:db:u:specific\n*:*:*:u:generic\nh:5432:db:u:later\n");
  EXPECT_EQ(find_pgpass_password(entries, "h", 5432, "db", "u"), "specific");
  EXPECT_EQ(find_pgpass_password(entries, "h", 5432, "other", "u"), "generic");
}

TEST(FindPgpassPassword, EscapedColonInHostMatches) {
  auto entries = parse_pgpass(R"(\:\:1:5432:*:u:v6)");
  EXPECT_EQ(find_pgpass_password(entries, "::1", 5432, "db", "u"), "v6");
}

TEST(FindPgpassPassword, NoEntriesNoPassword) {
  EXPECT_EQ(find_pgpass_password({}, "h", 1, "d", "u"), std::nullopt);
}

TEST(LoadPgpass, MissingFileIsNoEntries) {
  EXPECT_TRUE(load_pgpass("/nonexistent/pgbalancer/.pgpass").empty());
}

TEST(LoadPgpass, ReadsAFile) {
  auto path =
      std::filesystem::temp_directory_path() / ("pgb_pgpass_test_" + std::to_string(::getpid()));
  { std::ofstream(path) << "h:5432:d:u:fromfile\n"; }
  auto entries = load_pgpass(path.string());
  std::filesystem::remove(path);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].password, "fromfile");
}

}  // namespace
}  // namespace pgb::auth
