// Tests for SCRAM-SHA-256 in both roles, against the RFC 7677 test vector and each other.
#include "auth/scram.hpp"

#include <gtest/gtest.h>

#include <string>

namespace pgb::auth {
namespace {

// RFC 7677, section 3.
constexpr std::string_view kPassword = "pencil";
constexpr std::string_view kClientNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kSaltB64 = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr int kIterations = 4096;
constexpr std::string_view kClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+"
    "Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
// What PostgreSQL would store for that password, salt and iteration count.
constexpr std::string_view kStoredSecret =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

ScramSecret rfc_secret() {
  return scram_secret_from_password(kPassword, *base64_decode(kSaltB64), kIterations);
}

ScramServerExchange rfc_server() {
  return ScramServerExchange(rfc_secret(), std::string(kServerNonce));
}

std::string b64(const Digest& d) {
  return base64_encode(as_view(d));
}

// ---- secrets ----

TEST(ScramSecret, FromPasswordMatchesRfcVector) {
  ScramSecret s = rfc_secret();
  EXPECT_EQ(s.iterations, 4096);
  EXPECT_EQ(base64_encode(s.salt), kSaltB64);
  EXPECT_EQ(b64(s.stored_key), "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=");
  EXPECT_EQ(b64(s.server_key), "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
  EXPECT_EQ(format_scram_secret(s), kStoredSecret);
}

TEST(ScramSecret, ParseAndFormatRoundTrip) {
  auto s = parse_scram_secret(kStoredSecret);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->iterations, 4096);
  EXPECT_EQ(s->salt, *base64_decode(kSaltB64));
  EXPECT_EQ(s->stored_key, rfc_secret().stored_key);
  EXPECT_EQ(s->server_key, rfc_secret().server_key);
  EXPECT_EQ(format_scram_secret(*s), kStoredSecret);
}

TEST(ScramSecret, MalformedSecretsAreRejected) {
  const std::string keys =
      "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
  for (std::string bad : {
           std::string(""),
           std::string("md5abcdef"),
           "SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,           // other mechanism
           "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,            // zero iterations
           "SCRAM-SHA-256$-1:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,           // negative iterations
           "SCRAM-SHA-256$40x:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,          // junk after the number
           "SCRAM-SHA-256$:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,             // no iterations
           "SCRAM-SHA-256$99999999999:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,  // overflows int
           "SCRAM-SHA-256$4096:" + keys,                                 // empty salt
           "SCRAM-SHA-256$4096:not*base64" + keys,                       // bad salt
           "SCRAM-SHA-256$4096W22ZaJ0SNY7soEsUEjb6gQ==" + keys,  // no ':' between count and salt
           std::string("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=="),  // no keys
           std::string("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
                       "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="),
           // StoredKey of 31 bytes
           std::string("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
                       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==:"
                       "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="),
           std::string(kStoredSecret) + "$extra",
           std::string(kStoredSecret) + ":extra",
       }) {
    EXPECT_FALSE(parse_scram_secret(bad)) << bad;
  }
}

// ---- server role, RFC 7677 vector ----

TEST(ScramServerExchange, RfcVector) {
  auto server = rfc_server();
  auto first = server.handle_client_first(kClientFirst);
  ASSERT_TRUE(first.ok()) << first.error().detail;
  EXPECT_EQ(first.value(), kServerFirst);
  EXPECT_FALSE(server.proven_keys());

  auto final = server.handle_client_final(kClientFinal);
  ASSERT_TRUE(final.ok()) << final.error().message << ": " << final.error().detail;
  EXPECT_EQ(final.value(), kServerFinal);

  // The proven keys are enough to log in as the client: ClientKey hashes to StoredKey.
  ASSERT_TRUE(server.proven_keys());
  EXPECT_EQ(sha256(as_view(server.proven_keys()->client_key)), rfc_secret().stored_key);
  EXPECT_EQ(server.proven_keys()->server_key, rfc_secret().server_key);
}

TEST(ScramServerExchange, WrongProofIsInvalidPassword) {
  auto server =
      ScramServerExchange(scram_secret_from_password("not pencil", *base64_decode(kSaltB64), 4096),
                          std::string(kServerNonce));
  ASSERT_TRUE(server.handle_client_first(kClientFirst).ok());
  auto final = server.handle_client_final(kClientFinal);
  ASSERT_FALSE(final.ok());
  EXPECT_EQ(final.error().sqlstate, "28P01");
  EXPECT_FALSE(server.proven_keys());
}

TEST(ScramServerExchange, GeneratesAFreshServerNonce) {
  ScramServerExchange a(rfc_secret()), b(rfc_secret());
  auto fa = a.handle_client_first(kClientFirst);
  auto fb = b.handle_client_first(kClientFirst);
  ASSERT_TRUE(fa.ok() && fb.ok());
  EXPECT_TRUE(fa.value().starts_with("r=rOprNGfwEbeRWgbNEkqO"));
  EXPECT_GT(fa.value().find(",s="), std::string("r=rOprNGfwEbeRWgbNEkqO").size());
  EXPECT_NE(fa.value(), fb.value());
}

void expect_client_first_rejected(std::string_view message, std::string_view sqlstate = "08P01") {
  auto server = rfc_server();
  auto r = server.handle_client_first(message);
  ASSERT_FALSE(r.ok()) << message;
  EXPECT_EQ(r.error().sqlstate, sqlstate) << message;
}

TEST(ScramServerExchange, MalformedClientFirstIsRejected) {
  expect_client_first_rejected("");
  expect_client_first_rejected("x,,n=,r=abc");   // bad GS2 flag
  expect_client_first_rejected("n,");            // header cut short
  expect_client_first_rejected("n,x,n=,r=abc");  // not an authzid
  expect_client_first_rejected("n,,r=abc");      // no user name attribute
  expect_client_first_rejected("n,,n=");         // no nonce
  expect_client_first_rejected("n,,n=,r=");      // empty nonce
  expect_client_first_rejected("n,,n=,x=abc");   // nonce attribute missing
  expect_client_first_rejected(
      "n,,n=,r=ab\x01"
      "c");                                           // unprintable nonce
  expect_client_first_rejected("n,,m=ext,n=,r=abc");  // mandatory extension
}

TEST(ScramServerExchange, ChannelBindingIsRefused) {
  auto server = rfc_server();
  auto r = server.handle_client_first("p=tls-server-end-point,,n=,r=abc");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().sqlstate, "08P01");
  EXPECT_EQ(r.error().message, "channel binding is not supported by pgbalancer");
}

TEST(ScramServerExchange, AuthzidAndYFlagAreAccepted) {
  auto server = rfc_server();
  EXPECT_TRUE(server.handle_client_first("n,a=user,n=user,r=abc").ok());
  EXPECT_TRUE(rfc_server().handle_client_first("y,,n=,r=abc").ok());
}

// RFC 5802 puts reserved-mext *before* n=, so a user name is just text: "mallory" must not be
// taken for a mandatory extension.
TEST(ScramServerExchange, UserNameStartingWithMIsAccepted) {
  auto server = rfc_server();
  auto r = server.handle_client_first("n,,n=mallory,r=abc");
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().detail);
}

