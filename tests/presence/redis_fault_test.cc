// courier::redis under faults: Redis killed and restarted on the same port
// while stores are in use. Each test runs its own redis-server (no
// COURIER_TEST_REDIS_URL needed); skipped (77) when redis-server is absent.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "courier/clock.h"
#include "courier/log.h"
#include "courier/redis.h"
#include "courier/sync.h"
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

// What the stores told the host's log sink (courier/log.h), as
// "<level> <component>: <message>" lines.
class LogCapture {
 public:
  LogCapture() {
    SetLogSink([this](const LogRecord& r) {
      MutexLock lock(&mu_);
      lines_.push_back(std::string(LogLevelName(r.level)) + " " + std::string(r.component) + ": " +
                       std::string(r.message));
    });
  }
  ~LogCapture() { SetLogSink(nullptr); }
  // Lines with `level` and containing `text`.
  int Count(std::string_view level, std::string_view text) {
    MutexLock lock(&mu_);
    int n = 0;
    for (const std::string& line : lines_) {
      if (line.starts_with(level) && line.find(text) != std::string::npos) ++n;
    }
    return n;
  }

 private:
  Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

TEST_CASE("RedisPresenceStore: keeps serving while Redis is down and restores it after",
          "[redis][fault]") {
  LogCapture log;  // the outage is logged through the sink, never to stderr
  RedisServer server(RedisServerBinaryOrSkip("redis fault"), FreeLoopbackPort());
  REQUIRE(server.Start());
  RedisProbe probe(server.port());
  ManualClock clock;
  const std::string prefix = "fault:";
  auto a = MustOpen(FaultOptions(server.port(), prefix), clock);  // node n1
  auto b = MustOpen(FaultOptions(server.port(), prefix), clock);  // node n2

  SignalInbox inbox_a;
  COURIER_REQUIRE_OK(a->Subscribe("n1", inbox_a.Handler()));
  COURIER_REQUIRE_OK(a->Connect("alice", "phone", "n1", clock.NowMs()));
  COURIER_REQUIRE_OK(a->Connect("dave", "phone", "n1", clock.NowMs()));
  COURIER_REQUIRE_OK(b->Connect("bob", "laptop", "n2", clock.NowMs()));
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
  COURIER_REQUIRE_OK(a->Heartbeat("n1", {{DeviceOnNode{"alice", "phone"}}}, clock.NowMs()));
  COURIER_REQUIRE_OK(b->Heartbeat("n2", {{DeviceOnNode{"bob", "laptop"}}}, clock.NowMs()));

  // Signals to this store's own node still arrive; to others they fail.
  COURIER_REQUIRE_OK(a->Publish("n1", Signal{Signal::Kind::kWake, "alice", "", "n1"}));
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

  // Each store logged the outage once (a warning) and the recovery once.
  const int down = log.Count("warning courier::redis", "unreachable");
  CHECK(down >= 1);
  CHECK(down <= 2);
  CHECK(Eventually([&] { return log.Count("info courier::redis", "reachable again") >= 1; }));
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
  COURIER_REQUIRE_OK(store->Connect("erin", "phone", "n1", clock.NowMs()));
  CHECK(LookupOne(*store, "erin").online);
  SignalInbox inbox;
  COURIER_REQUIRE_OK(store->Subscribe("n1", inbox.Handler()));

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

namespace courier::testing {
namespace {

TEST_CASE("RedisPresenceStore: a hung Redis times out into local memory", "[redis][fault]") {
  RedisServer server(RedisServerBinaryOrSkip("redis fault"), FreeLoopbackPort());
  REQUIRE(server.Start());
  RedisProbe probe(server.port());
  ManualClock clock;
  auto options = FaultOptions(server.port(), "hung:");
  options.command_timeout_ms = 300;
  options.connect_timeout_ms = 300;
  auto store = MustOpen(options, clock);
  COURIER_REQUIRE_OK(store->Connect("ivan", "phone", "n1", clock.NowMs()));

  server.Pause();
  // The call waits for the command timeout, then answers from memory.
  auto joined = store->Connect("jane", "phone", "n1", clock.NowMs());
  COURIER_REQUIRE_OK(joined);
  CHECK(joined->became_online);
  CHECK(LookupOne(*store, "ivan").online);
  CHECK(LookupOne(*store, "jane").online);
  server.Resume();

  CHECK(Eventually([&] { return probe.HGet("hung:online:{jane}", "phone").has_value(); }));
  CHECK(probe.HGet("hung:online:{ivan}", "phone").has_value());
}

TEST_CASE("RedisPresenceStore: concurrent calls while Redis restarts",
          "[redis][fault][concurrency]") {
  RedisServer server(RedisServerBinaryOrSkip("redis fault"), FreeLoopbackPort());
  REQUIRE(server.Start());
  ManualClock clock;
  auto a = MustOpen(FaultOptions(server.port(), "busy:"), clock);
  auto b = MustOpen(FaultOptions(server.port(), "busy:"), clock);
  SignalInbox inbox;
  COURIER_REQUIRE_OK(a->Subscribe("n1", inbox.Handler()));

  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([&, w] {
      PresenceStore& s = (w % 2 == 0) ? *a : *b;
      const NodeId node = (w % 2 == 0) ? "n1" : "n2";
      const UserId user = "w" + std::to_string(w);
      for (int i = 0; !stop; ++i) {
        const DeviceId device = "d" + std::to_string(i % 4);
        if (!s.Connect(user, device, node, clock.NowMs()).ok()) ++failures;
        if (!s.Lookup({"w0", "w1", "w2"}).ok()) ++failures;
        if (!s.Heartbeat(node, {{DeviceOnNode{user, device}}}, clock.NowMs()).ok()) ++failures;
        if (!s.Disconnect(user, device, node, clock.NowMs()).ok()) ++failures;
        // Best effort: may fail with kUnavailable while Redis is down.
        (void)s.Publish("n1", Signal{Signal::Kind::kWake, user, "", node});
      }
    });
  }
  for (int round = 0; round < 2; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    server.Kill();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    REQUIRE(server.Start());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop = true;
  for (auto& t : workers) t.join();
  CHECK(failures == 0);

  // Both stores settle on the restarted server and still work as a cluster.
  COURIER_REQUIRE_OK(a->Connect("zed", "phone", "n1", clock.NowMs()));
  CHECK(Eventually([&] { return LookupOne(*b, "zed").online; }));
  const std::size_t before = inbox.signals().size();
  CHECK(Eventually([&] {
    if (!b->Publish("n1", Signal{Signal::Kind::kWake, "zed", "", "n2"}).ok()) return false;
    return inbox.WaitFor(before + 1, std::chrono::seconds(1));
  }));
  a->Unsubscribe("n1");
}

}  // namespace
}  // namespace courier::testing
