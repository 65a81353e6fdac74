// Tests for PostgreSQL's MD5 password scheme.
#include "auth/md5.hpp"

#include "auth/crypto.hpp"

#include <gtest/gtest.h>

#include <string>

namespace pgb::auth {
namespace {

using namespace std::string_literals;

TEST(Md5PasswordHash, IsMd5OfPasswordThenUser) {
  EXPECT_EQ(md5_password_hash("secret", "user"), "md5" + md5_hex("secretuser"));
  EXPECT_EQ(md5_password_hash("secret", "user"), "md520eb1b22a92b5c573dc1eb4331fc49ee");
}

// CREATE ROLE foo PASSWORD 'bar' stores md5("bar" || "foo").
TEST(Md5PasswordHash, MatchesPostgresStoredValue) {
  EXPECT_EQ(md5_password_hash("bar", "foo"), "md596948aad3fcae80c08a35c9b5958cd89");
  EXPECT_EQ(md5_password_hash("foo", "bar"), "md53858f62230ac3c915f300c664312c63f");
}

// The client answers md5(md5(password || user) || salt), hex, prefixed "md5".
TEST(Md5SaltedResponse, KnownValues) {
  std::string stored = md5_password_hash("foo", "bar");
  EXPECT_EQ(md5_salted_response(stored, "\x01\x02\x03\x04"), "md56e4f0b50f7277feb74acbf2a7734c9cb");
  EXPECT_EQ(md5_salted_response(stored, "\xde\xad\xbe\xef"), "md52b78b77e45561717c37da3bf5624c95b");
}

TEST(Md5SaltedResponse, SaltWithNulBytesIsUsedWhole) {
  std::string stored = md5_password_hash("foo", "bar");
  EXPECT_EQ(md5_salted_response(stored, "\0\0\0\0"s),
            "md5" + md5_hex(stored.substr(3) + "\0\0\0\0"s));
  EXPECT_NE(md5_salted_response(stored, "\0\0\0\0"s), md5_salted_response(stored, "\0\0\0\1"s));
}

TEST(IsMd5Hash, AcceptsOnlyLowercaseHexOfTheRightLength) {
  EXPECT_TRUE(is_md5_hash("md596948aad3fcae80c08a35c9b5958cd89"));
  EXPECT_FALSE(is_md5_hash("md596948AAD3fcae80c08a35c9b5958cd89"));   // upper case
  EXPECT_FALSE(is_md5_hash("md596948aad3fcae80c08a35c9b5958cd8"));    // 31 digits
  EXPECT_FALSE(is_md5_hash("md596948aad3fcae80c08a35c9b5958cd890"));  // 33 digits
  EXPECT_FALSE(is_md5_hash("xx596948aad3fcae80c08a35c9b5958cd89"));   // prefix
  EXPECT_FALSE(is_md5_hash("md596948aad3fcae80c08a35c9b5958cdzz"));   // not hex
  EXPECT_FALSE(is_md5_hash(""));
}

}  // namespace
}  // namespace pgb::auth