void expect_client_final_rejected(std::string_view final_message, std::string_view detail) {
  auto server = rfc_server();
  ASSERT_TRUE(server.handle_client_first(kClientFirst).ok());
  auto r = server.handle_client_final(final_message);
  ASSERT_FALSE(r.ok()) << final_message;
  EXPECT_EQ(r.error().sqlstate, "08P01") << final_message;
  EXPECT_EQ(r.error().detail, detail) << final_message;
  EXPECT_FALSE(server.proven_keys());
}

TEST(ScramServerExchange, MalformedClientFinalIsRejected) {
  const std::string nonce = std::string(kClientNonce) + std::string(kServerNonce);
  const std::string proof = "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
  expect_client_final_rejected("", "expected proof attribute");
  expect_client_final_rejected("c=biws,r=" + nonce, "expected proof attribute");
  expect_client_final_rejected("c=biws,r=" + nonce.substr(0, 20) + "forged," + proof,
                               "nonce does not match");
  expect_client_final_rejected("c=biws,r=" + nonce + "x," + proof, "nonce does not match");
  expect_client_final_rejected("c=eSws,r=" + nonce + "," + proof,
                               "unexpected channel binding");  // "y,,"
  expect_client_final_rejected("c=b!ws,r=" + nonce + "," + proof, "unexpected channel binding");
  expect_client_final_rejected("r=" + nonce + "," + proof, "expected channel binding and nonce");
  expect_client_final_rejected("c=biws,n=" + nonce + "," + proof,
                               "expected channel binding and nonce");
  expect_client_final_rejected("c=biws,r=" + nonce + ",p=not base64!", "malformed proof");
  expect_client_final_rejected("c=biws,r=" + nonce + ",p=dHzb", "malformed proof");  // 3 bytes
  expect_client_final_rejected("c=biws,r=" + nonce + ",p=", "malformed proof");
}

// ---- client role, against the server role ----

