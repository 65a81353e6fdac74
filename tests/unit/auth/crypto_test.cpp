// Tests for the OpenSSL wrappers: base64, digests, PBKDF2, comparison.
#include "auth/crypto.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace pgb::auth {
namespace {

using namespace std::string_literals;

std::string hex(const Digest& d) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : d) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

// RFC 4648, section 10.
TEST(Base64, Rfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_decode(encoded), plain) << encoded;
  }
}

TEST(Base64, BinaryRoundTripsAtEveryLength) {
  std::mt19937 rng(7);
  for (std::size_t n = 0; n <= 70; ++n) {
    std::string bytes(n, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    if (n > 0) bytes[0] = '\0';
    if (n > 1) bytes[n - 1] = '\xff';
    auto encoded = base64_encode(bytes);
    EXPECT_EQ(encoded.size(), 4 * ((n + 2) / 3));
    EXPECT_EQ(base64_decode(encoded), bytes) << n;
  }
}

TEST(Base64, InvalidInputIsRejected) {
  for (std::string bad :
       {"Zg="s, "Zm9vY"s, "Zm9v!A=="s, "Zm9v\nYg=="s, "Zm 9v"s, "Zm9v\0Yg="s, "Zm-_"s}) {
    EXPECT_FALSE(base64_decode(bad)) << bad;
  }
}

// '=' is padding only at the end; in the middle or as most of a group it is not base64
// (EVP_DecodeBlock alone would read a stray '=' as zero bits).
TEST(Base64, MisplacedPaddingIsRejected) {
  for (std::string bad : {"Z=9v"s, "=Zm9"s, "Zg==Zm9v"s, "A==="s, "===="s, "Zm=v"s}) {
    EXPECT_FALSE(base64_decode(bad)) << bad;
  }
}

TEST(Sha256, Fips180Vector) {
  EXPECT_EQ(hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// RFC 4231, test case 2.
TEST(HmacSha256, Rfc4231Vector) {
  EXPECT_EQ(hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Pbkdf2Sha256, KnownVector) {
  EXPECT_EQ(hex(pbkdf2_sha256("password", "salt", 1)),
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
}

TEST(Md5Hex, KnownVectors) {
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_hex("foobar"), "3858f62230ac3c915f300c664312c63f");
}

TEST(RandomBytes, HasTheRequestedSizeAndVaries) {
  EXPECT_EQ(random_bytes(0).size(), 0u);
  auto a = random_bytes(18);
  auto b = random_bytes(18);
  EXPECT_EQ(a.size(), 18u);
  EXPECT_NE(a, b);
}

TEST(ConstantTimeEqual, ComparesContentAndLength) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("abc\0d"s, "abc\0d"s));
  EXPECT_FALSE(constant_time_equal("abc\0d"s, "abc\0e"s));
  EXPECT_FALSE(constant_time_equal("xbc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_FALSE(constant_time_equal("", "a"));
}

}  // namespace
}  // namespace pgb::auth
