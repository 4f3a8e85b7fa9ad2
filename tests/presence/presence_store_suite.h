// tests/presence/presence_store_suite.h: the PresenceStore conformance suite.
//
// Every rule of courier/presence_store.h, written once and run against every
// backend, in the same way as the store suites (tests/conformance/
// conformance_suite.h). To run it, in one .cc file of the backend's tests, a
// factory of PresenceCluster and one line:
//
//   std::unique_ptr<courier::testing::PresenceCluster> OpenMemoryCluster(
//       const courier::Clock& clock, courier::TimeMs ttl_ms) { ... }
//
//   COURIER_PRESENCE_STORE_CONFORMANCE("memory", OpenMemoryCluster)
//
// The factory is called once per test case and gives a cluster whose stores
// share one EMPTY backend. Test cases are named "PresenceStore[<name>]:
// <behaviour>", tags [conformance][presence] and one per topic ([connect],
// [lookup], [ttl], [heartbeat], [signal], [input], [concurrency]). Each case
// is written as COURIER_CONFORMANCE_CASE(Fn, "rule it checks", "[topic]").
//
// Time is a ManualClock for every backend: registrations expire by the
// store's clock, so TTL tests advance it instead of sleeping. Only signal
// delivery waits for another thread, with a generous deadline.
#ifndef COURIER_TESTS_PRESENCE_PRESENCE_STORE_SUITE_H_
#define COURIER_TESTS_PRESENCE_PRESENCE_STORE_SUITE_H_

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "conformance/conformance_suite.h"
#include "courier/clock.h"
#include "courier/presence_store.h"
#include "presence/presence_test_support.h"
#include "support/status_matchers.h"

namespace courier::testing {

inline constexpr TimeMs kSuiteTtlMs = 30'000;

// The presence stores of one cluster of nodes on one backend.
// Thread-safe as its stores are.
class PresenceCluster {
 public:
  virtual ~PresenceCluster() = default;
  // The store that node `node` uses.
  virtual PresenceStore& Store(int node) = 0;
};

// A cluster whose nodes all use `store`: a backend that is one in-process
// store.
inline std::unique_ptr<PresenceCluster> OneStoreCluster(std::unique_ptr<PresenceStore> store) {
  class OneStore final : public PresenceCluster {
   public:
    explicit OneStore(std::unique_ptr<PresenceStore> store) : store_(std::move(store)) {}
    PresenceStore& Store(int) override { return *store_; }

   private:
    std::unique_ptr<PresenceStore> store_;
  };
  return std::make_unique<OneStore>(std::move(store));
}

// Makes a cluster whose stores read time from `clock` (which outlives the
// cluster) and keep registrations `ttl_ms`.
using PresenceClusterFactory =
    std::function<std::unique_ptr<PresenceCluster>(const Clock& clock, TimeMs ttl_ms)>;

}  // namespace courier::testing

namespace courier::conformance {
// The suite's factory by the name COURIER_CONFORMANCE_RUN_ looks for.
using PresenceStoreFactory = testing::PresenceClusterFactory;
}  // namespace courier::conformance

namespace courier::testing {

// A cluster on a manual clock, for one test case.
class PresenceHarness {
 public:
  explicit PresenceHarness(const PresenceClusterFactory& factory)
      : cluster_(factory(clock_, kSuiteTtlMs)) {
    REQUIRE(cluster_ != nullptr);
  }

  PresenceStore& store(int node = 0) { return cluster_->Store(node); }
  TimeMs now() const { return clock_.NowMs(); }
  void Advance(TimeMs ms) { clock_.Advance(ms); }

  // `user`'s phone connects on node n1 (store 0) at `t`, then on n2
  // (store 1) at `t + 1`: the outcome of the second connect.
  ConnectOutcome ConnectThenMove(const UserId& user, TimeMs t) {
    COURIER_REQUIRE_OK(store(0).Connect(user, "phone", "n1", t));
    auto moved = store(1).Connect(user, "phone", "n2", t + 1);
    COURIER_REQUIRE_OK(moved);
    return *moved;
  }

