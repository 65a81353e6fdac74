// Tests for the encoders and decoders of the messages pgbalancer originates or inspects.
#include "protocol/messages.hpp"

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

// The payload of a typed message, after checking that its length field covers exactly the rest.
std::string payload_of(const std::string& msg, char type) {
  EXPECT_GE(msg.size(), 5u);
  if (msg.size() < 5) return {};
  EXPECT_EQ(msg[0], type);
  EXPECT_EQ(msg.substr(1, 4), be32(static_cast<std::uint32_t>(msg.size() - 1)));
  return msg.substr(5);
}

// ---- ErrorResponse ----

// 'E' | int32 len | 'S' "FATAL\0" | 'V' "FATAL\0" | 'C' "28P01\0" | 'M' "bad password\0" | '\0'
TEST(ErrorResponse, ExactBytes) {
  auto msg = error_response(Error{"28P01", "bad password", ""});
  std::string body = "SFATAL\0VFATAL\0C28P01\0Mbad password\0\0"s;
  EXPECT_EQ(msg, "E"s + be32(static_cast<std::uint32_t>(4 + body.size())) + body);
}

// ... | 'M' message "\0" | 'D' detail "\0" | '\0'
TEST(ErrorResponse, DetailIsAppendedWhenPresent) {
  auto msg = error_response(Error{"57P01", "terminating", "admin said so"}, "ERROR");
  std::string body = "SERROR\0VERROR\0C57P01\0Mterminating\0Dadmin said so\0\0"s;
  EXPECT_EQ(msg, "E"s + be32(static_cast<std::uint32_t>(4 + body.size())) + body);
}

TEST(ErrorResponse, MissingSqlstateBecomesInternalError) {
  auto fields = parse_error_response(payload_of(error_response(Error{"", "oops", ""}), 'E'));
  ASSERT_TRUE(fields);
  EXPECT_EQ(fields->error.sqlstate, "XX000");
}

TEST(ErrorResponse, RoundTripsThroughParse) {
  Error e{"08P01", "invalid message length", "length 3 is below 4"};
  auto fields = parse_error_response(payload_of(error_response(e, "ERROR"), 'E'));
  ASSERT_TRUE(fields);
  EXPECT_EQ(fields->severity, "ERROR");
  EXPECT_EQ(fields->error.sqlstate, e.sqlstate);
  EXPECT_EQ(fields->error.message, e.message);
  EXPECT_EQ(fields->error.detail, e.detail);
}

// A localized server: 'S' is translated, 'V' is not; unknown fields ('H', 'P') are skipped.
TEST(ParseErrorResponse, PrefersNonLocalizedSeverity) {
  auto fields = parse_error_response("SFATAL-DE\0VFATAL\0C28000\0Mnein\0Hhint\0P12\0\0"s);
  ASSERT_TRUE(fields);
  EXPECT_EQ(fields->severity, "FATAL");
  EXPECT_EQ(fields->error.sqlstate, "28000");
  EXPECT_EQ(fields->error.message, "nein");
  EXPECT_EQ(fields->error.detail, "");
}

// Servers before 9.6 send no 'V' field.
TEST(ParseErrorResponse, FallsBackToLocalizedSeverity) {
  auto fields = parse_error_response("SPANIC\0CXX000\0Mboom\0\0"s);
  ASSERT_TRUE(fields);
  EXPECT_EQ(fields->severity, "PANIC");
}

TEST(ParseErrorResponse, TruncatedInputIsRejected) {
  EXPECT_FALSE(parse_error_response(""));                       // no terminator at all
  EXPECT_FALSE(parse_error_response("SERROR\0"s));              // missing final '\0'
  EXPECT_FALSE(parse_error_response("SERROR\0Mhalf a mess"s));  // field without NUL
  EXPECT_FALSE(parse_error_response("M"s));                     // code without a value
  EXPECT_TRUE(parse_error_response("\0"s));                     // no fields is well formed
}

// ---- Authentication ----

// 'R' | int32 8 | int32 0 (AuthenticationOk)
TEST(Authentication, OkExactBytes) {
  EXPECT_EQ(authentication(AuthRequest::Ok), "R\0\0\0\x08\0\0\0\0"s);
}

