// Tests of examples/server/accounts.h over the in-memory AccountStore:
// registration, login and tokens, and (issue 15) token revocation, closed
// registration and throttled logins.
#include "accounts.h"

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "courier/memory.h"
#include "http_errors.h"
#include "support/status_matchers.h"
#include "throttle.h"

namespace courier::server {
namespace {

using ::courier::testing::StatusIs;

struct Fixture {
  ManualClock clock;
  std::unique_ptr<AccountStore> store = memory::OpenAccountStore();
  std::unique_ptr<Accounts> accounts;
  std::vector<UserId> revoked;

  explicit Fixture(AccountsLimits limits = {}) {
    auto signer = TokenSigner::Create(std::string(32, 's'));
    COURIER_REQUIRE_OK(signer);
    auto a = Accounts::Create(*store, *std::move(signer), clock, 3'600'000, limits);
    COURIER_REQUIRE_OK(a);
    accounts = *std::move(a);
    accounts->set_on_revoked([this](const UserId& u) { revoked.push_back(u); });
  }
  std::string Login(const std::string& user, const std::string& pw = "password1") {
    auto t = accounts->Login(user, pw, "10.0.0.1");
    COURIER_REQUIRE_OK(t);
    return t->token;
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

TEST_CASE("Accounts: logout revokes one token, logout-all every one", "[server][abuse]") {
  Fixture f;
  COURIER_REQUIRE_OK(f.accounts->Register("alice", "password1"));
  const std::string phone = f.Login("alice"), laptop = f.Login("alice");
  auto phone_claims = f.accounts->AuthenticateNow(phone);
  COURIER_REQUIRE_OK(phone_claims);
  COURIER_REQUIRE_OK(f.accounts->Logout(*phone_claims));
  CHECK(f.revoked == std::vector<UserId>{"alice"});
  CHECK_THAT(f.accounts->AuthenticateNow(phone).status(),
             StatusIs(absl::StatusCode::kUnauthenticated));
  CHECK_THAT(f.accounts->Authenticate(phone).status(),  // the hello path knows too
             StatusIs(absl::StatusCode::kUnauthenticated));
  COURIER_REQUIRE_OK(f.accounts->AuthenticateNow(laptop));
  COURIER_REQUIRE_OK(f.accounts->Authenticate(laptop));  // the cache's revoked list: not this id
  COURIER_REQUIRE_OK(f.accounts->LogoutAll("alice"));
  CHECK_THAT(f.accounts->AuthenticateNow(laptop).status(),
             StatusIs(absl::StatusCode::kUnauthenticated));
  CHECK_THAT(f.accounts->Authenticate(laptop).status(),
             StatusIs(absl::StatusCode::kUnauthenticated));
  COURIER_REQUIRE_OK(f.accounts->AuthenticateNow(f.Login("alice")));  // a new login works
}

TEST_CASE("Accounts: past kMaxRevokedTokenIds a logout moves the generation",
          "[server][abuse]") {
  Fixture f;
  COURIER_REQUIRE_OK(f.accounts->Register("alice", "password1"));
  for (std::size_t i = 0; i < kMaxRevokedTokenIds; ++i) {
    COURIER_REQUIRE_OK(f.store->RevokeToken("alice", "old" + std::to_string(i)));
  }
  const std::string a = f.Login("alice"), b = f.Login("alice");
  auto claims = f.accounts->AuthenticateNow(a);
  COURIER_REQUIRE_OK(claims);
  COURIER_REQUIRE_OK(f.accounts->Logout(*claims));
  auto state = f.store->GetTokenState("alice");
  COURIER_REQUIRE_OK(state);
  CHECK(state->generation == 1);
  CHECK(state->revoked.empty());
  CHECK_FALSE(f.accounts->AuthenticateNow(b).ok());  // documented: all of them go
}

TEST_CASE("Accounts: a password change revokes older tokens and returns a new one",
          "[server][abuse]") {
  Fixture f;
  COURIER_REQUIRE_OK(f.accounts->Register("alice", "password1"));
  const std::string old = f.Login("alice");
  auto claims = f.accounts->AuthenticateNow(old);
  COURIER_REQUIRE_OK(claims);
  CHECK_THAT(f.accounts->ChangePassword(*claims, "wrong-password", "password2").status(),
             StatusIs(absl::StatusCode::kUnauthenticated));
  CHECK_THAT(f.accounts->ChangePassword(*claims, "password1", "short").status(),
             StatusIs(absl::StatusCode::kInvalidArgument));
  auto fresh = f.accounts->ChangePassword(*claims, "password1", "password2");
  COURIER_REQUIRE_OK(fresh);
  CHECK_FALSE(f.accounts->AuthenticateNow(old).ok());
  COURIER_REQUIRE_OK(f.accounts->AuthenticateNow(fresh->token));
  CHECK_THAT(f.accounts->Login("alice", "password1").status(),
             StatusIs(absl::StatusCode::kUnauthenticated));
  COURIER_REQUIRE_OK(f.accounts->Login("alice", "password2"));
}

// Another node of a cluster: the same store, nothing cached.
std::unique_ptr<Accounts> OtherNode(Fixture& f) {
  auto signer = TokenSigner::Create(std::string(32, 's'));
  COURIER_REQUIRE_OK(signer);
  auto a = Accounts::Create(*f.store, *std::move(signer), f.clock, 3'600'000);
  COURIER_REQUIRE_OK(a);
  return *std::move(a);
}

TEST_CASE("Accounts: a deleted account's tokens are refused for a new account of its name",
          "[server][abuse]") {
  Fixture f;
  COURIER_REQUIRE_OK(f.accounts->Register("alice", "password1"));
  const std::string old = f.Login("alice");
  COURIER_REQUIRE_OK(f.accounts->AuthenticateNow(old));
  // Deleted at generation 0 (the store's DeleteUser alone) and registered again.
  COURIER_REQUIRE_OK(f.store->DeleteUser("alice"));
  COURIER_REQUIRE_OK(f.accounts->Register("alice", "password2"));
  CHECK_THAT(f.accounts->AuthenticateNow(old).status(),
             StatusIs(absl::StatusCode::kUnauthenticated));
  CHECK_THAT(f.accounts->Authenticate(old).status(),  // the hello path knows too
             StatusIs(absl::StatusCode::kUnauthenticated));
  const std::string fresh = f.Login("alice", "password2");
  COURIER_REQUIRE_OK(f.accounts->AuthenticateNow(fresh));
  COURIER_REQUIRE_OK(f.accounts->Authenticate(fresh));
  // Another node, which never saw the old account, refuses it as well.
  std::unique_ptr<Accounts> other = OtherNode(f);
  CHECK_THAT(other->AuthenticateNow(old).status(), StatusIs(absl::StatusCode::kUnauthenticated));
  CHECK_THAT(other->Authenticate(old).status(), StatusIs(absl::StatusCode::kUnauthenticated));
  COURIER_REQUIRE_OK(other->AuthenticateNow(fresh));
  COURIER_REQUIRE_OK(other->Authenticate(fresh));
}

TEST_CASE("Accounts: a node that saw the deleted account's later generation accepts the new "
          "account's tokens",
          "[server][abuse]") {
  Fixture f;
  COURIER_REQUIRE_OK(f.accounts->Register("alice", "password1"));
  const std::string first = f.Login("alice");
  // The admin API's order: revoke every token (this node caches generation
  // 1), then delete.
  COURIER_REQUIRE_OK(f.accounts->LogoutAll("alice"));
  const std::string second = f.Login("alice");
  COURIER_REQUIRE_OK(f.store->DeleteUser("alice"));
  COURIER_REQUIRE_OK(f.accounts->Register("alice", "password2"));
  const std::string fresh = f.Login("alice", "password2");
  COURIER_REQUIRE_OK(f.accounts->Authenticate(fresh));
  COURIER_REQUIRE_OK(f.accounts->AuthenticateNow(fresh));
  for (const std::string& token : {first, second}) {
    CHECK_THAT(f.accounts->AuthenticateNow(token).status(),
               StatusIs(absl::StatusCode::kUnauthenticated));
    CHECK_THAT(f.accounts->Authenticate(token).status(),
               StatusIs(absl::StatusCode::kUnauthenticated));
  }
}

TEST_CASE("Accounts: a node whose cache is behind the store lets a newer token through at "
          "hello",
          "[server][abuse]") {
  Fixture f;
  std::unique_ptr<Accounts> other = OtherNode(f);
  COURIER_REQUIRE_OK(f.accounts->Register("alice", "password1"));
  const std::string old = f.Login("alice");
  COURIER_REQUIRE_OK(other->AuthenticateNow(old));  // the other node caches generation 0
  // Logout-all and a new login on this node: the other node's cache is behind.
  COURIER_REQUIRE_OK(f.accounts->LogoutAll("alice"));
  const std::string fresh = f.Login("alice");
  COURIER_REQUIRE_OK(other->Authenticate(fresh));  // 1312b6c: refused until a refresh
  COURIER_REQUIRE_OK(other->Authenticate(old));  // not yet known there: let through
  COURIER_REQUIRE_OK(other->Refresh("alice"));  // what its revocation watcher does
  CHECK_THAT(other->Authenticate(old).status(), StatusIs(absl::StatusCode::kUnauthenticated));
  COURIER_REQUIRE_OK(other->Authenticate(fresh));
  // The same for a name deleted and registered again on this node.
  COURIER_REQUIRE_OK(f.accounts->LogoutAll("alice"));
  COURIER_REQUIRE_OK(other->Refresh("alice"));  // the other node caches generation 2
  COURIER_REQUIRE_OK(f.store->DeleteUser("alice"));
  COURIER_REQUIRE_OK(f.accounts->Register("alice", "password2"));
  const std::string reborn = f.Login("alice", "password2");
  COURIER_REQUIRE_OK(other->Authenticate(reborn));
  COURIER_REQUIRE_OK(other->AuthenticateNow(reborn));
  CHECK_THAT(other->Authenticate(fresh).status(), StatusIs(absl::StatusCode::kUnauthenticated));
}

// An AccountStore that runs `after_disabled_read` once, right after a
// UserDisabled read: the admin API's disable landing in the middle of a login.
class InterleavingStore final : public AccountStore {
 public:
  explicit InterleavingStore(AccountStore& s) : s_(s) {}
  std::function<void()> after_disabled_read;

  absl::Status CreateUser(const UserId& u, const std::string& h, TimeMs now) override {
    return s_.CreateUser(u, h, now);
  }
  absl::StatusOr<std::string> PasswordHash(const UserId& u) override { return s_.PasswordHash(u); }
  absl::Status SetPasswordHash(const UserId& u, const std::string& h) override {
    return s_.SetPasswordHash(u, h);
  }
  absl::StatusOr<bool> UserExists(const UserId& u) override { return s_.UserExists(u); }
  absl::StatusOr<FriendRequestOutcome> RequestFriend(const UserId& a, const UserId& b) override {
    return s_.RequestFriend(a, b);
  }
  absl::Status AcceptFriend(const UserId& a, const UserId& b) override {
    return s_.AcceptFriend(a, b);
  }
  absl::StatusOr<bool> AreFriends(const UserId& a, const UserId& b) override {
    return s_.AreFriends(a, b);
  }
  absl::StatusOr<std::vector<UserId>> Friends(const UserId& u) override { return s_.Friends(u); }
  absl::StatusOr<std::vector<UserId>> PendingRequests(const UserId& u) override {
    return s_.PendingRequests(u);
  }
  absl::Status SetLastSeen(const UserId& u, TimeMs t) override { return s_.SetLastSeen(u, t); }
  absl::StatusOr<std::optional<TimeMs>> LastSeen(const UserId& u) override {
    return s_.LastSeen(u);
  }
  absl::Status SetUserDisabled(const UserId& u, bool d) override {
    return s_.SetUserDisabled(u, d);
  }
  absl::StatusOr<bool> UserDisabled(const UserId& u) override {
    absl::StatusOr<bool> disabled = s_.UserDisabled(u);
    if (after_disabled_read) std::exchange(after_disabled_read, nullptr)();
    return disabled;
  }
  absl::Status DeleteUser(const UserId& u) override { return s_.DeleteUser(u); }
  absl::Status RecordDevice(const UserId& u, const DeviceId& d, TimeMs t) override {
    return s_.RecordDevice(u, d, t);
  }
  absl::StatusOr<std::vector<DeviceRecord>> Devices(const UserId& u) override {
    return s_.Devices(u);
  }
  absl::StatusOr<TokenState> GetTokenState(const UserId& u) override {
    return s_.GetTokenState(u);
  }
  absl::StatusOr<std::uint64_t> BumpTokenGeneration(const UserId& u) override {
    return s_.BumpTokenGeneration(u);
  }
  absl::Status RevokeToken(const UserId& u, const std::string& id) override {
    return s_.RevokeToken(u, id);
  }
  absl::Status SetPushSubscription(const UserId& u, const DeviceId& d,
                                   const std::string& sub) override {
    return s_.SetPushSubscription(u, d, sub);
  }
  absl::StatusOr<bool> DeletePushSubscription(const UserId& u, const DeviceId& d,
                                              const std::optional<std::string>& only_if) override {
    return s_.DeletePushSubscription(u, d, only_if);
  }
  absl::StatusOr<std::vector<PushSubscriptionRecord>> PushSubscriptions(
      const UserId& u) override {
    return s_.PushSubscriptions(u);
  }

 private:
  AccountStore& s_;
};

TEST_CASE("Accounts: a login that races the account's disabling gets no valid token",
          "[server][abuse]") {
  ManualClock clock;
  std::unique_ptr<AccountStore> memory = memory::OpenAccountStore();
  InterleavingStore store(*memory);
  auto signer = TokenSigner::Create(std::string(32, 's'));
  COURIER_REQUIRE_OK(signer);
  auto accounts = Accounts::Create(store, *std::move(signer), clock, 3'600'000);
  COURIER_REQUIRE_OK(accounts);
  COURIER_REQUIRE_OK((*accounts)->Register("alice", "password1"));
  // The login reads "not disabled"; the admin API then disables alice and
  // revokes her tokens (admin_api.cc SetDisabled); the login goes on.
  store.after_disabled_read = [&] {
    COURIER_REQUIRE_OK(memory->SetUserDisabled("alice", true));
    COURIER_REQUIRE_OK(memory->BumpTokenGeneration("alice").status());
  };
  absl::StatusOr<IssuedToken> token = (*accounts)->Login("alice", "password1");
  CHECK(store.after_disabled_read == nullptr);  // the interleaving ran
  // Refused outright, or issued but already revoked: never a working token.
  if (token.ok()) {
    CHECK_THAT((*accounts)->AuthenticateNow(token->token).status(),
               StatusIs(absl::StatusCode::kUnauthenticated));
    CHECK_THAT((*accounts)->Authenticate(token->token).status(),
               StatusIs(absl::StatusCode::kUnauthenticated));
  }
}

TEST_CASE("Accounts: closed registration and throttled logins", "[server][abuse]") {
  ManualClock throttle_clock;
  LoginThrottle throttle(ThrottlePolicy{}, MakeMemoryCounters(), throttle_clock);
  Fixture f(AccountsLimits{nullptr, &throttle, /*registration_open=*/false});
  absl::Status closed = f.accounts->Register("alice", "password1");
  CHECK_THAT(closed, StatusIs(absl::StatusCode::kPermissionDenied));
  CHECK(ErrorCodeOf(closed) == std::optional<std::string>("registration_closed"));
  COURIER_REQUIRE_OK(f.store->CreateUser("bob", "not-a-hash", 1));
  for (int i = 0; i < 5; ++i) {
    CHECK_THAT(f.accounts->Login("bob", "wrong-pass", "10.0.0.1").status(),
               StatusIs(absl::StatusCode::kUnauthenticated));
  }
  CHECK_THAT(f.accounts->Login("bob", "wrong-pass", "10.0.0.1").status(),
             StatusIs(absl::StatusCode::kResourceExhausted));
}

}  // namespace
}  // namespace courier::server
