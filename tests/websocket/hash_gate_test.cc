// Tests of examples/server/hash_gate.h: the bound on password hashes running
// and waiting (issue 15).
#include "hash_gate.h"

#include <atomic>
#include <thread>

#include <catch2/catch.hpp>

#include "absl/synchronization/notification.h"
#include "http_errors.h"
#include "support/status_matchers.h"

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

}  // namespace
}  // namespace courier::server