// 'R' | int32 12 | int32 5 (MD5Password) | 4 salt bytes
TEST(Authentication, Md5WithSaltExactBytes) {
  EXPECT_EQ(authentication(AuthRequest::Md5Password, "\x01\x02\xfe\xff"s),
            "R\0\0\0\x0c\0\0\0\x05\x01\x02\xfe\xff"s);
}

// 'R' | int32 23 | int32 10 (SASL) | "SCRAM-SHA-256\0" | '\0' (end of mechanism list)
TEST(Authentication, SaslMechanismListExactBytes) {
  EXPECT_EQ(authentication(AuthRequest::Sasl, "SCRAM-SHA-256\0\0"s),
            "R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0"s);
}

TEST(ParseAuthentication, RoundTripsEveryRequest) {
  for (auto req : {AuthRequest::Ok, AuthRequest::CleartextPassword, AuthRequest::Md5Password,
                   AuthRequest::Sasl, AuthRequest::SaslContinue, AuthRequest::SaslFinal}) {
    const std::string payload = payload_of(authentication(req, "data"), 'R');
    auto parsed = parse_authentication(payload);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->request, req);
    EXPECT_EQ(parsed->data, "data");
  }
}

TEST(ParseAuthentication, TooShortIsRejected) {
  EXPECT_FALSE(parse_authentication(""));
  EXPECT_FALSE(parse_authentication("\0\0\0"s));
  const std::string payload = "\0\0\0\0"s;
  auto ok = parse_authentication(payload);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->request, AuthRequest::Ok);
  EXPECT_TRUE(ok->data.empty());
}

// ---- ParameterStatus ----

// 'S' | int32 25 | "client_encoding\0" | "UTF8\0"
TEST(ParameterStatus, ExactBytes) {
  EXPECT_EQ(parameter_status("client_encoding", "UTF8"),
            "S\0\0\0\x19"
            "client_encoding\0UTF8\0"s);
}

TEST(ParseParameterStatus, RoundTrip) {
  const std::string payload = payload_of(parameter_status("TimeZone", "Europe/Paris"), 'S');
  auto parsed = parse_parameter_status(payload);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->first, "TimeZone");
  EXPECT_EQ(parsed->second, "Europe/Paris");
}

TEST(ParseParameterStatus, MalformedIsRejected) {
  EXPECT_FALSE(parse_parameter_status(""));
  EXPECT_FALSE(parse_parameter_status("name\0"s));          // value missing
  EXPECT_FALSE(parse_parameter_status("name\0value"s));     // value not terminated
  EXPECT_FALSE(parse_parameter_status("name\0value\0x"s));  // trailing bytes
}

// ---- BackendKeyData ----

// 'K' | int32 12 | int32 process id | int32 secret key
TEST(BackendKeyData, ExactBytes) {
  EXPECT_EQ(backend_key_data(0x01020304, -1), "K\0\0\0\x0c\x01\x02\x03\x04\xff\xff\xff\xff"s);
}

TEST(ParseBackendKeyData, RoundTripsNegativeKeys) {
  auto parsed = parse_backend_key_data(payload_of(backend_key_data(77, INT32_MIN), 'K'));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->first, 77);
  EXPECT_EQ(parsed->second, INT32_MIN);
}

TEST(ParseBackendKeyData, WrongLengthIsRejected) {
  EXPECT_FALSE(parse_backend_key_data(std::string(7, '\1')));
  EXPECT_FALSE(parse_backend_key_data(std::string(9, '\1')));
  EXPECT_TRUE(parse_backend_key_data(std::string(8, '\1')));
}

// ---- ReadyForQuery, Terminate, Query ----

// 'Z' | int32 5 | status byte
TEST(ReadyForQuery, ExactBytes) {
  EXPECT_EQ(ready_for_query('T'), "Z\0\0\0\x05T"s);
}

// 'X' | int32 4
TEST(Terminate, ExactBytes) {
  EXPECT_EQ(terminate(), "X\0\0\0\x04"s);
}

// 'Q' | int32 13 | "SELECT 1\0"
TEST(Query, ExactBytes) {
  EXPECT_EQ(query("SELECT 1"), "Q\0\0\0\x0dSELECT 1\0"s);
}

