// Tests of examples/server/admin_token.h: the admin token file, made once
// with mode 0600, then read, and the constant-time comparison.
#include "admin_token.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "support/status_matchers.h"

namespace courier::server {
namespace {

using ::courier::testing::StatusIs;

TEST_CASE("Admin token: made once with mode 0600, then read", "[server][admin]") {
  char dir[] = "/tmp/courier-admin-token-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string path = std::string(dir) + "/admin-token";
  CHECK_THAT(LoadOrCreateAdminToken(path, false).status(), StatusIs(absl::StatusCode::kNotFound));
  auto made = LoadOrCreateAdminToken(path, true);
  COURIER_REQUIRE_OK(made);
  CHECK(made->size() == 64);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto again = LoadOrCreateAdminToken(path, true);
  COURIER_REQUIRE_OK(again);
  CHECK(*again == *made);
  CHECK(TokenMatches(*made, *again));
  CHECK_FALSE(TokenMatches(made->substr(1), *made));
  CHECK_FALSE(TokenMatches("", *made));

  const std::string own = std::string(dir) + "/own-token";
  std::ofstream(own) << "  a-token-of-my-own-choice  \n";
  auto read = LoadOrCreateAdminToken(own, false);
  COURIER_REQUIRE_OK(read);
  CHECK(*read == "a-token-of-my-own-choice");
  std::ofstream(own, std::ios::trunc) << "short\n";
  CHECK_THAT(LoadOrCreateAdminToken(own, false).status(),
             StatusIs(absl::StatusCode::kInvalidArgument));
  std::ofstream(own, std::ios::trunc) << "a token with spaces inside\n";
  CHECK_THAT(LoadOrCreateAdminToken(own, false).status(),
             StatusIs(absl::StatusCode::kInvalidArgument));
  ::unlink(path.c_str());
  ::unlink(own.c_str());
  ::rmdir(dir);
}

}  // namespace
}  // namespace courier::server