  Presence LookupOne(const UserId& user, int node = 0) {
    auto result = store(node).Lookup({user});
    COURIER_REQUIRE_OK(result);
    REQUIRE(result->size() == 1);
    return result->front();
  }

 private:
  ManualClock clock_;
  std::unique_ptr<PresenceCluster> cluster_;
};

// A typing signal from node n1: `from_user` typing to `user` (`group` empty)
// or in `group` (`user` empty) started (`on`) or stopped.
inline Signal Typing(const UserId& from_user, const UserId& user, const GroupId& group, bool on) {
  Signal typing{Signal::Kind::kTyping, user, "", "n1"};
  typing.from_user = from_user;
  typing.group = group;
  typing.on = on;
  return typing;
}

// For the signal cases: a subscriber on the cluster's second store to
// `node`, unsubscribed when it goes.
class Subscriber {
 public:
  Subscriber(PresenceHarness& h, NodeId node) : h_(h), node_(std::move(node)) {
    COURIER_REQUIRE_OK(h_.store(1).Subscribe(node_, inbox_.Handler()));
  }
  ~Subscriber() { h_.store(1).Unsubscribe(node_); }

  // The first store publishes `signals` to the node, in order; requires them
  // received here in that order, each as it was published.
  void RequireDelivered(const std::vector<Signal>& signals) {
    for (const Signal& s : signals) COURIER_REQUIRE_OK(h_.store(0).Publish(node_, s));
    RequireReceived(inbox_, signals);
  }

  SignalInbox& inbox() { return inbox_; }

