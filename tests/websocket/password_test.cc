// Tests of examples/server/password.h: Argon2id through libsodium.
#include "password.h"

#include "support/status_matchers.h"

namespace courier::server {
namespace {

using ::courier::testing::StatusIs;

TEST_CASE("Password: a hash verifies its password and nothing else", "[server][password]") {
  absl::StatusOr<std::string> hash = HashPassword("correct horse");
  COURIER_REQUIRE_OK(hash);
  CHECK(hash->rfind("$argon2id$", 0) == 0);
  CHECK(VerifyPassword("correct horse", *hash));
  CHECK_FALSE(VerifyPassword("correct hors", *hash));
  CHECK_FALSE(VerifyPassword("", *hash));
}

TEST_CASE("Password: hashes are salted", "[server][password]") {
  absl::StatusOr<std::string> a = HashPassword("same password");
  absl::StatusOr<std::string> b = HashPassword("same password");
  COURIER_REQUIRE_OK(a);
  COURIER_REQUIRE_OK(b);
  CHECK(*a != *b);
}

TEST_CASE("Password: length limits", "[server][password]") {
  REQUIRE_THAT(HashPassword("1234567").status(), StatusIs(absl::StatusCode::kInvalidArgument));
  REQUIRE_THAT(HashPassword(std::string(1025, 'p')).status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
  COURIER_REQUIRE_OK(HashPassword("12345678"));
}

TEST_CASE("Password: a malformed hash verifies nothing", "[server][password]") {
  CHECK_FALSE(VerifyPassword("password", ""));
  CHECK_FALSE(VerifyPassword("password", "$argon2id$garbage"));
  CHECK_FALSE(VerifyPassword("password", "password"));
}

}  // namespace
}  // namespace courier::server