// 'v' | int32 len | int32 newest minor | int32 option count | option names, NUL-terminated
TEST(NegotiateProtocolVersion, ExactBytes) {
  std::string body = be32(0) + be32(2) + "_pq_.a\0_pq_.b\0"s;
  EXPECT_EQ(negotiate_protocol_version(0, {"_pq_.a", "_pq_.b"}),
            "v"s + be32(static_cast<std::uint32_t>(4 + body.size())) + body);
}

// ---- frontend -> backend ----

// int32 len (no type byte) | int32 196608 | "user\0bob\0" | "database\0db\0" | '\0'
TEST(StartupMessage, ExactBytes) {
  auto msg = startup_message({{"user", "bob"}, {"database", "db"}});
  std::string body = be32(196608) + "user\0bob\0database\0db\0\0"s;
  EXPECT_EQ(msg, be32(static_cast<std::uint32_t>(4 + body.size())) + body);
}

TEST(StartupMessage, RoundTripsThroughParseStartupPacket) {
  Parameters params{{"user", "bob"}, {"database", "db"}, {"application_name", "pgbalancer"}};
  auto msg = startup_message(params);
  auto parsed = parse_startup_packet(std::string_view(msg).substr(4));
  ASSERT_TRUE(parsed.ok());
  ASSERT_TRUE(std::holds_alternative<StartupMessage>(parsed.value()));
  EXPECT_EQ(std::get<StartupMessage>(parsed.value()).params, params);
}

// int32 16 | int32 80877102 | int32 process id | int32 secret key
TEST(CancelRequestMessage, ExactBytes) {
  EXPECT_EQ(cancel_request(5, -2), be32(16) + be32(80877102) + be32(5) + be32(0xfffffffe));
}

TEST(CancelRequestMessage, RoundTripsThroughParseStartupPacket) {
  auto msg = cancel_request(123456, -987654);
  auto parsed = parse_startup_packet(std::string_view(msg).substr(4));
  ASSERT_TRUE(parsed.ok());
  ASSERT_TRUE(std::holds_alternative<CancelRequest>(parsed.value()));
  EXPECT_EQ(std::get<CancelRequest>(parsed.value()).process_id, 123456);
  EXPECT_EQ(std::get<CancelRequest>(parsed.value()).secret_key, -987654);
}

// int32 8 | int32 80877103
TEST(SslRequestMessage, ExactBytes) {
  EXPECT_EQ(ssl_request(), be32(8) + be32(80877103));
}

// 'p' | int32 len | "secret\0"
TEST(PasswordMessage, ExactBytes) {
  EXPECT_EQ(password_message("secret"), "p\0\0\0\x0bsecret\0"s);
}

TEST(ParsePasswordMessage, AcceptsOneTerminatedString) {
  EXPECT_EQ(parse_password_message("secret\0"s), "secret");
  EXPECT_EQ(parse_password_message("\0"s), "");
  EXPECT_EQ(parse_password_message(payload_of(password_message("md5abc"), 'p')), "md5abc");
}

TEST(ParsePasswordMessage, MissingOrMisplacedNulIsRejected) {
  EXPECT_FALSE(parse_password_message(""));
  EXPECT_FALSE(parse_password_message("secret"));
  EXPECT_FALSE(parse_password_message("sec\0ret\0"s));
}

// 'p' | int32 len | "SCRAM-SHA-256\0" | int32 data length | data
TEST(SaslInitialResponse, ExactBytes) {
  std::string body = "SCRAM-SHA-256\0"s + be32(4) + "n,,x";
  EXPECT_EQ(sasl_initial_response("SCRAM-SHA-256", "n,,x"),
            "p"s + be32(static_cast<std::uint32_t>(4 + body.size())) + body);
}

// 'p' | int32 len | data (no terminator, no inner length)
TEST(SaslResponse, ExactBytes) {
  EXPECT_EQ(sasl_response("c=biws"),
            "p\0\0\0\x0a"
            "c=biws"s);
}

TEST(ParseSaslInitialResponse, RoundTrip) {
  std::string data = "n,,n=,r=abc\0binary"s;
  const std::string payload = payload_of(sasl_initial_response("SCRAM-SHA-256", data), 'p');
  auto parsed = parse_sasl_initial_response(payload);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->mechanism, "SCRAM-SHA-256");
  EXPECT_EQ(parsed->data, data);
}