 private:
  PresenceHarness& h_;
  NodeId node_;
  SignalInbox inbox_;
};


namespace presence_store_cases {

using Factory = PresenceClusterFactory;

COURIER_CONFORMANCE_CASE(ConnectAndDisconnectMoveOnlineAndLastSeen,
                         "connect and disconnect move online and last seen", "[connect]") {
  PresenceHarness h(factory);
  auto& s = h.store();
  Presence before = h.LookupOne("alice");
  CHECK_FALSE(before.online);
  CHECK_FALSE(before.last_seen.has_value());
  CHECK(before.nodes.empty());

  const TimeMs t0 = h.now();
  auto c = s.Connect("alice", "phone", "n1", t0);
  COURIER_REQUIRE_OK(c);
  CHECK(c->became_online);
  CHECK_FALSE(c->replaced_on.has_value());

  Presence on = h.LookupOne("alice");
  CHECK(on.user == "alice");
  CHECK(on.online);
  CHECK(on.nodes == std::vector<NodeId>{"n1"});
  CHECK_FALSE(on.last_seen.has_value());

  // Connecting the same device again on the same node is not a new arrival.
  auto again = s.Connect("alice", "phone", "n1", t0 + 5);
  COURIER_REQUIRE_OK(again);
  CHECK_FALSE(again->became_online);
  CHECK_FALSE(again->replaced_on.has_value());

  h.Advance(1000);
  const TimeMs t1 = h.now();
  auto d = s.Disconnect("alice", "phone", "n1", t1);
  COURIER_REQUIRE_OK(d);
  CHECK(*d);

  Presence off = h.LookupOne("alice");
  CHECK_FALSE(off.online);
  CHECK(off.nodes.empty());
  REQUIRE(off.last_seen.has_value());
  CHECK(*off.last_seen == t1);

  // Back online: last seen is not reported while online.
  auto back = s.Connect("alice", "phone", "n1", h.now());
  COURIER_REQUIRE_OK(back);
  CHECK(back->became_online);
  CHECK_FALSE(h.LookupOne("alice").last_seen.has_value());
}

COURIER_CONFORMANCE_CASE(SeveralDevicesKeepTheUserOnline,
                         "several devices keep the user online until the last leaves",
                         "[connect]") {
  PresenceHarness h(factory);
  auto& s = h.store();
  const TimeMs t = h.now();
  auto a = s.Connect("bob", "phone", "n1", t);
  COURIER_REQUIRE_OK(a);
  CHECK(a->became_online);
  auto b = s.Connect("bob", "laptop", "n2", t);
  COURIER_REQUIRE_OK(b);
  CHECK_FALSE(b->became_online);
  CHECK_FALSE(b->replaced_on.has_value());
  auto c = s.Connect("bob", "tablet", "n1", t);
  COURIER_REQUIRE_OK(c);
  CHECK_FALSE(c->became_online);

  Presence p = h.LookupOne("bob");
  CHECK(p.online);
  CHECK(p.nodes == std::vector<NodeId>{"n1", "n2"});  // sorted, no duplicates

  auto d1 = s.Disconnect("bob", "phone", "n1", t + 1);
  COURIER_REQUIRE_OK(d1);
  CHECK_FALSE(*d1);
  CHECK(h.LookupOne("bob").nodes == std::vector<NodeId>{"n1", "n2"});
  auto d2 = s.Disconnect("bob", "tablet", "n1", t + 2);
  COURIER_REQUIRE_OK(d2);
  CHECK_FALSE(*d2);
  p = h.LookupOne("bob");
  CHECK(p.online);
  CHECK(p.nodes == std::vector<NodeId>{"n2"});
  CHECK_FALSE(p.last_seen.has_value());
  auto d3 = s.Disconnect("bob", "laptop", "n2", t + 3);
  COURIER_REQUIRE_OK(d3);
  CHECK(*d3);
  p = h.LookupOne("bob");
  CHECK_FALSE(p.online);
  REQUIRE(p.last_seen.has_value());
  CHECK(*p.last_seen == t + 3);
}

COURIER_CONFORMANCE_CASE(SameDeviceOnAnotherNodeReplacesIt,
                         "the same device on another node replaces the old registration",
                         "[connect]") {
  PresenceHarness h(factory);
  const ConnectOutcome moved = h.ConnectThenMove("carol", h.now());
  CHECK_FALSE(moved.became_online);
  REQUIRE(moved.replaced_on.has_value());
  CHECK(*moved.replaced_on == "n1");
  CHECK(h.LookupOne("carol", 0).nodes == std::vector<NodeId>{"n2"});
  CHECK(h.LookupOne("carol", 1).nodes == std::vector<NodeId>{"n2"});
}

COURIER_CONFORMANCE_CASE(AnotherNodesRegistrationIsNeverHidden,
                         "a node is told other nodes may hold devices once one registered",
                         "[connect]") {
  // PresenceStore::MayHaveOtherNodes may answer false only while no device
  // was ever registered on another node (an engine then skips its wake-ups).
  PresenceHarness h(factory);
  COURIER_REQUIRE_OK(h.store(0).Connect("erin", "phone", "n1", h.now()));
  COURIER_REQUIRE_OK(h.store(1).Connect("frank", "phone", "n2", h.now()));
  CHECK(h.store(0).MayHaveOtherNodes("n1"));
  CHECK(h.store(1).MayHaveOtherNodes("n2"));
  CHECK(h.store(0).MayHaveOtherNodes("n3"));
  // Gone again: a store may keep saying true (it is a hint that errs safe).
  COURIER_REQUIRE_OK(h.store(1).Disconnect("frank", "phone", "n2", h.now() + 1));
  CHECK(h.store(1).MayHaveOtherNodes("n3"));
}

COURIER_CONFORMANCE_CASE(StaleDisconnectLeavesTheDeviceAlone,
                         "disconnect from a node that no longer holds the device leaves it alone",
                         "[connect]") {
  PresenceHarness h(factory);
  auto& s0 = h.store(0);
  auto& s1 = h.store(1);
  const TimeMs t = h.now();
  h.ConnectThenMove("dave", t);

  // n1 closes its old connection after the kick.
  auto stale = s0.Disconnect("dave", "phone", "n1", t + 2);
  COURIER_REQUIRE_OK(stale);
  CHECK_FALSE(*stale);
  Presence p = h.LookupOne("dave", 1);
  CHECK(p.online);
  CHECK(p.nodes == std::vector<NodeId>{"n2"});

  auto real = s1.Disconnect("dave", "phone", "n2", t + 3);
  COURIER_REQUIRE_OK(real);
  CHECK(*real);
  CHECK_FALSE(h.LookupOne("dave", 0).online);
}

COURIER_CONFORMANCE_CASE(LookupAnswersInTheOrderAsked,
                         "lookup answers in the order asked", "[lookup]") {
  PresenceHarness h(factory);
  auto& s = h.store();
  const TimeMs t = h.now();
  // u1 on n1, u3 on n2 and n3, u4 on n1 until t + 7; nobody never connected.
  const std::vector<std::tuple<UserId, DeviceId, NodeId>> sessions = {
      {"u1", "d", "n1"}, {"u3", "d", "n2"}, {"u3", "e", "n3"}, {"u4", "d", "n1"}};
  for (const auto& [user, device, node] : sessions) {
    COURIER_REQUIRE_OK(s.Connect(user, device, node, t));
  }
  COURIER_REQUIRE_OK(s.Disconnect("u4", "d", "n1", t + 7));

  const std::vector<UserId> asked = {"u3", "nobody", "u1", "u4", "u3"};
  auto result = s.Lookup(asked);
  COURIER_REQUIRE_OK(result);
  REQUIRE(result->size() == asked.size());
  for (std::size_t i = 0; i < asked.size(); ++i) CHECK((*result)[i].user == asked[i]);
  CHECK((*result)[0].online);
  CHECK((*result)[0].nodes == std::vector<NodeId>{"n2", "n3"});
  CHECK_FALSE((*result)[1].online);
  CHECK_FALSE((*result)[1].last_seen.has_value());
  CHECK((*result)[2].nodes == std::vector<NodeId>{"n1"});
  CHECK_FALSE((*result)[3].online);
  REQUIRE((*result)[3].last_seen.has_value());
  CHECK(*(*result)[3].last_seen == t + 7);
  CHECK((*result)[4].nodes == (*result)[0].nodes);

  auto empty = s.Lookup({});
  COURIER_REQUIRE_OK(empty);
  CHECK(empty->empty());
}

COURIER_CONFORMANCE_CASE(RegistrationsExpireWithoutHeartbeat,
                         "registrations expire without heartbeat", "[ttl]") {
  PresenceHarness h(factory);
  auto& s = h.store();
  const TimeMs t0 = h.now();
  COURIER_REQUIRE_OK(s.Connect("erin", "phone", "n1", t0));
  h.Advance(kSuiteTtlMs - 1);
  CHECK(h.LookupOne("erin").online);

  h.Advance(2);  // the node died: no heartbeat, no disconnect
  Presence p = h.LookupOne("erin");
  CHECK_FALSE(p.online);
  CHECK(p.nodes.empty());
  REQUIRE(p.last_seen.has_value());
  CHECK(*p.last_seen >= t0);
  CHECK(*p.last_seen <= h.now());

  // The next connect is an arrival again, and replaces nothing.
  auto c = s.Connect("erin", "phone", "n2", h.now());
  COURIER_REQUIRE_OK(c);
  CHECK(c->became_online);
  CHECK_FALSE(c->replaced_on.has_value());
}

COURIER_CONFORMANCE_CASE(ExpiredDeviceLeavesTheOthersOnline,
                         "an expired device leaves the others online", "[ttl]") {
  PresenceHarness h(factory);
  auto& s = h.store();
  COURIER_REQUIRE_OK(s.Connect("fay", "phone", "n1", h.now()));
  h.Advance(kSuiteTtlMs / 2);
  COURIER_REQUIRE_OK(s.Connect("fay", "laptop", "n2", h.now()));
  h.Advance(kSuiteTtlMs / 2 + 1);  // phone expired, laptop live
  Presence p = h.LookupOne("fay");
  CHECK(p.online);
  CHECK(p.nodes == std::vector<NodeId>{"n2"});
}

COURIER_CONFORMANCE_CASE(HeartbeatRefreshesAndReRegisters,
                         "heartbeat refreshes and re-registers sessions", "[heartbeat]") {
  PresenceHarness h(factory);
  auto& s = h.store();
  COURIER_REQUIRE_OK(s.Connect("gil", "phone", "n1", h.now()));
  COURIER_REQUIRE_OK(s.Connect("hal", "phone", "n1", h.now()));
  const std::vector<DeviceOnNode> sessions = {{"gil", "phone"}, {"hal", "phone"}};
  for (int i = 0; i < 4; ++i) {
    h.Advance(kSuiteTtlMs / 2);
    COURIER_REQUIRE_OK(s.Heartbeat("n1", sessions, h.now()));
  }
  h.Advance(kSuiteTtlMs - 1);
  CHECK(h.LookupOne("gil").online);
  CHECK(h.LookupOne("hal").online);

  // Long after expiry (the store lost everything), a heartbeat restores it.
  h.Advance(kSuiteTtlMs * 3);
  CHECK_FALSE(h.LookupOne("gil").online);
  COURIER_REQUIRE_OK(s.Heartbeat("n1", sessions, h.now()));
  Presence p = h.LookupOne("gil");
  CHECK(p.online);
  CHECK(p.nodes == std::vector<NodeId>{"n1"});
  CHECK(h.LookupOne("hal").online);

  // Heartbeat of sessions never connected registers them as well.
  COURIER_REQUIRE_OK(s.Heartbeat("n1", {{DeviceOnNode{"ivy", "tab"}}}, h.now()));
  CHECK(h.LookupOne("ivy").online);
  COURIER_REQUIRE_OK(s.Heartbeat("n1", {}, h.now()));
}

COURIER_CONFORMANCE_CASE(HeartbeatDoesNotTakeBackAMovedDevice,
                         "heartbeat does not take back a device that moved", "[heartbeat]") {
  PresenceHarness h(factory);
  auto& s0 = h.store(0);
  auto& s1 = h.store(1);
  COURIER_REQUIRE_OK(s0.Connect("jo", "phone", "n1", h.now()));
  COURIER_REQUIRE_OK(s1.Connect("jo", "phone", "n2", h.now()));
  // n1 has not processed the kick yet and still lists the session.
  COURIER_REQUIRE_OK(s0.Heartbeat("n1", {{DeviceOnNode{"jo", "phone"}}}, h.now()));
  CHECK(h.LookupOne("jo").nodes == std::vector<NodeId>{"n2"});
}

COURIER_CONFORMANCE_CASE(PublishDeliversOnTheStoresThread,
                         "publish delivers to the subscriber on the store's thread", "[signal]") {
  PresenceHarness h(factory);
  Subscriber n2(h, "n2");
  n2.RequireDelivered({Signal{Signal::Kind::kWake, "kim", "", "n1"},
                       Signal{Signal::Kind::kKick, "kim", "phone", "n1"},
                       Signal{Signal::Kind::kPresence, "lee", "", "n1"}});
  for (auto id : n2.inbox().threads()) CHECK(id != std::this_thread::get_id());
}

COURIER_CONFORMANCE_CASE(CloseSignalCarriesDeviceAndCode,
                         "a close signal carries its device and close code", "[signal]") {
  PresenceHarness h(factory);
  Subscriber admin(h, "n2.admin");
  Signal one_device{Signal::Kind::kClose, "kim", "phone", "n1"};  // an administrator's disconnect
  one_device.close_code = 4410;
  Signal every_device{Signal::Kind::kClose, "lee", "", "n1"};  // a disabled user
  every_device.close_code = 4403;
  admin.RequireDelivered({one_device, every_device});
}

COURIER_CONFORMANCE_CASE(TypingSignalCarriesTypistGroupAndOnOff,
                         "a typing signal carries its typist, group and on/off", "[signal]") {
  PresenceHarness h(factory);
  Subscriber n2(h, "n2");
  // lee starts typing to kim, then stops typing in a group.
  n2.RequireDelivered({Typing("lee", "kim", "", true), Typing("lee", "", "g0123-abc_9", false)});
}

COURIER_CONFORMANCE_CASE(SecondSubscriptionToOneNodeFails,
                         "a second subscription to one node fails", "[signal]") {
  PresenceHarness h(factory);
  SignalInbox first, second;
  COURIER_REQUIRE_OK(h.store().Subscribe("n1", first.Handler()));
  REQUIRE_THAT(h.store().Subscribe("n1", second.Handler()),
               StatusIs(absl::StatusCode::kFailedPrecondition));
  // Another node's name is independent.
  COURIER_REQUIRE_OK(h.store().Subscribe("n9", second.Handler()));
  h.store().Unsubscribe("n1");
  h.store().Unsubscribe("n9");
}

COURIER_CONFORMANCE_CASE(UnsubscribeStopsCallsAndFreesTheName,
                         "unsubscribe stops calls and frees the node name", "[signal]") {
  PresenceHarness h(factory);
  auto& s = h.store();
  SignalInbox old_inbox, new_inbox;
  COURIER_REQUIRE_OK(s.Subscribe("n1", old_inbox.Handler()));
  COURIER_REQUIRE_OK(h.store(1).Publish("n1", Signal{Signal::Kind::kWake, "mo", "", "n0"}));
  REQUIRE(old_inbox.WaitFor(1));
  s.Unsubscribe("n1");
  s.Unsubscribe("n1");        // twice is harmless
  s.Unsubscribe("never-sub");  // unknown is harmless

  COURIER_REQUIRE_OK(s.Subscribe("n1", new_inbox.Handler()));
  COURIER_REQUIRE_OK(h.store(1).Publish("n1", Signal{Signal::Kind::kWake, "ned", "", "n0"}));
  REQUIRE(new_inbox.WaitFor(1));
  CHECK(new_inbox.signals().front().user == "ned");
  CHECK(old_inbox.signals().size() == 1);
  s.Unsubscribe("n1");
}

COURIER_CONFORMANCE_CASE(UnsubscribeWaitsForARunningHandler,
                         "unsubscribe waits for a running handler", "[signal]") {
  PresenceHarness h(factory);
  auto& s = h.store();
  std::atomic<bool> entered{false}, release{false}, finished{false};
  COURIER_REQUIRE_OK(s.Subscribe("n1", [&](const Signal&) {
    entered = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    finished = true;
  }));
  COURIER_REQUIRE_OK(h.store(1).Publish("n1", Signal{Signal::Kind::kWake, "ola", "", "n0"}));
  while (!entered) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    release = true;
  });
  s.Unsubscribe("n1");
  CHECK(finished);  // the handler's call ended before Unsubscribe returned
  releaser.join();
}

