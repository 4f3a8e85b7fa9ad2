// courier::redis under faults: Redis killed and restarted on the same port
// while stores are in use. Each test runs its own redis-server (no
// COURIER_TEST_REDIS_URL needed); skipped (77) when redis-server is absent.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "courier/clock.h"
#include "courier/redis.h"
#include "presence/presence_test_support.h"
#include "presence/redis_server.h"
#include "support/status_matchers.h"

namespace courier::testing {
namespace {

redis::RedisPresenceOptions FaultOptions(int port, const std::string& prefix) {
  redis::RedisPresenceOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.key_prefix = prefix;
  o.connect_timeout_ms = 2'000;
  o.command_timeout_ms = 2'000;
  o.backoff.initial_ms = 20;  // reconnect quickly; the schedule itself is tested elsewhere
  o.backoff.max_ms = 200;
  return o;
}

std::unique_ptr<PresenceStore> MustOpen(const redis::RedisPresenceOptions& o, const Clock& clock) {
  auto store = redis::OpenPresenceStore(o, clock);
  COURIER_REQUIRE_OK(store);
  return std::move(*store);
}

Presence LookupOne(PresenceStore& store, const UserId& user) {
  auto result = store.Lookup({user});
  COURIER_REQUIRE_OK(result);
  REQUIRE(result->size() == 1);
  return result->front();
}

TEST_CASE("RedisPresenceStore: keeps serving while Redis is down and restores it after",
          "[redis][fault]") {
  RedisServer server(RedisServerBinaryOrSkip("redis fault"), FreeLoopbackPort());
  REQUIRE(server.Start());
  RedisProbe probe(server.port());
  ManualClock clock;
  const std::string prefix = "fault:";
  auto a = MustOpen(FaultOptions(server.port(), prefix), clock);  // node n1
  auto b = MustOpen(FaultOptions(server.port(), prefix), clock);  // node n2

  SignalInbox inbox_a;
  COURIER_PRESENCE_OK(a->Subscribe("n1", inbox_a.Handler()));
  COURIER_PRESENCE_OK(a->Connect("alice", "phone", "n1", clock.NowMs()));
  COURIER_PRESENCE_OK(a->Connect("dave", "phone", "n1", clock.NowMs()));
  COURIER_PRESENCE_OK(b->Connect("bob", "laptop", "n2", clock.NowMs()));
  CHECK(LookupOne(*b, "alice").nodes == std::vector<NodeId>{"n1"});
  CHECK(LookupOne(*a, "bob").nodes == std::vector<NodeId>{"n2"});

  server.Kill();

  // Local memory answers for this node's own sessions; every call succeeds.
  CHECK(LookupOne(*a, "alice").nodes == std::vector<NodeId>{"n1"});
  auto carol = a->Connect("carol", "tab", "n1", clock.NowMs());
  COURIER_REQUIRE_OK(carol);
  CHECK(carol->became_online);
  clock.Advance(1'000);
  const TimeMs dave_left = clock.NowMs();
  auto dave = a->Disconnect("dave", "phone", "n1", dave_left);
  COURIER_REQUIRE_OK(dave);
  CHECK(*dave);
  Presence dave_now = LookupOne(*a, "dave");
  CHECK_FALSE(dave_now.online);
  REQUIRE(dave_now.last_seen.has_value());
  CHECK(*dave_now.last_seen == dave_left);
  COURIER_PRESENCE_OK(a->Heartbeat("n1", {{DeviceOnNode{"alice", "phone"}}}, clock.NowMs()));
  COURIER_PRESENCE_OK(b->Heartbeat("n2", {{DeviceOnNode{"bob", "laptop"}}}, clock.NowMs()));

  // Signals to this store's own node still arrive; to others they fail.
  COURIER_PRESENCE_OK(a->Publish("n1", Signal{Signal::Kind::kWake, "alice", "", "n1"}));
  REQUIRE(inbox_a.WaitFor(1));
  REQUIRE_THAT(b->Publish("n1", Signal{Signal::Kind::kWake, "alice", "", "n2"}),
               StatusIs(absl::StatusCode::kUnavailable));

  // Redis comes back empty on the same port; the stores find it themselves.
  REQUIRE(server.Start());
  const std::string alice_key = prefix + "online:{alice}";
  CHECK(Eventually([&] { return probe.HGet(alice_key, "phone").has_value(); }));
  CHECK(probe.HGet(alice_key, "phone").value_or("").starts_with("n1|"));
  CHECK(Eventually([&] { return probe.HGet(prefix + "online:{carol}", "tab").has_value(); }));
  CHECK(Eventually([&] { return probe.HGet(prefix + "online:{bob}", "laptop").has_value(); }));
  // The disconnect Redis missed was replayed: dave is gone with his last seen.
  CHECK(Eventually([&] { return probe.Get(prefix + "last_seen:{dave}").has_value(); }));
  CHECK(probe.Get(prefix + "last_seen:{dave}") == std::to_string(dave_left));
  CHECK_FALSE(probe.Exists(prefix + "online:{dave}"));

  // The cluster view is whole again, from either node.
  CHECK(Eventually([&] { return LookupOne(*b, "carol").online; }));
  CHECK(LookupOne(*b, "alice").nodes == std::vector<NodeId>{"n1"});
  CHECK(LookupOne(*a, "bob").nodes == std::vector<NodeId>{"n2"});

  // a re-subscribed: b's signals reach it through Redis again.
  CHECK(Eventually([&] {
    if (!b->Publish("n1", Signal{Signal::Kind::kWake, "bob", "", "n2"}).ok()) return false;
    return inbox_a.WaitFor(2, std::chrono::seconds(1));
  }));
  for (const Signal& s : inbox_a.signals()) CHECK(s.kind == Signal::Kind::kWake);
  a->Unsubscribe("n1");
}

TEST_CASE("RedisPresenceStore: open fails fast, or starts degraded when asked", "[redis][fault]") {
  RedisServer server(RedisServerBinaryOrSkip("redis fault"), FreeLoopbackPort());
  ManualClock clock;
  auto options = FaultOptions(server.port(), "late:");

  // Nothing listens yet.
  auto refused = redis::OpenPresenceStore(options, clock);
  REQUIRE_THAT(refused.status(), StatusIs(absl::StatusCode::kUnavailable));

  options.open_while_unreachable = true;
  auto store = MustOpen(options, clock);
  COURIER_PRESENCE_OK(store->Connect("erin", "phone", "n1", clock.NowMs()));
  CHECK(LookupOne(*store, "erin").online);
  SignalInbox inbox;
  COURIER_PRESENCE_OK(store->Subscribe("n1", inbox.Handler()));

  REQUIRE(server.Start());
  RedisProbe probe(server.port());
  CHECK(Eventually([&] { return probe.HGet("late:online:{erin}", "phone").has_value(); }));
  auto other = MustOpen(options, clock);
  CHECK(Eventually([&] {
    if (!other->Publish("n1", Signal{Signal::Kind::kKick, "erin", "phone", "n2"}).ok()) {
      return false;
    }
    return inbox.WaitFor(1, std::chrono::seconds(1));
  }));
  CHECK(inbox.signals().front().kind == Signal::Kind::kKick);
  CHECK(inbox.signals().front().device == "phone");
  store->Unsubscribe("n1");
}

}  // namespace
}  // namespace courier::testing
