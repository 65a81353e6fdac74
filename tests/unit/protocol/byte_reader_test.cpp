// Tests for ByteReader: big-endian fields, and reads that fail instead of running past the end.
#include "protocol/byte_reader.hpp"

#include <gtest/gtest.h>

#include <string>

namespace pgb::protocol {
namespace {

using namespace std::string_literals;

TEST(LoadU32, IsBigEndianAndUnsigned) {
  EXPECT_EQ(load_u32("\x01\x02\x03\x04"), 0x01020304u);
  EXPECT_EQ(load_u32("\xff\xfe\x80\x7f"), 0xfffe807fu);
  EXPECT_EQ(load_u32("\0\0\0\0"), 0u);
}

// int32 -2 | int16 0x0102 | byte 'z' | "ab\0" | "xyz"
TEST(ByteReader, ReadsEachFieldInOrder) {
  const std::string data = "\xff\xff\xff\xfe\x01\x02zab\0xyz"s;
  ByteReader r(data);
  EXPECT_EQ(r.int32(), -2);
  EXPECT_EQ(r.int16(), 0x0102);
  EXPECT_EQ(r.byte(), 'z');
  EXPECT_EQ(r.cstr(), "ab");
  EXPECT_FALSE(r.at_end());
  EXPECT_EQ(r.bytes(2), "xy");
  EXPECT_EQ(r.rest(), "z");
  EXPECT_TRUE(r.at_end());
  EXPECT_EQ(r.rest(), "");
}

TEST(ByteReader, NegativeInt16) {
  const std::string data = "\xff\xff\x80\x00"s;
  ByteReader r(data);
  EXPECT_EQ(r.int16(), -1);
  EXPECT_EQ(r.int16(), INT16_MIN);
}

TEST(ByteReader, ShortInt32FailsWithoutConsuming) {
  const std::string data = "\x01\x02\x03"s;
  ByteReader r(data);
  EXPECT_FALSE(r.int32());
  EXPECT_EQ(r.int16(), 0x0102);  // the failed read left the position alone
  EXPECT_FALSE(r.int16());
  EXPECT_EQ(r.byte(), '\x03');
  EXPECT_FALSE(r.byte());
  EXPECT_TRUE(r.at_end());
}

TEST(ByteReader, UnterminatedCstrFailsWithoutConsuming) {
  const std::string data = "abc"s;
  ByteReader r(data);
  EXPECT_FALSE(r.cstr());
  EXPECT_EQ(r.rest(), "abc");
}

TEST(ByteReader, EmptyCstr) {
  const std::string data = "\0x"s;
  ByteReader r(data);
  EXPECT_EQ(r.cstr(), "");
  EXPECT_EQ(r.rest(), "x");
}

TEST(ByteReader, BytesBeyondTheEndFail) {
  ByteReader r("abcd");
  EXPECT_FALSE(r.bytes(5));
  EXPECT_FALSE(r.bytes(SIZE_MAX));
  EXPECT_EQ(r.bytes(4), "abcd");
  EXPECT_EQ(r.bytes(0), "");
  EXPECT_FALSE(r.bytes(1));
}

TEST(ByteReader, EmptyInput) {
  ByteReader r("");
  EXPECT_TRUE(r.at_end());
  EXPECT_FALSE(r.int32());
  EXPECT_FALSE(r.int16());
  EXPECT_FALSE(r.byte());
  EXPECT_FALSE(r.cstr());
  EXPECT_FALSE(r.bytes(1));
}

// A NUL beyond the view's end must not be found: the reader is bounded by the view, not the C
// string.
TEST(ByteReader, CstrDoesNotLookPastTheView) {
  std::string backing = "abc\0"s;
  ByteReader r(std::string_view(backing).substr(0, 3));
  EXPECT_FALSE(r.cstr());
}

}  // namespace
}  // namespace pgb::protocol