COURIER_CONFORMANCE_CASE(HandlerMayUnsubscribeItself,
                         "a handler may unsubscribe itself", "[signal]") {
  PresenceHarness h(factory);
  auto& s = h.store();
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  COURIER_REQUIRE_OK(s.Subscribe("n1", [&](const Signal&) {
    s.Unsubscribe("n1");
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    cv.notify_all();
  }));
  COURIER_REQUIRE_OK(h.store(1).Publish("n1", Signal{Signal::Kind::kWake, "pat", "", "n0"}));
  std::unique_lock<std::mutex> lock(mu);
  REQUIRE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return done; }));
}

COURIER_CONFORMANCE_CASE(BadInputIsInvalidArgument,
                         "bad input is refused with kInvalidArgument", "[input]") {
  PresenceHarness h(factory);
  auto& s = h.store();
  const TimeMs t = h.now();
  const std::string too_long(kMaxIdBytes + 1, 'x');
  auto bad = [](const auto& result) {
    REQUIRE_THAT(GetStatus(result), StatusIs(absl::StatusCode::kInvalidArgument));
  };
  bad(s.Connect("", "d", "n1", t));
  bad(s.Connect("u", "bad device", "n1", t));
  bad(s.Connect("u", "d", too_long, t));
  bad(s.Disconnect("u:x", "d", "n1", t));
  bad(s.Lookup({"ok", "not ok"}));
  bad(s.Heartbeat("n1", {{DeviceOnNode{"u", ""}}}, t));
  bad(s.Heartbeat("n|1", {}, t));
  bad(s.Publish("", Signal{Signal::Kind::kWake, "u", "", "n1"}));
  bad(s.Publish("n1", Signal{Signal::Kind::kWake, "u", "", ""}));
  bad(s.Publish("n1", Signal{Signal::Kind::kKick, "u", "", "n0"}));  // kick names a device
  bad(s.Publish("n1", Signal{static_cast<Signal::Kind>(9), "u", "", "n0"}));
  for (std::uint16_t code : {0, 1000, 3999, 5000}) {  // a close signal needs a 4xxx code
    bad(s.Publish("n1", Signal{Signal::Kind::kClose, "u", "d", "n0", code}));
  }
  Signal close_bad_device{Signal::Kind::kClose, "u", "bad device", "n0", 4410};
  bad(s.Publish("n1", close_bad_device));
  Signal typing;  // names neither a typist nor a valid group, then both a user and a group
  typing.kind = Signal::Kind::kTyping;
  typing.user = "u";
  typing.from_node = "n0";
  bad(s.Publish("n1", typing));
  typing.from_user = "v";
  typing.group = "bad group";
  bad(s.Publish("n1", typing));
  typing.group = "g1";
  bad(s.Publish("n1", typing));  // a user and a group
  bad(s.Subscribe("n 1", [](const Signal&) {}));
  bad(s.Lookup(std::vector<UserId>(100'000, "u")));
  CHECK_FALSE(h.LookupOne("u").online);  // nothing was registered
}

COURIER_CONFORMANCE_CASE(ConcurrentUseFromManyThreads,
                         "concurrent use from many threads", "[concurrency]") {
  PresenceHarness h(factory);
  auto& s = h.store();
  constexpr int kThreads = 4;
  constexpr int kRounds = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      const UserId user = "cu" + std::to_string(i);
      const NodeId node = "n" + std::to_string(i % 2);
      for (int r = 0; r < kRounds; ++r) {
        const TimeMs t = h.now();
        if (!s.Connect(user, "d" + std::to_string(r % 3), node, t).ok()) ++failures;
        if (!s.Heartbeat(node, {{DeviceOnNode{user, "d0"}}}, t).ok()) ++failures;
        if (!s.Lookup({"cu0", "cu1", "cu2", "cu3"}).ok()) ++failures;
        if (!s.Disconnect(user, "d" + std::to_string(r % 3), node, t).ok()) ++failures;
        if (!s.Publish(node, Signal{Signal::Kind::kWake, user, "", node}).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
}

}  // namespace presence_store_cases
}  // namespace courier::testing

// Runs the suite's cases on one backend (see the top of this file).
#define COURIER_PRESENCE_STORE_CONFORMANCE(name, factory) \
  COURIER_CONFORMANCE_RUN_(PresenceStore, "[presence]", false, name, factory)

#endif  // COURIER_TESTS_PRESENCE_PRESENCE_STORE_SUITE_H_
