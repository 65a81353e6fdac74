// Tests for the auth_file parser (pgbouncer's userlist.txt format).
#include "auth/userlist.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace pgb::auth {
namespace {

using namespace std::string_literals;

constexpr std::string_view kScram =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
constexpr std::string_view kMd5 = "md596948aad3fcae80c08a35c9b5958cd89";

UserList parse_ok(std::string_view text) {
  auto r = parse_userlist(text, "users.txt");
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.value() : UserList{};
}

TEST(ParseUserlist, OneUserPerLineWithKinds) {
  std::string text = "\"alice\" \"plain pass\"\n\"bob\" \"" + std::string(kMd5) +
                     "\"\n\"carol\" \"" + std::string(kScram) + "\"\n";
  auto users = parse_ok(text);
  ASSERT_EQ(users.size(), 3u);
  EXPECT_EQ(users.at("alice").kind, SecretKind::Plaintext);
  EXPECT_EQ(users.at("alice").value, "plain pass");
  EXPECT_EQ(users.at("bob").kind, SecretKind::Md5);
  EXPECT_EQ(users.at("bob").value, kMd5);
  EXPECT_EQ(users.at("carol").kind, SecretKind::Scram);
  EXPECT_EQ(users.at("carol").value, kScram);
}

TEST(ParseUserlist, DoubledQuotesStandForOneQuote) {
  auto users = parse_ok(R"("we""ird" "pa""ss""")");
  ASSERT_EQ(users.count("we\"ird"), 1u);
  EXPECT_EQ(users.at("we\"ird").value, "pa\"ss\"");
}

TEST(ParseUserlist, CommentsAndBlankLinesAreIgnored) {
  auto users = parse_ok(
      "; semicolon comment\n# hash comment\n\n   \n\t\n  ; indented comment\n\"u\" \"p\"\n");
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(users.at("u").value, "p");
}

TEST(ParseUserlist, CrlfLineEndingsAndMissingFinalNewline) {
  auto users = parse_ok("\"a\" \"1\"\r\n\r\n# comment\r\n\"b\" \"2\"\r\n\"c\" \"3\"");
  ASSERT_EQ(users.size(), 3u);
  EXPECT_EQ(users.at("a").value, "1");  // no stray '\r'
  EXPECT_EQ(users.at("b").value, "2");
  EXPECT_EQ(users.at("c").value, "3");
}

TEST(ParseUserlist, SpacesAndTabsAroundFields) {
  auto users = parse_ok("  \"a\"\t \"x y\"  \n");
  EXPECT_EQ(users.at("a").value, "x y");
}

TEST(ParseUserlist, EmptyTextIsNoUsers) {
  EXPECT_TRUE(parse_ok("").empty());
}

TEST(ParseUserlist, EmptySecretIsPlaintext) {
  auto users = parse_ok("\"nopass\" \"\"\n");
  EXPECT_EQ(users.at("nopass").kind, SecretKind::Plaintext);
  EXPECT_EQ(users.at("nopass").value, "");
}

void expect_malformed_at(const std::string& text, int line, std::string_view secret) {
  auto r = parse_userlist(text, "users.txt");
  ASSERT_FALSE(r.ok()) << text;
  const auto& message = r.error().message;
  EXPECT_NE(message.find("users.txt:" + std::to_string(line) + ":"), std::string::npos) << message;
  EXPECT_EQ(message.find(secret), std::string::npos) << message;
  EXPECT_EQ(r.error().detail.find(secret), std::string::npos) << r.error().detail;
}

TEST(ParseUserlist, MalformedLineNamesItsNumberNotItsSecret) {
  const std::string good = "# users\n\"alice\" \"a\"\n";
  expect_malformed_at(good + "\"bob\" \"hunter2\n", 3, "hunter2");  // unterminated secret
  expect_malformed_at(good + "bob \"hunter2\"\n", 3, "hunter2");    // unquoted user
  expect_malformed_at(good + "\"bob\" hunter2\n", 3, "hunter2");    // unquoted secret
  expect_malformed_at(good + "\"bob\"\n", 3, "hunter2");            // no secret
  expect_malformed_at(good + "\"\" \"hunter2\"\n", 3, "hunter2");   // empty user
  expect_malformed_at("\r\n" + good + "\"bob\" \"hunter2\r\n", 4, "hunter2");
}

TEST(ParseUserlist, MalformedScramSecretIsRejectedWithoutEchoingIt) {
  auto text = "\"alice\" \"a\"\n\"bob\" \"SCRAM-SHA-256$4096:c2FsdA==$Zm9vc2VjcmV0:bad\"\n"s;
  expect_malformed_at(text, 2, "Zm9vc2VjcmV0");
  auto r = parse_userlist(text, "users.txt");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("\"bob\""), std::string::npos) << r.error().message;
}

TEST(ClassifySecret, ByHowPostgresWouldStoreIt) {
  EXPECT_EQ(classify_secret(kScram), SecretKind::Scram);
  EXPECT_EQ(classify_secret(kMd5), SecretKind::Md5);
  EXPECT_EQ(classify_secret("hunter2"), SecretKind::Plaintext);
  EXPECT_EQ(classify_secret(""), SecretKind::Plaintext);
  EXPECT_EQ(classify_secret("md5short"), SecretKind::Plaintext);
  EXPECT_EQ(classify_secret("MD596948aad3fcae80c08a35c9b5958cd89"), SecretKind::Plaintext);
  EXPECT_EQ(classify_secret("SCRAM-SHA-256$broken"), SecretKind::Plaintext);
}

TEST(LoadUserlist, ReadsAFileAndNamesItInErrors) {
  auto path =
      std::filesystem::temp_directory_path() / ("pgb_userlist_test_" + std::to_string(::getpid()));
  { std::ofstream(path) << "\"u\" \"p\"\n"; }
  auto ok = load_userlist(path.string());
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.value().at("u").value, "p");
  { std::ofstream(path) << "\"u\" p\n"; }
  auto bad = load_userlist(path.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find(path.string() + ":1:"), std::string::npos)
      << bad.error().message;
  std::filesystem::remove(path);

  EXPECT_FALSE(load_userlist(path.string()).ok());
}

}  // namespace
}  // namespace pgb::auth
