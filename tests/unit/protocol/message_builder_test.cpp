// Tests for MessageBuilder: big-endian fields and the length written by end().
#include "protocol/message_builder.hpp"

#include <gtest/gtest.h>

#include <string>

namespace pgb::protocol {
namespace {

using namespace std::string_literals;

// 'T' | int32 4: the length counts itself, not the type byte.
TEST(MessageBuilder, EmptyTypedMessage) {
  EXPECT_EQ(MessageBuilder().begin('T').end().take(), "T\0\0\0\x04"s);
}

// int32 8 | int32 0x01020304: an untyped (startup-phase) packet has no type byte.
TEST(MessageBuilder, UntypedMessage) {
  EXPECT_EQ(MessageBuilder().begin(0).int32(0x01020304).end().take(),
            "\0\0\0\x08\x01\x02\x03\x04"s);
}

// 'x' | int32 16 | int32 -1 | int16 -2 | int16 0x7f01 | byte 0xff | "ab\0"
TEST(MessageBuilder, FieldEncodings) {
  auto out = MessageBuilder()
                 .begin('x')
                 .int32(-1)
                 .int16(-2)
                 .int16(0x7f01)
                 .byte('\xff')
                 .cstr("ab")
                 .end()
                 .take();
  EXPECT_EQ(out,
            "x\0\0\0\x10\xff\xff\xff\xff\xff\xfe\x7f\x01\xff"
            "ab\0"s);
}

TEST(MessageBuilder, BytesKeepEmbeddedNuls) {
  auto out = MessageBuilder().begin('d').bytes("a\0b"s).end().take();
  EXPECT_EQ(out,
            "d\0\0\0\x07"
            "a\0b"s);
}

TEST(MessageBuilder, CstrOfEmptyStringIsOneNul) {
  EXPECT_EQ(MessageBuilder().begin('p').cstr("").end().take(), "p\0\0\0\x05\0"s);
}

// Two chained messages: each end() fixes the length of the message begun last.
TEST(MessageBuilder, ChainedMessagesEachGetTheirOwnLength) {
  MessageBuilder b;
  b.begin('P').cstr("abc").end().begin('S').end();
  EXPECT_EQ(b.data(),
            "P\0\0\0\x08"
            "abc\0"
            "S\0\0\0\x04"s);
}

// A length above 255 needs more than the low byte.
TEST(MessageBuilder, LongPayloadLength) {
  auto out = MessageBuilder().begin('D').bytes(std::string(0x1234 - 4, 'a')).end().take();
  ASSERT_EQ(out.size(), 0x1234u + 1);
  EXPECT_EQ(out.substr(0, 5), "D\0\0\x12\x34"s);
}

TEST(MessageBuilder, TakeMovesTheBytesOut) {
  MessageBuilder b;
  b.begin('Z').byte('I').end();
  EXPECT_EQ(b.take(), "Z\0\0\0\x05I"s);
}

}  // namespace
}  // namespace pgb::protocol
