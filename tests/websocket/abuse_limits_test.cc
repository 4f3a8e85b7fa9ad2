// Tests of the example server's abuse limits (issue 15): hash_gate.h,
// throttle.h, token claims (jwt.h) and token revocation (accounts.h), over
// the in-memory AccountStore and a ManualClock.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "accounts.h"
#include "courier/memory.h"
#include "hash_gate.h"
#include "http_errors.h"
#include "support/status_matchers.h"
#include "throttle.h"

namespace courier::server {
namespace {

using ::courier::testing::StatusIs;

TEST_CASE("HashGate: refuses at once past running + waiting, runs nothing", "[server][abuse]") {
  HashGate gate(1, 1, absl::Seconds(30));
  absl::Notification release, started;
  absl::Status first, second;  // checked after the joins: no REQUIRE off the test thread
  std::thread holder([&] {
    first = gate.Run([&] {
      started.Notify();
      release.WaitForNotification();
    });
  });
  started.WaitForNotification();
  std::atomic<bool> second_ran{false};
  std::thread waiter([&] { second = gate.Run([&] { second_ran = true; }); });
  // Wait until the second caller is queued.
  for (int i = 0; i < 5000 && gate.stats().waiting == 0; ++i) absl::SleepFor(absl::Milliseconds(1));
  REQUIRE(gate.stats().waiting == 1);
  bool third_ran = false;
  absl::Status refused = gate.Run([&] { third_ran = true; });
  CHECK_THAT(refused, StatusIs(absl::StatusCode::kUnavailable));
  CHECK_FALSE(third_ran);
  CHECK(ErrorCodeOf(refused) == std::optional<std::string>("busy"));
  CHECK(RetryAfterSecondsOf(refused) == std::optional<std::int64_t>(1));
  release.Notify();
  holder.join();
  waiter.join();
  COURIER_REQUIRE_OK(first);
  COURIER_REQUIRE_OK(second);
  CHECK(second_ran);
  HashGateStats s = gate.stats();
  CHECK(s.admitted == 2);
  CHECK(s.refused == 1);
  CHECK(s.running == 0);
  CHECK(s.waiting == 0);
}

TEST_CASE("HashGate: a waiter gives up after max_wait", "[server][abuse]") {
  HashGate gate(1, 4, absl::Milliseconds(50));
  absl::Notification release, started;
  absl::Status first;
  std::thread holder([&] {
    first = gate.Run([&] {
      started.Notify();
      release.WaitForNotification();
    });
  });
  started.WaitForNotification();
  CHECK_THAT(gate.Run([] {}), StatusIs(absl::StatusCode::kUnavailable));
  CHECK(gate.stats().timed_out == 1);
  release.Notify();
  holder.join();
  COURIER_REQUIRE_OK(first);
}

TEST_CASE("Throttle: delays, addresses, loopback", "[server][abuse]") {
  ThrottlePolicy p;  // 5 free, 1 s doubling, 60 s at most
  CHECK(ThrottleDelayMs(p, 4, 5) == 0);
  CHECK(ThrottleDelayMs(p, 5, 5) == 1'000);
  CHECK(ThrottleDelayMs(p, 6, 5) == 2'000);
  CHECK(ThrottleDelayMs(p, 10, 5) == 32'000);
  CHECK(ThrottleDelayMs(p, 11, 5) == 60'000);
  CHECK(ThrottleDelayMs(p, 1'000'000, 5) == 60'000);  // no overflow
  CHECK(ClientAddress("10.1.2.3:5555") == "10.1.2.3");
  CHECK(ClientAddress("[2001:db8::1]:443") == "2001:db8::1");
  CHECK(ClientAddress("garbage") == "garbage");
  CHECK(IsLoopback("127.0.0.1"));
  CHECK(IsLoopback("127.9.9.9"));
  CHECK(IsLoopback("::1"));
  CHECK_FALSE(IsLoopback("10.0.0.1"));
  CHECK_FALSE(IsLoopback("1270.0.0.1"));
}

TEST_CASE("LoginThrottle: free failures, then doubling waits; success resets",
          "[server][abuse]") {
  ManualClock clock;
  LoginThrottle t(ThrottlePolicy{}, MakeMemoryCounters(), clock);
  const std::string addr = "10.0.0.1";
  for (int i = 0; i < 5; ++i) {
    COURIER_REQUIRE_OK(t.CheckLogin("alice", addr));
    t.LoginFailed("alice", addr);
  }
  absl::Status blocked = t.CheckLogin("alice", "10.9.9.9");  // any address: the account waits
  CHECK_THAT(blocked, StatusIs(absl::StatusCode::kResourceExhausted));
  CHECK(ErrorCodeOf(blocked) == std::optional<std::string>("throttled"));
  CHECK(RetryAfterSecondsOf(blocked) == std::optional<std::int64_t>(1));
  COURIER_REQUIRE_OK(t.CheckLogin("bob", "10.9.9.9"));  // other accounts are not affected
  clock.Advance(1'000);
  COURIER_REQUIRE_OK(t.CheckLogin("alice", addr));
  t.LoginFailed("alice", addr);  // the 6th: 2 s
  clock.Advance(1'999);
  CHECK_THAT(t.CheckLogin("alice", addr), StatusIs(absl::StatusCode::kResourceExhausted));
  clock.Advance(1);
  COURIER_REQUIRE_OK(t.CheckLogin("alice", addr));
  t.LoginSucceeded("alice");
  for (int i = 0; i < 4; ++i) t.LoginFailed("alice", "10.0.0.2");
  COURIER_REQUIRE_OK(t.CheckLogin("alice", "10.0.0.2"));  // reset: free again
}

TEST_CASE("LoginThrottle: per-address limit across accounts; loopback spared by default",
          "[server][abuse]") {
  ManualClock clock;
  ThrottlePolicy p;
  p.free_failures_per_address = 3;
  LoginThrottle t(p, MakeMemoryCounters(), clock);
  for (int i = 0; i < 3; ++i) t.LoginFailed("user" + std::to_string(i), "10.0.0.7");
  CHECK_THAT(t.CheckLogin("someone", "10.0.0.7"), StatusIs(absl::StatusCode::kResourceExhausted));
  COURIER_REQUIRE_OK(t.CheckLogin("someone", "10.0.0.8"));
  for (int i = 0; i < 10; ++i) t.LoginFailed("x" + std::to_string(i), "127.0.0.1");
  COURIER_REQUIRE_OK(t.CheckLogin("someone", "127.0.0.1"));
  // Invalid names are not counted per account (nor do they fail).
  t.LoginFailed("not a name!", "10.0.0.9");
  COURIER_REQUIRE_OK(t.CheckLogin("not a name!", "10.0.0.9"));
}

TEST_CASE("LoginThrottle: registrations per address per window", "[server][abuse]") {
  ManualClock clock;
  ThrottlePolicy p;
  p.registrations = 2;
  p.registration_window_ms = 10'000;
  p.limit_loopback = true;
  LoginThrottle t(p, MakeMemoryCounters(), clock);
  COURIER_REQUIRE_OK(t.CheckRegistration("127.0.0.1"));
  COURIER_REQUIRE_OK(t.CheckRegistration("127.0.0.1"));
  absl::Status third = t.CheckRegistration("127.0.0.1");
  CHECK_THAT(third, StatusIs(absl::StatusCode::kResourceExhausted));
  CHECK(RetryAfterSecondsOf(third) == std::optional<std::int64_t>(10));
  COURIER_REQUIRE_OK(t.CheckRegistration("127.0.0.2"));
  clock.Advance(10'000);
  COURIER_REQUIRE_OK(t.CheckRegistration("127.0.0.1"));
}

TEST_CASE("MemoryCounters: bounded number of keys", "[server][abuse]") {
  std::unique_ptr<CounterStore> c = MakeMemoryCounters(16);
  for (int i = 0; i < 1000; ++i) {
    COURIER_REQUIRE_OK(c->AddFailure("k" + std::to_string(i), i, 1'000'000).status());
  }
  auto last = c->Get("k999");
  COURIER_REQUIRE_OK(last);
  CHECK(last->count == 1);
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
