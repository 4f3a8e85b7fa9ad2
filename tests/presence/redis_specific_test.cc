// courier::redis behaviour beyond the conformance suite, against the server
// named by COURIER_TEST_REDIS_URL (skipped, exit 77, when unset).
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "courier/clock.h"
#include "courier/redis.h"
#include "presence/presence_test_support.h"
#include "presence/redis_server.h"
#include "presence/redis_test_support.h"
#include "support/status_matchers.h"

namespace courier::testing {
namespace {

redis::RedisPresenceOptions EnvOptions() {
  auto options = redis::RedisOptionsFromUrl(RedisUrlOrSkip());
  COURIER_REQUIRE_OK(options);
  options->key_prefix = UniquePrefix();
  return *options;
}

TEST_CASE("RedisPresenceStore: keys expire in Redis without heartbeat", "[redis][ttl]") {
  auto options = EnvOptions();
  options.ttl_ms = 1'000;
  RedisProbe probe(options.port, options.host);
  auto store = redis::OpenPresenceStore(options, SystemClock());
  COURIER_REQUIRE_OK(store);
  const TimeMs connected_at = SystemClock().NowMs();
  COURIER_REQUIRE_OK((*store)->Connect("tess", "phone", "n1", connected_at));
  const std::string key = options.key_prefix + "online:{tess}";
  CHECK(probe.HGet(key, "phone").has_value());
  // A crashed node: nobody refreshes; Redis drops the key by itself.
  CHECK(Eventually([&] { return !probe.Exists(key); }));
  auto p = (*store)->Lookup({"tess"});
  COURIER_REQUIRE_OK(p);
  CHECK_FALSE(p->front().online);
  // Friends still learn when tess was last seen (tests/cluster: a SIGKILLed
  // node's users showed last_seen null once their online key had expired).
  REQUIRE(p->front().last_seen.has_value());
  CHECK(*p->front().last_seen >= connected_at);
}

TEST_CASE("RedisPresenceStore: many users per call go in pipelines", "[redis][pipeline]") {
  auto options = EnvOptions();
  options.pipeline_batch = 64;  // several round trips per call
  ManualClock clock;
  auto store = redis::OpenPresenceStore(options, clock);
  COURIER_REQUIRE_OK(store);
  std::vector<DeviceOnNode> sessions;
  std::vector<UserId> users;
  for (int i = 0; i < 1'000; ++i) {
    users.push_back("user" + std::to_string(i));
    sessions.emplace_back(users.back(), "d" + std::to_string(i % 3));
  }
  COURIER_REQUIRE_OK((*store)->Heartbeat("n7", sessions, clock.NowMs()));
  users.push_back("absent");
  auto found = (*store)->Lookup(users);
  COURIER_REQUIRE_OK(found);
  REQUIRE(found->size() == users.size());
  for (std::size_t i = 0; i + 1 < users.size(); ++i) {
    INFO(users[i]);
    CHECK((*found)[i].user == users[i]);
    CHECK((*found)[i].nodes == std::vector<NodeId>{"n7"});
  }
  CHECK_FALSE(found->back().online);

  options.max_lookup_users = 10;
  auto small = redis::OpenPresenceStore(options, clock);
  COURIER_REQUIRE_OK(small);
  REQUIRE_THAT((*small)->Lookup(users).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_CASE("RedisPresenceStore: malformed channel messages are dropped", "[redis][signal]") {
  auto options = EnvOptions();
  ManualClock clock;
  RedisProbe probe(options.port, options.host);
  auto receiver = redis::OpenPresenceStore(options, clock);
  auto sender = redis::OpenPresenceStore(options, clock);
  COURIER_REQUIRE_OK(receiver);
  COURIER_REQUIRE_OK(sender);
  SignalInbox inbox;
  COURIER_REQUIRE_OK((*receiver)->Subscribe("n1", inbox.Handler()));
  const std::string channel = options.key_prefix + "courier:node:n1";
  for (const char* junk : {"", "garbage", "1|9|u||n0", "1|1|bad user||n0", "1|2|u||n0",
                           "2|1|u||n0", "1|1|u||n0|extra"}) {
    REQUIRE(probe.Publish(channel, junk));
  }
  const Signal presence{Signal::Kind::kPresence, "uma", "", "n2"};
  COURIER_REQUIRE_OK((*sender)->Publish("n1", presence));
  RequireReceived(inbox, {presence});  // and none of the junk
  (*receiver)->Unsubscribe("n1");
}

}  // namespace
}  // namespace courier::testing
