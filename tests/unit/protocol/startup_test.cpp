// Tests for parse_startup_packet: the first packet a client sends, without its int32 length.
#include "protocol/startup.hpp"

#include "protocol/codes.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>

namespace pgb::protocol {
namespace {

using namespace std::string_literals;

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

StartupMessage expect_startup(const Result<StartupPacket>& r) {
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  if (!r.ok() || !std::holds_alternative<StartupMessage>(r.value())) {
    ADD_FAILURE() << "not a StartupMessage";
    return {};
  }
  return std::get<StartupMessage>(r.value());
}

void expect_error(const Result<StartupPacket>& r, std::string_view sqlstate,
                  std::string_view message) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().sqlstate, sqlstate);
  EXPECT_EQ(r.error().message, message);
}

constexpr std::string_view kBadLayout =
    "invalid startup packet layout: expected terminator as last byte";

// int32 196608 (3.0) | "user\0alice\0" | "database\0db1\0" | "application_name\0psql\0" | "\0"
TEST(ParseStartupPacket, V3WithParamsKeepsClientOrder) {
  auto body = be32(0x00030000) + "user\0alice\0database\0db1\0application_name\0psql\0\0"s;
  auto msg = expect_startup(parse_startup_packet(body));
  EXPECT_EQ(msg.major, 3);
  EXPECT_EQ(msg.minor, 0);
  Parameters want{{"user", "alice"}, {"database", "db1"}, {"application_name", "psql"}};
  EXPECT_EQ(msg.params, want);
  EXPECT_TRUE(msg.protocol_options.empty());
  ASSERT_NE(msg.find("database"), nullptr);
  EXPECT_EQ(*msg.find("database"), "db1");
  EXPECT_EQ(msg.find("options"), nullptr);
}

TEST(ParseStartupPacket, EmptyValueIsAllowed) {
  auto body = be32(0x00030000) + "user\0bob\0options\0\0\0"s;
  auto msg = expect_startup(parse_startup_packet(body));
  Parameters want{{"user", "bob"}, {"options", ""}};
  EXPECT_EQ(msg.params, want);
}

TEST(ParseStartupPacket, NoParametersIsJustTheTerminator) {
  auto msg = expect_startup(parse_startup_packet(be32(0x00030000) + "\0"s));
  EXPECT_TRUE(msg.params.empty());
}

TEST(ParseStartupPacket, MinorVersionIsReportedForNegotiation) {
  auto msg = expect_startup(parse_startup_packet(be32(0x00030002) + "user\0u\0\0"s));
  EXPECT_EQ(msg.major, 3);
  EXPECT_EQ(msg.minor, 2);
}

TEST(ParseStartupPacket, ProtocolOptionsAreSplitOut) {
  auto body = be32(0x00030000) + "_pq_.compression\0on\0user\0alice\0_pq_.other\0x\0\0"s;
  auto msg = expect_startup(parse_startup_packet(body));
  Parameters want{{"user", "alice"}};
  EXPECT_EQ(msg.params, want);
  EXPECT_EQ(msg.protocol_options, (std::vector<std::string>{"_pq_.compression", "_pq_.other"}));
  EXPECT_EQ(msg.find("_pq_.compression"), nullptr);
}

TEST(ParseStartupPacket, DuplicateParameterIsRejected) {
  auto body = be32(0x00030000) + "user\0alice\0database\0d\0user\0mallory\0\0"s;
  expect_error(parse_startup_packet(body), "08P01", "duplicate startup parameter \"user\"");
}

TEST(ParseStartupPacket, MissingFinalTerminatorIsRejected) {
  expect_error(parse_startup_packet(be32(0x00030000) + "user\0alice\0"s), "08P01", kBadLayout);
}

TEST(ParseStartupPacket, NameWithoutValueIsRejected) {
  expect_error(parse_startup_packet(be32(0x00030000) + "user\0"s), "08P01", kBadLayout);
}