// "SCRAM-SHA-256\0" | int32 -1 : a client with no initial response
TEST(ParseSaslInitialResponse, LengthMinusOneMeansNoData) {
  const std::string payload = "SCRAM-SHA-256\0"s + be32(0xffffffff);
  auto parsed = parse_sasl_initial_response(payload);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->mechanism, "SCRAM-SHA-256");
  EXPECT_TRUE(parsed->data.empty());
  EXPECT_FALSE(parse_sasl_initial_response("SCRAM-SHA-256\0"s + be32(0xffffffff) + "x"));
}

TEST(ParseSaslInitialResponse, MalformedIsRejected) {
  EXPECT_FALSE(parse_sasl_initial_response(""));
  EXPECT_FALSE(parse_sasl_initial_response("SCRAM-SHA-256"));         // no NUL
  EXPECT_FALSE(parse_sasl_initial_response("SCRAM-SHA-256\0"s));      // no length
  EXPECT_FALSE(parse_sasl_initial_response("SCRAM-SHA-256\0\0\0"s));  // half a length
  EXPECT_FALSE(
      parse_sasl_initial_response("SCRAM-SHA-256\0"s + be32(10) + "short"));  // truncated data
  EXPECT_FALSE(
      parse_sasl_initial_response("SCRAM-SHA-256\0"s + be32(2) + "long"));  // trailing bytes
  EXPECT_FALSE(parse_sasl_initial_response("SCRAM-SHA-256\0"s + be32(0xfffffffe)));  // length -2
  EXPECT_FALSE(
      parse_sasl_initial_response("SCRAM-SHA-256\0"s + be32(0x80000000) + "x"));  // INT32_MIN
}

// ---- DataRow and the extended-protocol query ----

// int16 3 | int32 1 "a" | int32 -1 (NULL) | int32 0 ""
TEST(ParseDataRow, ColumnsAndNulls) {
  const std::string payload = "\0\3"s + be32(1) + "a" + be32(0xffffffff) + be32(0);
  auto row = parse_data_row(payload);
  ASSERT_TRUE(row);
  ASSERT_EQ(row->size(), 3u);
  EXPECT_EQ((*row)[0], "a");
  EXPECT_FALSE((*row)[1].has_value());
  EXPECT_EQ((*row)[2], "");
}

TEST(ParseDataRow, MalformedIsRejected) {
  EXPECT_FALSE(parse_data_row(""));
  EXPECT_FALSE(parse_data_row("\0\1"s));                     // a column promised, none there
  EXPECT_FALSE(parse_data_row("\0\1"s + be32(5) + "abc"));   // truncated value
  EXPECT_FALSE(parse_data_row("\0\1"s + be32(1) + "ab"));    // trailing bytes
  EXPECT_FALSE(parse_data_row("\xff\xff"s));                 // negative count
  EXPECT_FALSE(parse_data_row("\0\1"s + be32(0xfffffffe)));  // length -2
}

// Parse 'P' | Bind 'B' | Execute 'E' | Sync 'S', each with a correct length.
TEST(ExtendedQuery, IsParseBindExecuteSync) {
  auto bytes = extended_query("SELECT $1", {"42"});
  std::string types;
  std::size_t pos = 0;
  while (pos + 5 <= bytes.size()) {
    types.push_back(bytes[pos]);
    std::uint32_t len = (std::uint32_t{static_cast<unsigned char>(bytes[pos + 1])} << 24) |
                        (std::uint32_t{static_cast<unsigned char>(bytes[pos + 2])} << 16) |
                        (std::uint32_t{static_cast<unsigned char>(bytes[pos + 3])} << 8) |
                        std::uint32_t{static_cast<unsigned char>(bytes[pos + 4])};
    pos += 1 + len;
  }
  EXPECT_EQ(pos, bytes.size());
  EXPECT_EQ(types, "PBES");
  // Bind: portal "" | statement "" | int16 0 formats | int16 1 param | int32 2 "42" | int16 0
  // result formats
  EXPECT_NE(bytes.find("\0\0\0\0\0\1\0\0\0\x02"
                       "42\0\0"s),
            std::string::npos);
}

}  // namespace
}  // namespace pgb::protocol