TEST(ScramClientExchange, ClientFirstSendsEmptyUserName) {
  auto client = ScramClientExchange::with_password("pencil", std::string(kClientNonce));
  EXPECT_EQ(client.client_first(), "n,,n=,r=rOprNGfwEbeRWgbNEkqO");
}

TEST(ScramClientExchange, PasswordLoginAgainstServer) {
  auto client =
      ScramClientExchange::with_password(std::string(kPassword), std::string(kClientNonce));
  auto server = rfc_server();
  auto server_first = server.handle_client_first(client.client_first());
  ASSERT_TRUE(server_first.ok());
  EXPECT_EQ(server_first.value(), kServerFirst);  // n= is not part of the server's answer

  auto client_final = client.handle_server_first(server_first.value());
  ASSERT_TRUE(client_final.ok());
  EXPECT_TRUE(client_final.value().starts_with(
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p="));
  // A different client-first-bare ("n=" rather than "n=user") changes the proof.
  EXPECT_NE(client_final.value(), kClientFinal);

  auto server_final = server.handle_client_final(client_final.value());
  ASSERT_TRUE(server_final.ok()) << server_final.error().message;
  EXPECT_TRUE(client.verify_server_final(server_final.value()).ok());
}

// SCRAM pass-through: the keys a client proved to pgbalancer log in to PostgreSQL.
TEST(ScramClientExchange, KeysFromAProvenClientLogIn) {
  auto user = ScramClientExchange::with_password(std::string(kPassword));
  ScramServerExchange front(rfc_secret());
  auto f1 = front.handle_client_first(user.client_first());
  ASSERT_TRUE(f1.ok());
  auto c1 = user.handle_server_first(f1.value());
  ASSERT_TRUE(c1.ok());
  ASSERT_TRUE(front.handle_client_final(c1.value()).ok());
  ASSERT_TRUE(front.proven_keys());

  // PostgreSQL holds the same stored secret and picks its own nonce.
  auto pgb = ScramClientExchange::with_keys(*front.proven_keys());
  ScramServerExchange postgres(parse_scram_secret(kStoredSecret).value());
  auto f2 = postgres.handle_client_first(pgb.client_first());
  ASSERT_TRUE(f2.ok());
  auto c2 = pgb.handle_server_first(f2.value());
  ASSERT_TRUE(c2.ok());
  auto s2 = postgres.handle_client_final(c2.value());
  ASSERT_TRUE(s2.ok()) << s2.error().message;
  EXPECT_TRUE(pgb.verify_server_final(s2.value()).ok());
}

TEST(ScramClientExchange, WrongPasswordIsRejectedWith28P01) {
  auto client = ScramClientExchange::with_password("pencils");
  ScramServerExchange server(rfc_secret());
  auto first = server.handle_client_first(client.client_first());
  ASSERT_TRUE(first.ok());
  auto final = client.handle_server_first(first.value());
  ASSERT_TRUE(final.ok());
  auto r = server.handle_client_final(final.value());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().sqlstate, "28P01");
  EXPECT_FALSE(server.proven_keys());
}

// A server that does not know the password cannot produce the signature.
TEST(ScramClientExchange, ForgedServerSignatureIsRejected) {
  auto client =
      ScramClientExchange::with_password(std::string(kPassword), std::string(kClientNonce));
  ASSERT_TRUE(client.handle_server_first(kServerFirst).ok());
  auto bad = client.verify_server_final("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().sqlstate, "28000");
  auto error = client.verify_server_final("e=invalid-proof");
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.error().sqlstate, "08P01");
}

TEST(ScramClientExchange, MalformedServerFirstIsRejected) {
  const std::string n = std::string(kClientNonce);
  for (std::string bad : {
           std::string(""),
           "r=" + n + "srv,s=W22ZaJ0SNY7soEsUEjb6gQ==",            // no iteration count
           "r=" + n + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",        // nonce not extended
           "r=forged" + n + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  // nonce not a prefix
           "r=" + n + "srv,s=!!!!,i=4096",                         // bad salt
           "r=" + n + "srv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",        // zero iterations
           "r=" + n + "srv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=x",        // not a number
           "m=ext,r=" + n + "srv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
           "s=W22ZaJ0SNY7soEsUEjb6gQ==,r=" + n + "srv,i=4096",  // attributes out of order
       }) {
    auto client = ScramClientExchange::with_password(std::string(kPassword), n);
    (void)client.client_first();
    auto r = client.handle_server_first(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().sqlstate, "08P01") << bad;
  }
}

}  // namespace
}  // namespace pgb::auth
