// Tests of examples/server/jwt.h: HS256 pinned, exp checked, signatures
// checked in constant time, anything else refused.
#include "jwt.h"

#include <sodium.h>

#include <string>

#include "support/status_matchers.h"

namespace courier::server {
namespace {

using ::courier::testing::StatusIs;

constexpr TimeMs kNow = 1'800'000'000'000;
const std::string kSecret(40, 'k');

std::string B64(std::string_view s) {
  std::string out(sodium_base64_encoded_len(s.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(s.data()),
                    s.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.pop_back();
  return out;
}

std::string HmacB64(std::string_view key, std::string_view input) {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(input.data()),
                                input.size());
  crypto_auth_hmacsha256_final(&st, mac);
  return B64(std::string_view(reinterpret_cast<const char*>(mac), sizeof mac));
}

// A token made by hand: header and claims as given, signed with `key`.
std::string Forge(std::string_view header, std::string_view claims, std::string_view key) {
  std::string input = B64(header) + "." + B64(claims);
  return input + "." + HmacB64(key, input);
}

TokenSigner Signer(const std::string& secret = kSecret) {
  absl::StatusOr<TokenSigner> s = TokenSigner::Create(secret);
  COURIER_REQUIRE_OK(s);
  return *std::move(s);
}

TEST_CASE("Jwt: a fresh token verifies to its subject", "[server][jwt]") {
  TokenSigner signer = Signer();
  IssuedToken t = signer.Issue("alice", kNow, 3'600'000);
  CHECK(t.expires_at_ms == kNow + 3'600'000);
  absl::StatusOr<UserId> user = signer.Verify(t.token, kNow + 1000);
  COURIER_REQUIRE_OK(user);
  CHECK(*user == "alice");
}

TEST_CASE("Jwt: a token made elsewhere with the same secret verifies", "[server][jwt]") {
  std::string token = Forge(R"({"alg":"HS256","typ":"JWT"})",
                            R"({"sub":"bob","exp":1800000100})", kSecret);
  absl::StatusOr<UserId> user = Signer().Verify(token, kNow);
  COURIER_REQUIRE_OK(user);
  CHECK(*user == "bob");
}

TEST_CASE("Jwt: an expired token is refused", "[server][jwt]") {
  TokenSigner signer = Signer();
  IssuedToken t = signer.Issue("alice", kNow - 7'200'000, 3'600'000);
  REQUIRE_THAT(signer.Verify(t.token, kNow).status(),
               StatusIs(absl::StatusCode::kUnauthenticated));
  // Exactly at exp is expired too.
  REQUIRE_THAT(signer.Verify(t.token, t.expires_at_ms).status(),
               StatusIs(absl::StatusCode::kUnauthenticated));
  // A token without exp never verifies.
  std::string no_exp = Forge(R"({"alg":"HS256"})", R"({"sub":"alice"})", kSecret);
  REQUIRE_THAT(signer.Verify(no_exp, kNow).status(), StatusIs(absl::StatusCode::kUnauthenticated));
  std::string text_exp = Forge(R"({"alg":"HS256"})", R"({"sub":"alice","exp":"9999999999"})", kSecret);
  REQUIRE_THAT(signer.Verify(text_exp, kNow).status(), StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_CASE("Jwt: alg none is refused, signed or not", "[server][jwt]") {
  TokenSigner signer = Signer();
  std::string claims = R"({"sub":"alice","exp":1900000000})";
  std::string unsigned_token = B64(R"({"alg":"none","typ":"JWT"})") + "." + B64(claims) + ".";
  REQUIRE_THAT(signer.Verify(unsigned_token, kNow).status(),
               StatusIs(absl::StatusCode::kUnauthenticated));
  std::string two_parts = B64(R"({"alg":"none"})") + "." + B64(claims);
  REQUIRE_THAT(signer.Verify(two_parts, kNow).status(),
               StatusIs(absl::StatusCode::kUnauthenticated));
  // Even with a correct HMAC, only "HS256" is accepted as the algorithm.
  for (std::string_view header : {R"({"alg":"none"})", R"({"alg":"HS512"})", R"({"alg":"hs256"})",
                                  R"({"alg":"RS256"})", R"({"typ":"JWT"})", R"({"alg":256})"}) {
    INFO(header);
    REQUIRE_THAT(signer.Verify(Forge(header, claims, kSecret), kNow).status(),
                 StatusIs(absl::StatusCode::kUnauthenticated));
  }
}

TEST_CASE("Jwt: a token signed with another key is refused", "[server][jwt]") {
  IssuedToken t = Signer(std::string(40, 'x')).Issue("alice", kNow, 3'600'000);
  REQUIRE_THAT(Signer().Verify(t.token, kNow).status(),
               StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_CASE("Jwt: a tampered token is refused", "[server][jwt]") {
  TokenSigner signer = Signer();
  IssuedToken t = signer.Issue("alice", kNow, 3'600'000);
  std::size_t dot1 = t.token.find('.');
  std::size_t dot2 = t.token.find('.', dot1 + 1);
  // Claims swapped for mallory's, signature kept.
  std::string swapped = t.token.substr(0, dot1 + 1) +
                        B64(R"({"sub":"mallory","iat":1800000000,"exp":1900000000})") +
                        t.token.substr(dot2);
  REQUIRE_THAT(signer.Verify(swapped, kNow).status(), StatusIs(absl::StatusCode::kUnauthenticated));
  // One signature character changed.
  std::string flipped = t.token;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  REQUIRE_THAT(signer.Verify(flipped, kNow).status(), StatusIs(absl::StatusCode::kUnauthenticated));
  // Signature cut short, extra part, garbage, empty, huge.
  for (const std::string& bad :
       {t.token.substr(0, t.token.size() - 4), t.token + ".x", std::string("not a token"),
        std::string(""), std::string("..."), std::string(5000, 'a')}) {
    REQUIRE_THAT(signer.Verify(bad, kNow).status(), StatusIs(absl::StatusCode::kUnauthenticated));
  }
}

TEST_CASE("Jwt: a subject that is no valid user name is refused", "[server][jwt]") {
  for (std::string_view claims : {R"({"sub":"","exp":1900000000})",
                                  R"({"sub":"a b","exp":1900000000})",
                                  R"({"sub":5,"exp":1900000000})", R"({"exp":1900000000})"}) {
    INFO(claims);
    REQUIRE_THAT(Signer().Verify(Forge(R"({"alg":"HS256"})", claims, kSecret), kNow).status(),
                 StatusIs(absl::StatusCode::kUnauthenticated));
  }
}

TEST_CASE("Jwt: a short secret is refused", "[server][jwt]") {
  REQUIRE_THAT(TokenSigner::Create(std::string(31, 'k')).status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_CASE("TokenSigner: gen and jti round-trip; bad ones are refused", "[server][abuse]") {
  auto signer = TokenSigner::Create(std::string(32, 'k'));
  COURIER_REQUIRE_OK(signer);
  const std::string id = NewTokenId();
  CHECK(ValidateTokenId(id).ok());
  CHECK(id.size() == 22);
  CHECK(NewTokenId() != id);
  IssuedToken t = signer->Issue("alice", 1'000'000, 60'000, 7, id);
  auto claims = signer->VerifyClaims(t.token, 1'000'000);
  COURIER_REQUIRE_OK(claims);
  CHECK(claims->user == "alice");
  CHECK(claims->generation == 7);
  CHECK(claims->id == id);
  IssuedToken plain = signer->Issue("alice", 1'000'000, 60'000);
  auto old = signer->VerifyClaims(plain.token, 1'000'000);
  COURIER_REQUIRE_OK(old);
  CHECK(old->generation == 0);
  CHECK(old->id.empty());
}

}  // namespace
}  // namespace courier::server