TEST(ParseStartupPacket, TruncatedInsideAStringIsRejected) {
  expect_error(parse_startup_packet(be32(0x00030000) + "user\0ali"s), "08P01", kBadLayout);
  expect_error(parse_startup_packet(be32(0x00030000) + "us"s), "08P01", kBadLayout);
  expect_error(parse_startup_packet(be32(0x00030000)), "08P01", kBadLayout);
}

TEST(ParseStartupPacket, BytesAfterTerminatorAreRejected) {
  expect_error(parse_startup_packet(be32(0x00030000) + "user\0a\0\0x"s), "08P01", kBadLayout);
}

TEST(ParseStartupPacket, TooShortForAVersionIsRejected) {
  expect_error(parse_startup_packet(""), "08P01", "invalid length of startup packet");
  expect_error(parse_startup_packet("\0\3\0"s), "08P01", "invalid length of startup packet");
}

// int32 80877103 (1234 << 16 | 5679), nothing else
TEST(ParseStartupPacket, SslRequest) {
  auto r = parse_startup_packet(be32(kSslRequestCode));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(std::holds_alternative<SslRequest>(r.value()));
  EXPECT_EQ(be32(kSslRequestCode), "\x04\xd2\x16\x2f"s);
}

TEST(ParseStartupPacket, SslRequestWithExtraBytesIsRejected) {
  expect_error(parse_startup_packet(be32(kSslRequestCode) + "x"s), "08P01",
               "invalid length of startup packet");
}

// int32 80877104 (1234 << 16 | 5680), nothing else
TEST(ParseStartupPacket, GssEncRequest) {
  auto r = parse_startup_packet(be32(kGssEncRequestCode));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(std::holds_alternative<GssEncRequest>(r.value()));
}

TEST(ParseStartupPacket, GssEncRequestWithExtraBytesIsRejected) {
  expect_error(parse_startup_packet(be32(kGssEncRequestCode) + "\0\0\0\0"s), "08P01",
               "invalid length of startup packet");
}

// int32 80877102 (1234 << 16 | 5678) | int32 process id | int32 secret key
TEST(ParseStartupPacket, CancelRequest) {
  auto r = parse_startup_packet(be32(kCancelRequestCode) + be32(4242) + be32(0xdeadbeef));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(std::holds_alternative<CancelRequest>(r.value()));
  const auto& c = std::get<CancelRequest>(r.value());
  EXPECT_EQ(c.process_id, 4242);
  EXPECT_EQ(c.secret_key, static_cast<std::int32_t>(0xdeadbeef));
}

TEST(ParseStartupPacket, CancelRequestWithWrongLengthIsRejected) {
  constexpr std::string_view kMsg = "invalid length of cancel request packet";
  expect_error(parse_startup_packet(be32(kCancelRequestCode)), "08P01", kMsg);
  expect_error(parse_startup_packet(be32(kCancelRequestCode) + be32(1)), "08P01", kMsg);
  expect_error(parse_startup_packet(be32(kCancelRequestCode) + be32(1) + "\0\0\0"s), "08P01", kMsg);
  expect_error(parse_startup_packet(be32(kCancelRequestCode) + be32(1) + be32(2) + "x"s), "08P01",
               kMsg);
}

TEST(ParseStartupPacket, Protocol2IsUnsupported) {
  expect_error(parse_startup_packet(be32(0x00020000) + "user\0a\0\0"s), "0A000",
               "unsupported frontend protocol 2.0: server supports 3.0 to 3.0");
}

TEST(ParseStartupPacket, UnknownCodeIsAnUnsupportedProtocol) {
  expect_error(parse_startup_packet(be32((1234u << 16) | 9999u)), "0A000",
               "unsupported frontend protocol 1234.9999: server supports 3.0 to 3.0");
  expect_error(parse_startup_packet(be32(0x00040000) + "\0"s), "0A000",
               "unsupported frontend protocol 4.0: server supports 3.0 to 3.0");
}

}  // namespace
}  // namespace pgb::protocol
