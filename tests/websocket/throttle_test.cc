// Tests of examples/server/throttle.h (issue 15): the delay rules, the login
// and registration limits per account and per address, and the bounded
// in-memory counters, on a ManualClock.
#include "throttle.h"

#include <string>

#include <catch2/catch.hpp>

#include "courier/clock.h"
#include "http_errors.h"
#include "support/status_matchers.h"

namespace courier::server {
namespace {

using ::courier::testing::StatusIs;

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

}  // namespace
}  // namespace courier::server
