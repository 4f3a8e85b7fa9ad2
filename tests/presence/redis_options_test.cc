// courier::redis options: URL parsing, validation and the backoff schedule.
// Needs no server.
#include <catch2/catch.hpp>

#include "courier/clock.h"
#include "courier/redis.h"
#include "support/status_matchers.h"

namespace courier::testing {
namespace {

using redis::BackoffDelayMs;
using redis::RedisBackoff;
using redis::RedisOptionsFromUrl;
using redis::RedisPresenceOptions;

TEST_CASE("RedisOptionsFromUrl: host, port, credentials and db", "[redis][options]") {
  auto plain = RedisOptionsFromUrl("redis://127.0.0.1:6380");
  COURIER_REQUIRE_OK(plain);
  CHECK(plain->host == "127.0.0.1");
  CHECK(plain->port == 6380);
  CHECK(plain->password.empty());
  CHECK(plain->db == 0);

  auto defaults = RedisOptionsFromUrl("redis://cache.internal");
  COURIER_REQUIRE_OK(defaults);
  CHECK(defaults->host == "cache.internal");
  CHECK(defaults->port == 6379);
  CHECK(defaults->ttl_ms == 30'000);

  auto full = RedisOptionsFromUrl("redis://app:s3cret@redis.example:7000/3");
  COURIER_REQUIRE_OK(full);
  CHECK(full->username == "app");
  CHECK(full->password == "s3cret");
  CHECK(full->host == "redis.example");
  CHECK(full->port == 7000);
  CHECK(full->db == 3);

  auto password_only = RedisOptionsFromUrl("redis://:pw@h");
  COURIER_REQUIRE_OK(password_only);
  CHECK(password_only->username.empty());
  CHECK(password_only->password == "pw");

  auto v6 = RedisOptionsFromUrl("redis://[::1]:6390");
  COURIER_REQUIRE_OK(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 6390);
}

TEST_CASE("RedisOptionsFromUrl: refuses what it cannot honour", "[redis][options]") {
  for (const char* url : {"", "http://h:1", "rediss://h:6379", "redis://", "redis://h:0",
                          "redis://h:65536", "redis://h:port", "redis://h:1/x", "redis://user@h",
                          "redis://:@h", "redis://[::1", "redis://h:-1"}) {
    INFO(url);
    REQUIRE_THAT(RedisOptionsFromUrl(url).status(),
                 StatusIs(absl::StatusCode::kInvalidArgument));
  }
  REQUIRE_THAT(RedisOptionsFromUrl("redis://" + std::string(3000, 'h')).status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_CASE("BackoffDelayMs: the documented schedule", "[redis][backoff]") {
  RedisBackoff b;  // 100 ms, x2, 10 s, jitter 0.5
  const TimeMs nominal[] = {100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000};
  for (int k = 0; k < 10; ++k) {
    INFO("attempt " << k);
    CHECK(BackoffDelayMs(b, k, 0.0) == nominal[k]);         // no jitter drawn
    CHECK(BackoffDelayMs(b, k, 0.999999) == (nominal[k] + 1) / 2);  // most jitter
    const TimeMs mid = BackoffDelayMs(b, k, 0.5);
    CHECK(mid >= nominal[k] / 2);
    CHECK(mid <= nominal[k]);
  }
  CHECK(BackoffDelayMs(b, 1'000'000, 0.0) == 10'000);  // no overflow far out

  RedisBackoff fixed{.initial_ms = 250, .max_ms = 250, .multiplier = 1.0, .jitter = 0.0};
  for (int k = 0; k < 5; ++k) CHECK(BackoffDelayMs(fixed, k, 0.7) == 250);
}

TEST_CASE("OpenPresenceStore: bad options are refused before connecting", "[redis][options]") {
  ManualClock clock;
  // Options with one field changed by `change` are refused.
  auto bad = [&](auto change) {
    RedisPresenceOptions o;
    change(o);
    REQUIRE_THAT(redis::OpenPresenceStore(o, clock).status(),
                 StatusIs(absl::StatusCode::kInvalidArgument));
  };
  bad([](RedisPresenceOptions& o) { o.port = 0; });
  bad([](RedisPresenceOptions& o) { o.host = ""; });
  bad([](RedisPresenceOptions& o) { o.ttl_ms = 10; });
  bad([](RedisPresenceOptions& o) { o.key_prefix = "has space"; });
  bad([](RedisPresenceOptions& o) { o.key_prefix = "tag{x}"; });
  bad([](RedisPresenceOptions& o) { o.backoff.jitter = 1.5; });
  bad([](RedisPresenceOptions& o) { o.backoff.max_ms = 1; });
  bad([](RedisPresenceOptions& o) { o.command_timeout_ms = 0; });
  bad([](RedisPresenceOptions& o) { o.pipeline_batch = 0; });
}

}  // namespace
}  // namespace courier::testing
