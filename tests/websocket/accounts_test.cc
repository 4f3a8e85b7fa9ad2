// Tests of examples/server/accounts.h over the in-memory AccountStore.
#include "accounts.h"

#include "courier/memory.h"
#include "support/status_matchers.h"

namespace courier::server {
namespace {

using ::courier::testing::StatusIs;

struct Fixture {
  ManualClock clock;
  std::unique_ptr<AccountStore> store = memory::OpenAccountStore();
  std::unique_ptr<Accounts> accounts;

  Fixture() {
    absl::StatusOr<TokenSigner> signer = TokenSigner::Create(std::string(32, 's'));
    COURIER_REQUIRE_OK(signer);
    auto a = Accounts::Create(*store, *std::move(signer), clock, 3'600'000);
    COURIER_REQUIRE_OK(a);
    accounts = *std::move(a);
  }
};

TEST_CASE("Accounts: register, log in, authenticate", "[server][accounts]") {
  Fixture f;
  COURIER_REQUIRE_OK(f.accounts->Register("alice", "password1"));
  absl::StatusOr<IssuedToken> token = f.accounts->Login("alice", "password1");
  COURIER_REQUIRE_OK(token);
  CHECK(token->expires_at_ms == f.clock.NowMs() + 3'600'000);
  absl::StatusOr<UserId> who = f.accounts->Authenticate(token->token);
  COURIER_REQUIRE_OK(who);
  CHECK(*who == "alice");
  // The stored hash is Argon2id, not the password.
  absl::StatusOr<std::string> hash = f.store->PasswordHash("alice");
  COURIER_REQUIRE_OK(hash);
  CHECK(hash->find("password1") == std::string::npos);
}

TEST_CASE("Accounts: a taken name is kAlreadyExists", "[server][accounts]") {
  Fixture f;
  COURIER_REQUIRE_OK(f.accounts->Register("alice", "password1"));
  REQUIRE_THAT(f.accounts->Register("alice", "password2"),
               StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_CASE("Accounts: bad names and short passwords are kInvalidArgument", "[server][accounts]") {
  Fixture f;
  for (std::string name : {std::string(""), std::string("a b"), std::string(65, 'a'),
                           std::string("caf\xc3\xa9"), std::string("x/y")}) {
    INFO(name);
    REQUIRE_THAT(f.accounts->Register(name, "password1"),
                 StatusIs(absl::StatusCode::kInvalidArgument));
  }
  REQUIRE_THAT(f.accounts->Register("bob", "short"), StatusIs(absl::StatusCode::kInvalidArgument));
  COURIER_REQUIRE_OK(f.accounts->Register(std::string(64, 'a'), "password1"));
  COURIER_REQUIRE_OK(f.accounts->Register("A-z_0.9", "password1"));
}

TEST_CASE("Accounts: a wrong pair is kUnauthenticated", "[server][accounts]") {
  Fixture f;
  COURIER_REQUIRE_OK(f.accounts->Register("alice", "password1"));
  REQUIRE_THAT(f.accounts->Login("alice", "password2").status(),
               StatusIs(absl::StatusCode::kUnauthenticated));
  REQUIRE_THAT(f.accounts->Login("nobody", "password1").status(),
               StatusIs(absl::StatusCode::kUnauthenticated));
  REQUIRE_THAT(f.accounts->Login("bad name", "password1").status(),
               StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_CASE("Accounts: tokens expire with the clock", "[server][accounts]") {
  Fixture f;
  COURIER_REQUIRE_OK(f.accounts->Register("alice", "password1"));
  absl::StatusOr<IssuedToken> token = f.accounts->Login("alice", "password1");
  COURIER_REQUIRE_OK(token);
  f.clock.Advance(3'600'000);
  REQUIRE_THAT(f.accounts->Authenticate(token->token).status(),
               StatusIs(absl::StatusCode::kUnauthenticated));
}

}  // namespace
}  // namespace courier::server
