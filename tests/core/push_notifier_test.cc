// The push notifier (courier/notifier.h, core/src/push_queue.h): coalescing,
// the bound and its drops, the "offline on every node" rule, 404/410
// handling, and the engine's call after a commit. Deterministic: a
// ManualClock and RunDue on the test's thread, except one case that runs
// the worker thread (for TSan).
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "courier/clock.h"
#include "courier/contact_policy.h"
#include "courier/engine.h"
#include "courier/executor.h"
#include "courier/memory.h"
#include "courier/notifier.h"
#include "courier/sync.h"
#include "push_queue.h"
#include "support/status_matchers.h"

namespace courier {
namespace {
using testing::StatusIs;

Event Message(const UserId& from, const std::string& body = "hi") {
  Event e;
  e.kind = EventKind::kMessage;
  e.peer = from;
  e.body = body;
  e.id = "m-" + body;
  return e;
}

Event Receipt(const UserId& by) {
  Event e;
  e.kind = EventKind::kReceipt;
  e.peer = by;
  e.status = MessageStatus::kDelivered;
  return e;
}

// Records what it is asked to send; answers `next` (kDelivered by default).
class FakeSender final : public PushSender {
 public:
  struct Call {
    PushNotice notice;
    std::string device;  // empty for the gateway
    std::string subscription;
  };

  PushOutcome ToDevice(const PushNotice& notice, const PushSubscriptionRecord& device) override {
    MutexLock lock(&mu_);
    calls_.push_back(Call{notice, device.device, device.subscription});
    if (before_answer_) before_answer_();
    return next_;
  }
  PushOutcome ToGateway(const PushNotice& notice) override {
    MutexLock lock(&mu_);
    calls_.push_back(Call{notice, "", ""});
    return gateway_next_;
  }
  bool has_gateway() const override { return gateway_; }

  std::vector<Call> calls() {
    MutexLock lock(&mu_);
    return calls_;
  }
  void set_next(PushOutcome o) {
    MutexLock lock(&mu_);
    next_ = o;
  }
  void set_gateway(bool on) { gateway_ = on; }
  // Runs inside ToDevice, before it answers (a device re-subscribing while
  // its old subscription is being refused).
  void set_before_answer(std::function<void()> f) { before_answer_ = std::move(f); }

 private:
  Mutex mu_;
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
  PushOutcome next_ ABSL_GUARDED_BY(mu_) = PushOutcome::kDelivered;
  PushOutcome gateway_next_ = PushOutcome::kDelivered;
  bool gateway_ = false;
  std::function<void()> before_answer_;
};

struct Fixture {
  explicit Fixture(PushNotifierOptions options = Defaults()) {
    presence = memory::OpenPresenceStore(clock);
    accounts = memory::OpenAccountStore();
    for (const char* u : {"alice", "bob", "carol", "dave"}) {
      COURIER_REQUIRE_OK(accounts->CreateUser(u, "hash", 0));
    }
    auto n = NewPushNotifier(options, {presence.get(), accounts.get(), &sender, &clock});
    COURIER_REQUIRE_OK(n);
    notifier = *std::move(n);
  }
  static PushNotifierOptions Defaults() {
    PushNotifierOptions o;
    o.hold_ms = 2'000;
    o.max_pending = 100;
    o.start_worker = false;
    return o;
  }
  void Offer(const UserId& to, const Event& e) {
    std::vector<Appended> batch{Appended{to, e}};
    notifier->OnCommitted(batch);
  }

