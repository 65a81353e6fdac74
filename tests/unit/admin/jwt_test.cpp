#include "admin/jwt.hpp"

#include "auth/crypto.hpp"

#include <gtest/gtest.h>

namespace pgb::admin {
namespace {

constexpr std::string_view kSecret = "pgbalancer-test-secret-0123456789abcdef";
constexpr std::int64_t kNow = 1'800'000'000;

JwtPolicy policy_with(std::string secret) {
  JwtPolicy p;
  p.secret = std::move(secret);
  return p;
}
JwtPolicy policy() { return policy_with(std::string(kSecret)); }

std::string b64url(std::string_view bytes) {
  std::string t = auth::base64_encode(bytes);
  while (!t.empty() && t.back() == '=') t.pop_back();
  for (char& c : t) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return t;
}

// A token with any header and payload, HMAC-SHA256-signed with `key` (how a forger who knows
// or guesses a key would make one).
std::string forge(std::string_view header, std::string_view payload, std::string_view key) {
  std::string signed_part = b64url(header) + "." + b64url(payload);
  return signed_part + "." + b64url(auth::as_view(auth::hmac_sha256(key, signed_part)));
}

std::string payload(std::string_view role, std::int64_t exp = kNow + 600) {
  return R"({"role":")" + std::string(role) + R"(","exp":)" + std::to_string(exp) + "}";
}

constexpr std::string_view kHs256 = R"({"alg":"HS256","typ":"JWT"})";

JwtRefusal refusal(std::string_view token, const JwtPolicy& p = policy(), std::int64_t now = kNow) {
  auto r = verify_jwt(token, p, now);
  EXPECT_TRUE(std::holds_alternative<JwtRefusal>(r)) << "accepted: " << token;
  return std::holds_alternative<JwtRefusal>(r) ? std::get<JwtRefusal>(r) : JwtRefusal::Malformed;
}

TEST(Jwt, SignedTokensVerifyWithTheirRole) {
  for (Role role : {Role::Viewer, Role::Admin}) {
    auto token = sign_jwt({role, "ops", kNow + 3600}, kSecret, kNow);
    auto r = verify_jwt(token, policy(), kNow);
    ASSERT_TRUE(std::holds_alternative<JwtClaims>(r)) << to_string(std::get<JwtRefusal>(r));
    EXPECT_EQ(std::get<JwtClaims>(r).role, role);
    EXPECT_EQ(std::get<JwtClaims>(r).subject, "ops");
    EXPECT_EQ(std::get<JwtClaims>(r).expires_at, kNow + 3600);
  }
}

TEST(Jwt, AcceptsATokenFromPyJwt) {
  // jwt.encode({'role':'admin','sub':'ops','exp':4102444800,'iat':1764547200}, kSecret, 'HS256')
  constexpr std::string_view token =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
      "eyJyb2xlIjoiYWRtaW4iLCJzdWIiOiJvcHMiLCJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MTc2NDU0NzIwMH0."
      "-ioQKkW4eiFO_e9wZk9OuG0OdX0uJ6OwmH21JbgHiHk";
  auto r = verify_jwt(token, policy(), kNow);
  ASSERT_TRUE(std::holds_alternative<JwtClaims>(r));
  EXPECT_EQ(std::get<JwtClaims>(r).role, Role::Admin);
}

TEST(Jwt, RfcExampleSignatureVerifies) {
  // RFC 7515 appendix A.1: the signature is right, the token has no role and expired in 2011.
  constexpr std::string_view token =
      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
      "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  auto key = auth::base64_decode(
      "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ+EstJQLr/T+1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow==");
  ASSERT_TRUE(key);
  JwtPolicy p = policy_with(*key);
  EXPECT_EQ(refusal(token, p, 1'300'819'000), JwtRefusal::NoRole);
  EXPECT_EQ(refusal(token, p, kNow), JwtRefusal::Expired);
  p.secret.back() ^= 1;
  EXPECT_EQ(refusal(token, p, 1'300'819'000), JwtRefusal::BadSignature);
}

TEST(Jwt, AlgorithmIsPinned) {
  // "none" with no signature, and with the signature a confused verifier would compute.
  std::string none_header = R"({"alg":"none","typ":"JWT"})";
  EXPECT_EQ(refusal(b64url(none_header) + "." + b64url(payload("admin")) + "."),
            JwtRefusal::WrongAlgorithm);
  EXPECT_EQ(refusal(forge(none_header, payload("admin"), kSecret)), JwtRefusal::WrongAlgorithm);
  // RS256/ES256 headers over an HMAC made with the secret (the HS/RS confusion attack), and
  // other HMAC sizes.
  for (std::string_view alg : {"RS256", "ES256", "HS384", "HS512", "hs256"}) {
    std::string header = R"({"alg":")" + std::string(alg) + R"("})";
    EXPECT_EQ(refusal(forge(header, payload("admin"), kSecret)), JwtRefusal::WrongAlgorithm) << alg;
  }
  EXPECT_EQ(refusal(forge(R"({"typ":"JWT"})", payload("admin"), kSecret)),
            JwtRefusal::WrongAlgorithm);
  EXPECT_EQ(refusal(forge(R"({"alg":["HS256"]})", payload("admin"), kSecret)),
            JwtRefusal::WrongAlgorithm);
  EXPECT_EQ(refusal(forge(R"({"alg":"HS256","crit":["exp"]})", payload("admin"), kSecret)),
            JwtRefusal::WrongAlgorithm);
}

TEST(Jwt, WrongKeyAndTamperingAreRefused) {
  EXPECT_EQ(refusal(forge(kHs256, payload("admin"), "another-secret-of-thirty-two-bytes!!")),
            JwtRefusal::BadSignature);
  // A viewer token with its payload swapped for an admin one, signature kept.
  auto viewer = sign_jwt({Role::Viewer, "", kNow + 600}, kSecret, kNow);
  auto dot1 = viewer.find('.'), dot2 = viewer.rfind('.');
  std::string tampered = viewer.substr(0, dot1 + 1) + b64url(payload("admin")) + viewer.substr(dot2);
  EXPECT_EQ(refusal(tampered), JwtRefusal::BadSignature);
  // One changed character of the signature; its last character changed in the bits that do
  // not count (the same bytes, spelled another way); a truncated one; none at all.
  std::string changed = viewer;
  changed[dot2 + 5] = changed[dot2 + 5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(refusal(changed), JwtRefusal::BadSignature);
  constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string respelled = viewer;  // 32 bytes are 43 characters: the last one has 2 spare bits
  respelled.back() = alphabet[alphabet.find(respelled.back()) ^ 1];
  EXPECT_EQ(refusal(respelled), JwtRefusal::BadSignature);
  EXPECT_EQ(refusal(viewer.substr(0, viewer.size() - 4)), JwtRefusal::BadSignature);
  EXPECT_EQ(refusal(viewer.substr(0, dot2 + 1)), JwtRefusal::BadSignature);
}

TEST(Jwt, TimeClaimsWithLeeway) {
  auto at = [](std::string claims) { return forge(kHs256, claims, kSecret); };
  EXPECT_EQ(refusal(at(R"({"role":"admin"})")), JwtRefusal::NoExpiry);
  EXPECT_EQ(refusal(at(payload("admin", kNow - 31))), JwtRefusal::Expired);
  EXPECT_TRUE(std::holds_alternative<JwtClaims>(verify_jwt(at(payload("admin", kNow - 29)), policy(), kNow)));
  auto with = [&](std::string_view extra) {
    return at(R"({"role":"viewer","exp":)" + std::to_string(kNow + 600) + "," + std::string(extra) + "}");
  };
  EXPECT_EQ(refusal(with(R"("nbf":)" + std::to_string(kNow + 31))), JwtRefusal::NotYetValid);
  EXPECT_TRUE(std::holds_alternative<JwtClaims>(
      verify_jwt(with(R"("nbf":)" + std::to_string(kNow + 29)), policy(), kNow)));
  EXPECT_EQ(refusal(with(R"("iat":)" + std::to_string(kNow + 31))), JwtRefusal::IssuedInFuture);
  EXPECT_TRUE(std::holds_alternative<JwtClaims>(verify_jwt(with(R"("iat":1.5e9)"), policy(), kNow)));
  EXPECT_EQ(refusal(at(R"({"role":"admin","exp":"tomorrow"})")), JwtRefusal::Malformed);
  // Extreme values: no overflow (UBSan would tell), and out-of-range numbers are malformed.
  EXPECT_TRUE(std::holds_alternative<JwtClaims>(
      verify_jwt(at(R"({"role":"admin","exp":9223372036854775807})"), policy(), kNow)));
  EXPECT_EQ(refusal(at(R"({"role":"admin","exp":18446744073709551615})")), JwtRefusal::Malformed);
  EXPECT_EQ(refusal(at(R"({"role":"admin","exp":1e300})")), JwtRefusal::Malformed);
  EXPECT_EQ(refusal(at(R"({"role":"admin","exp":-9223372036854775808})")), JwtRefusal::Expired);
  EXPECT_EQ(refusal(with(R"("nbf":null)")), JwtRefusal::Malformed);
}

TEST(Jwt, RoleIssuerAndAudience) {
  EXPECT_EQ(refusal(forge(kHs256, R"({"exp":1900000000})", kSecret)), JwtRefusal::NoRole);
  EXPECT_EQ(refusal(forge(kHs256, payload("root"), kSecret)), JwtRefusal::UnknownRole);
  EXPECT_EQ(refusal(forge(kHs256, R"({"role":1,"exp":1900000000})", kSecret)),
            JwtRefusal::UnknownRole);
  JwtPolicy strict = policy();
  strict.issuer = "ops-portal";
  strict.audience = "pgbalancer";
  std::string good = R"({"role":"admin","exp":1900000000,"iss":"ops-portal","aud":["x","pgbalancer"]})";
  EXPECT_TRUE(std::holds_alternative<JwtClaims>(verify_jwt(forge(kHs256, good, kSecret), strict, kNow)));
  EXPECT_EQ(refusal(forge(kHs256, payload("admin"), kSecret), strict), JwtRefusal::WrongIssuer);
  EXPECT_EQ(refusal(forge(kHs256, R"({"role":"admin","exp":1900000000,"iss":"ops-portal","aud":"x"})",
                          kSecret),
                    strict),
            JwtRefusal::WrongAudience);
}

TEST(Jwt, MalformedTokens) {
  auto good = sign_jwt({Role::Admin, "", kNow + 600}, kSecret, kNow);
  for (std::string bad : {std::string(""), std::string("abc"), std::string("a.b"), good + ".x",
                          "!" + good, std::string(".."), b64url("[]") + "." + b64url("{}") + ".x"}) {
    EXPECT_EQ(refusal(bad), JwtRefusal::Malformed) << bad;
  }
  // Padded or standard-alphabet base64 is not base64url.
  std::string padded = b64url(kHs256) + "=." + good.substr(good.find('.') + 1);
  EXPECT_EQ(refusal(padded), JwtRefusal::Malformed);
  // A correctly signed payload that is not JSON.
  EXPECT_EQ(refusal(forge(kHs256, "not json", kSecret)), JwtRefusal::Malformed);
}

TEST(Jwt, NothingVerifiesUnderAShortSecretOrAHugeLeeway) {
  auto token = forge(kHs256, payload("admin"), "k");
  EXPECT_EQ(refusal(token, policy_with("k")), JwtRefusal::BadSignature);
  EXPECT_EQ(refusal(forge(kHs256, payload("admin"), ""), policy_with("")), JwtRefusal::BadSignature);
  JwtPolicy lax = policy();
  lax.leeway = std::chrono::seconds(INT64_MAX);  // clamped to 300 s
  EXPECT_EQ(refusal(forge(kHs256, payload("admin", kNow - 301), kSecret), lax), JwtRefusal::Expired);
}

TEST(Jwt, ShortSecretsAreAProblem) {
  EXPECT_TRUE(jwt_secret_problem(std::string(31, 'k')));
  EXPECT_FALSE(jwt_secret_problem(std::string(32, 'k')));
  EXPECT_EQ(*jwt_secret_problem("short"), "the JWT secret is 5 bytes long; HS256 needs at least 32");
}

}  // namespace
}  // namespace pgb::admin
