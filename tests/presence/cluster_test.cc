// Two engines as two nodes of a cluster: one shared MessageStore, presence
// through a PresenceStore (one shared memory store, or one Redis store per
// node). A send on one node reaches a device on the other by the presence
// signal alone (no Tick, so no head polling), so do a group's messages and
// typing, and a device connecting again on the other node closes its old
// connection there with 4409.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "courier/contact_policy.h"
#include "courier/engine.h"
#include "courier/memory.h"
#include "courier/redis.h"
#include "presence/presence_test_support.h"
#include "presence/redis_server.h"
#include "presence/redis_test_support.h"
#include "support/status_matchers.h"

namespace courier::testing {
namespace {

// A device on a RecordingTransport, keeping every frame it got.
struct Device {
  std::shared_ptr<memory::RecordingTransport> transport =
      std::make_shared<memory::RecordingTransport>();
  std::shared_ptr<Session> session;
  std::vector<ServerFrame> frames;

  template <typename T>
  std::vector<T> All() {
    for (auto& f : transport->Take()) frames.push_back(std::move(f));
    std::vector<T> out;
    for (const auto& f : frames) {
      if (const T* t = std::get_if<T>(&f)) out.push_back(*t);
    }
    return out;
  }
};

class Cluster {
 public:
  // `a` and `b` are the presence stores of nodes "na" and "nb" (may be one).
  Cluster(PresenceStore& a, PresenceStore& b)
      : store_(memory::OpenMessageStore()), contacts_(MakeOpenPolicy()) {
    a_ = MakeEngine("na", a);
    b_ = MakeEngine("nb", b);
  }
  ~Cluster() {
    a_->Shutdown();
    b_->Shutdown();
  }
  Engine& a() { return *a_; }
  Engine& b() { return *b_; }

 private:
  std::unique_ptr<Engine> MakeEngine(const NodeId& node, PresenceStore& presence) {
    EngineOptions options;
    options.node = node;
    options.rate_limit.count = 10'000;
    options.rate_limit.period_ms = 1'000;
    auto engine = Engine::Create(options, {store_.get(), &presence, contacts_.get(), nullptr});
    COURIER_REQUIRE_OK(engine);
    return std::move(*engine);
  }

  std::unique_ptr<MessageStore> store_;
  std::unique_ptr<ContactPolicy> contacts_;
  std::unique_ptr<Engine> a_;
  std::unique_ptr<Engine> b_;
};

void ConnectAs(Engine& engine, const UserId& user, const DeviceId& device_name, Device& device) {
  auto session = engine.Connect(user, device_name, std::nullopt, device.transport);
  COURIER_REQUIRE_OK(session);
  device.session = *session;
  REQUIRE(Eventually([&] { return !device.All<WelcomeFrame>().empty(); }));
}

void CrossNodeScenario(PresenceStore& presence_a, PresenceStore& presence_b) {
  Cluster cluster(presence_a, presence_b);
  Device bob, alice;
  ConnectAs(cluster.b(), "bob", "laptop", bob);
  ConnectAs(cluster.a(), "alice", "phone", alice);

  // Stored on node a; bob's device on node b is woken by the signal.
  alice.session->Send("c1", "bob", "hello from a");
  REQUIRE(Eventually([&] { return !alice.All<SentFrame>().empty(); }));
  REQUIRE(Eventually([&] { return !bob.All<EventFrame>().empty(); }));
  const Event got = bob.All<EventFrame>().front().event;
  CHECK(got.kind == EventKind::kMessage);
  CHECK(got.peer == "alice");
  CHECK(got.body == "hello from a");

  // bob's ack on node b appends a receipt to alice's inbox; node a is woken.
  bob.session->Ack(got.seq);
  REQUIRE(Eventually([&] {
    for (const auto& e : alice.All<EventFrame>()) {
      if (e.event.kind == EventKind::kReceipt && e.event.status == MessageStatus::kDelivered) {
        return true;
      }
    }
    return false;
  }));

  // A group across the nodes: its message and typing reach node b by
  // signals (kWake, kTyping), and bob's typing in it reaches node a.
  alice.session->ChangeGroup("g1", GroupAction::kCreate, "", {"bob"}, "ab");
  REQUIRE(Eventually([&] { return !alice.All<GroupOkFrame>().empty(); }));
  const GroupId group = alice.All<GroupOkFrame>().front().group;
  alice.session->SendToGroup("c2", group, "to the group");
  REQUIRE(Eventually([&] {
    for (const auto& e : bob.All<EventFrame>()) {
      if (e.event.group == group && e.event.body == "to the group") return true;
    }
    return false;
  }));
  alice.session->Typing("bob", "", true);
  REQUIRE(Eventually([&] { return !bob.All<TypingFrame>().empty(); }));
  CHECK(bob.All<TypingFrame>().front().from == "alice");
  CHECK(bob.All<TypingFrame>().front().group.empty());
  bob.session->Typing("", group, false);
  REQUIRE(Eventually([&] { return !alice.All<TypingFrame>().empty(); }));
  CHECK(alice.All<TypingFrame>().front().from == "bob");
  CHECK(alice.All<TypingFrame>().front().group == group);
  CHECK_FALSE(alice.All<TypingFrame>().front().on);

  // The same device connects on node a: node b closes the old one with 4409.
  Device bob_again;
  ConnectAs(cluster.a(), "bob", "laptop", bob_again);
  REQUIRE(Eventually([&] { return bob.transport->closed(); }));
  CHECK(bob.transport->close_code() == CloseCode::kReplaced);
  CHECK_FALSE(bob_again.transport->closed());
}

TEST_CASE("Cluster: cross-node wake and kick over memory presence", "[presence][cluster]") {
  auto presence = memory::OpenPresenceStore(SystemClock());
  CrossNodeScenario(*presence, *presence);
}

TEST_CASE("Cluster: cross-node wake and kick over Redis presence", "[presence][cluster][redis]") {
  auto options = redis::RedisOptionsFromUrl(RedisUrlOrSkip());
  COURIER_REQUIRE_OK(options);
  options->key_prefix = UniquePrefix();
  auto a = redis::OpenPresenceStore(*options, SystemClock());
  auto b = redis::OpenPresenceStore(*options, SystemClock());
  COURIER_REQUIRE_OK(a);
  COURIER_REQUIRE_OK(b);
  CrossNodeScenario(**a, **b);
}

}  // namespace
}  // namespace courier::testing