  ManualClock clock;
  std::unique_ptr<PresenceStore> presence;
  std::unique_ptr<AccountStore> accounts;
  FakeSender sender;
  std::unique_ptr<PushNotifier> notifier;
};

TEST_CASE("PushQueue coalesces per user and keeps the bound", "[push]") {
  internal::PushQueue q(/*max_pending=*/2, /*hold_ms=*/100, /*keep_messages=*/false);
  CHECK(q.Add("bob", Message("alice"), 1'000) == internal::PushQueue::Offer::kOpened);
  CHECK(q.Add("bob", Message("carol"), 1'010) == internal::PushQueue::Offer::kCoalesced);
  CHECK(q.Add("bob", Message("alice"), 1'020) == internal::PushQueue::Offer::kCoalesced);
  CHECK(q.Add("dave", Message("alice"), 1'050) == internal::PushQueue::Offer::kOpened);
  CHECK(q.Add("erin", Message("alice"), 1'060) == internal::PushQueue::Offer::kDropped);
  CHECK(q.size() == 2);
  CHECK(q.NextDue() == 1'100);
  CHECK_FALSE(q.TakeDue(1'099).has_value());
  auto bob = q.TakeDue(1'100);
  REQUIRE(bob.has_value());
  CHECK(bob->user == "bob");
  CHECK(bob->count == 3);
  CHECK(bob->senders == std::vector<UserId>{"alice", "carol"});
  CHECK(bob->messages.empty());
  CHECK_FALSE(q.TakeDue(1'100).has_value());  // dave is due at 1'150
  // A message after bob's notice was taken opens a new one.
  CHECK(q.Add("bob", Message("alice"), 1'200) == internal::PushQueue::Offer::kOpened);
  CHECK(q.Clear() == 2);  // dave's 1 + bob's 1
  CHECK(q.size() == 0);
  CHECK_FALSE(q.NextDue().has_value());
}

TEST_CASE("PushQueue caps senders and keeps the latest messages for full content", "[push]") {
  internal::PushQueue q(10, 0, /*keep_messages=*/true);
  for (int i = 0; i < 20; ++i) {
    q.Add("bob", Message("user" + std::to_string(i), "body" + std::to_string(i)), 5);
  }
  auto n = q.TakeDue(5);
  REQUIRE(n.has_value());
  CHECK(n->count == 20);
  CHECK(n->senders.size() == kMaxNoticeSenders);
  CHECK(n->senders.front() == "user0");
  REQUIRE(n->messages.size() == kMaxNoticeMessages);
  CHECK(n->messages.front().body == "body17");
  CHECK(n->messages.back().body == "body19");
}

TEST_CASE("a burst of 100 messages to an offline user gives one push per device", "[push]") {
  Fixture f;
  COURIER_REQUIRE_OK(f.accounts->SetPushSubscription("bob", "phone", "sub-phone"));
  COURIER_REQUIRE_OK(f.accounts->SetPushSubscription("bob", "tab", "sub-tab"));
  for (int i = 0; i < 100; ++i) f.Offer("bob", Message(i % 2 == 0 ? "alice" : "carol"));
  CHECK(f.notifier->RunDue() == 0);  // still collecting
  CHECK(f.sender.calls().empty());
  f.clock.Advance(2'000);
  CHECK(f.notifier->RunDue() == 1);
  auto calls = f.sender.calls();
  REQUIRE(calls.size() == 2);
  CHECK(calls[0].device == "phone");
  CHECK(calls[0].subscription == "sub-phone");
  CHECK(calls[1].device == "tab");
  CHECK(calls[0].notice.count == 100);
  CHECK(calls[0].notice.senders == std::vector<UserId>{"alice", "carol"});
  CHECK(calls[0].notice.messages.empty());  // names only by default
  PushStats s = f.notifier->stats();
  CHECK(s.messages == 100);
  CHECK(s.notices == 1);
  CHECK(s.coalesced == 99);
  CHECK(s.dropped == 0);
  CHECK(s.sent == 2);
  CHECK(s.pending == 0);
}

TEST_CASE("a user with a device connected on any node gets no push", "[push]") {
  Fixture f;
  COURIER_REQUIRE_OK(f.accounts->SetPushSubscription("bob", "phone", "sub-phone"));
  COURIER_REQUIRE_OK(f.presence->Connect("bob", "laptop", "other-node", f.clock.NowMs()).status());
  f.Offer("bob", Message("alice"));
  f.clock.Advance(2'000);
  CHECK(f.notifier->RunDue() == 1);
  CHECK(f.sender.calls().empty());
  CHECK(f.notifier->stats().skipped_online == 1);
  // Gone offline: the next message pushes.
  COURIER_REQUIRE_OK(f.presence->Disconnect("bob", "laptop", "other-node", f.clock.NowMs()).status());
  f.Offer("bob", Message("alice"));
  f.clock.Advance(2'000);
  CHECK(f.notifier->RunDue() == 1);
  CHECK(f.sender.calls().size() == 1);
}

TEST_CASE("receipts push nobody, and a user without subscriptions is counted", "[push]") {
  Fixture f;
  f.Offer("alice", Receipt("bob"));
  CHECK(f.notifier->stats().messages == 0);
  f.Offer("carol", Message("alice"));
  f.clock.Advance(2'000);
  CHECK(f.notifier->RunDue() == 1);
  CHECK(f.sender.calls().empty());
  CHECK(f.notifier->stats().no_subscription == 1);
}

TEST_CASE("a sender's own group copy and group changes push nobody", "[push]") {
  Fixture f;
  Event own = Message("alice", "to-the-group");
  own.group = "g1";
  Event change;
  change.kind = EventKind::kGroupChange;
  change.peer = "alice";
  change.group = "g1";
  std::vector<Appended> batch{Appended{"alice", own}, Appended{"bob", own},
                              Appended{"carol", change}};
  f.notifier->OnCommitted(batch);
  CHECK(f.notifier->stats().messages == 1);  // bob's copy only
  f.clock.Advance(2'000);
  CHECK(f.notifier->RunDue() == 1);
  CHECK(f.notifier->stats().no_subscription == 1);
}

TEST_CASE("beyond max_pending users, messages are dropped and counted", "[push]") {
  PushNotifierOptions o = Fixture::Defaults();
  o.max_pending = 2;
  Fixture f(o);
  f.Offer("bob", Message("alice"));
  f.Offer("carol", Message("alice"));
  f.Offer("dave", Message("alice"));
  f.Offer("dave", Message("bob"));
  f.Offer("bob", Message("carol"));  // bob's notice is open: coalesced
  PushStats s = f.notifier->stats();
  CHECK(s.notices == 2);
  CHECK(s.dropped == 2);
  CHECK(s.coalesced == 1);
  CHECK(s.pending == 2);
  CHECK(s.messages == s.notices + s.coalesced + s.dropped);
}

TEST_CASE("a gone subscription is deleted, unless the device subscribed again", "[push]") {
  Fixture f;
  COURIER_REQUIRE_OK(f.accounts->SetPushSubscription("bob", "phone", "sub-old"));
  COURIER_REQUIRE_OK(f.accounts->SetPushSubscription("bob", "tab", "sub-tab"));
  f.sender.set_next(PushOutcome::kGone);
  // The phone subscribes afresh while its old subscription is refused.
  AccountStore* accounts = f.accounts.get();
  f.sender.set_before_answer([accounts] {
    auto subs = accounts->PushSubscriptions("bob");
    if (subs.ok() && !subs->empty() && (*subs)[0].subscription == "sub-old") {
      (void)accounts->SetPushSubscription("bob", "phone", "sub-new");
    }
  });
  f.Offer("bob", Message("alice"));
  f.clock.Advance(2'000);
  f.notifier->RunDue();
  auto subs = f.accounts->PushSubscriptions("bob");
  COURIER_REQUIRE_OK(subs);
  // The phone's new subscription stays; the tab's gone one is deleted.
  CHECK(*subs == std::vector<PushSubscriptionRecord>{{"phone", "sub-new"}});
  CHECK(f.notifier->stats().gone == 2);  // both answered gone; one row was still current
}

TEST_CASE("a push that gives up is counted and the subscription kept", "[push]") {
  Fixture f;
  COURIER_REQUIRE_OK(f.accounts->SetPushSubscription("bob", "phone", "sub"));
  f.sender.set_next(PushOutcome::kGaveUp);
  f.Offer("bob", Message("alice"));
  f.clock.Advance(2'000);
  f.notifier->RunDue();
  CHECK(f.notifier->stats().failed == 1);
  CHECK(f.notifier->stats().sent == 0);
  CHECK(f.accounts->PushSubscriptions("bob")->size() == 1);
}

TEST_CASE("the gateway is told once per notice, subscriptions or not", "[push]") {
  PushNotifierOptions o = Fixture::Defaults();
  o.content = PushContent::kFull;
  Fixture f(o);
  f.sender.set_gateway(true);
  f.Offer("carol", Message("alice", "one"));
  f.Offer("carol", Message("bob", "two"));
  f.clock.Advance(2'000);
  f.notifier->RunDue();
  auto calls = f.sender.calls();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].device.empty());
  CHECK(calls[0].notice.count == 2);
  REQUIRE(calls[0].notice.messages.size() == 2);
  CHECK(calls[0].notice.messages[1].body == "two");
  CHECK(f.notifier->stats().sent == 1);
}

TEST_CASE("Shutdown drops pending notices and counts their messages", "[push]") {
  Fixture f;
  f.Offer("bob", Message("alice"));
  f.Offer("bob", Message("alice"));
  f.notifier->Shutdown();
  f.notifier->Shutdown();  // idempotent
  CHECK(f.notifier->stats().dropped == 2);
  f.Offer("bob", Message("alice"));  // ignored after shutdown
  CHECK(f.notifier->stats().messages == 2);
  f.clock.Advance(5'000);
  CHECK(f.notifier->RunDue() == 0);
}

TEST_CASE("NewPushNotifier refuses missing dependencies and bad options", "[push]") {
  ManualClock clock;
  auto presence = memory::OpenPresenceStore(clock);
  auto accounts = memory::OpenAccountStore();
  FakeSender sender;
  CHECK_THAT(NewPushNotifier({}, {presence.get(), nullptr, &sender, &clock}).status(),
             StatusIs(absl::StatusCode::kInvalidArgument));
  PushNotifierOptions o;
  o.start_worker = false;
  o.max_pending = 0;
  CHECK_THAT(NewPushNotifier(o, {presence.get(), accounts.get(), &sender, &clock}).status(),
             StatusIs(absl::StatusCode::kInvalidArgument));
  o.max_pending = 1;
  o.hold_ms = -1;
  CHECK_THAT(NewPushNotifier(o, {presence.get(), accounts.get(), &sender, &clock}).status(),
             StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_CASE("the worker thread sends without being asked", "[push][thread]") {
  auto presence = memory::OpenPresenceStore(SystemClock());
  auto accounts = memory::OpenAccountStore();
  COURIER_REQUIRE_OK(accounts->CreateUser("bob", "hash", 0));
  COURIER_REQUIRE_OK(accounts->SetPushSubscription("bob", "phone", "sub"));
  FakeSender sender;
  PushNotifierOptions o;
  o.hold_ms = 20;
  auto n = NewPushNotifier(o, {presence.get(), accounts.get(), &sender, nullptr});
  COURIER_REQUIRE_OK(n);
  std::thread producer([&] {
    for (int i = 0; i < 50; ++i) {
      std::vector<Appended> batch{Appended{"bob", Message("alice")}};
      (*n)->OnCommitted(batch);
    }
  });
  producer.join();
  for (int i = 0; i < 500 && (*n)->stats().sent == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  PushStats s = (*n)->stats();
  CHECK(s.sent >= 1);
  CHECK(s.sent <= 50);
  CHECK(s.messages == 50);
  (*n)->Shutdown();
}

// The worker is woken only by a notice that becomes the oldest; notices
// opened behind it, and one opened after the queue emptied, still go out.
TEST_CASE("the worker sends notices opened behind others and after a round",
          "[push][thread]") {
  auto presence = memory::OpenPresenceStore(SystemClock());
  auto accounts = memory::OpenAccountStore();
  for (const char* u : {"bob", "carol", "dave", "erin"}) {
    COURIER_REQUIRE_OK(accounts->CreateUser(u, "hash", 0));
    COURIER_REQUIRE_OK(accounts->SetPushSubscription(u, "phone", "sub"));
  }
  FakeSender sender;
  PushNotifierOptions o;
  o.hold_ms = 30;
  auto n = NewPushNotifier(o, {presence.get(), accounts.get(), &sender, nullptr});
  COURIER_REQUIRE_OK(n);
  auto wait_sent = [&](std::uint64_t want) {
    for (int i = 0; i < 1'000 && (*n)->stats().sent < want; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return (*n)->stats().sent;
  };
  for (const char* u : {"bob", "carol", "dave"}) {
    std::vector<Appended> batch{Appended{u, Message("alice")}};
    (*n)->OnCommitted(batch);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(wait_sent(3) == 3);
  CHECK((*n)->stats().pending == 0);
  std::vector<Appended> later{Appended{"erin", Message("alice")}};
  (*n)->OnCommitted(later);
  CHECK(wait_sent(4) == 4);
  CHECK((*n)->stats().notices == 4);
  (*n)->Shutdown();
}

// Records what the engine tells it.
class RecordingNotifier final : public Notifier {
 public:
  void OnCommitted(absl::Span<const Appended> appended) override {
    MutexLock lock(&mu_);
    for (const Appended& a : appended) seen_.push_back(a);
  }
  std::vector<Appended> seen() {
    MutexLock lock(&mu_);
    return seen_;
  }

 private:
  Mutex mu_;
  std::vector<Appended> seen_ ABSL_GUARDED_BY(mu_);
};

TEST_CASE("the engine tells its notifier of committed events, after the commit", "[push][engine]") {
  ManualClock clock;
  ManualExecutor executor;
  auto store = memory::OpenMessageStore();
  auto accounts = memory::OpenAccountStore();
  auto presence = memory::OpenPresenceStore(clock);
  auto contacts = MakeFriendsOnlyPolicy(*accounts);
  for (const char* u : {"alice", "bob"}) COURIER_REQUIRE_OK(accounts->CreateUser(u, "h", 0));
  REQUIRE(accounts->RequestFriend("alice", "bob").ok());
  COURIER_REQUIRE_OK(accounts->AcceptFriend("bob", "alice"));
  RecordingNotifier notifier;
  EngineOptions options;
  options.clock = &clock;
  options.commit_executor = &executor;
  options.delivery_executor = &executor;
  Engine::Deps deps;
  deps.store = store.get();
  deps.presence = presence.get();
  deps.contacts = contacts.get();
  deps.accounts = accounts.get();
  deps.notifier = &notifier;
  auto engine = Engine::Create(options, deps);
  COURIER_REQUIRE_OK(engine);
  auto transport = std::make_shared<memory::RecordingTransport>();
  auto alice = (*engine)->Connect("alice", "phone", std::nullopt, transport);
  COURIER_REQUIRE_OK(alice);
  executor.RunAll();
  (*alice)->Send("c1", "bob", "hello");
  CHECK(notifier.seen().empty());  // nothing before the commit
  executor.RunAll();
  auto seen = notifier.seen();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].user == "bob");
  CHECK(seen[0].event.kind == EventKind::kMessage);
  CHECK(seen[0].event.peer == "alice");
  CHECK(seen[0].event.body == "hello");
  (*engine)->Shutdown();
  executor.RunAll();
}

}  // namespace
}  // namespace courier
