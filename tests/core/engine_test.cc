// Engine: the send / connect / ack / read / disconnect state machine, driven
// step by step over the memory adapters (tests/core/engine_harness.h).
#include "courier/engine.h"

#include <algorithm>
#include <string>

#include "device_session.h"  // kAckHoldEvents
#include "engine_harness.h"

namespace courier::testing {
namespace {

// Options for the rate limit's own tests: `count` sends per `period_ms`.
EngineOptions RateLimited(std::uint32_t count, TimeMs period_ms) {
  EngineOptions o;
  o.rate_limit = RateLimit{count, period_ms};
  return o;
}

// `first` stored a message; `repeat` answered the same cid again: a
// duplicate, with the id that was stored.
void CheckRepeat(const SentFrame& first, const SentFrame& repeat) {
  CHECK_FALSE(first.duplicate);
  CHECK(repeat.duplicate);
  CHECK(repeat.id == first.id);
}

// alice's phone sends bob 4 messages under a limit of 3: the first 3 are
// stored, the last (cid c3) is refused; returns the refusal.
ErrorFrame FourthIsRefused(EngineHarness& h, Device& alice) {
  alice.SendMany("bob", 4);
  h.Run();
  CHECK(alice.Received<SentFrame>().size() == 3);
  auto errors = alice.All<ErrorFrame>();
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].cid == "c3");
  return errors[0];
}

TEST_CASE("Engine: message ids are unique and sort by creation time", "[engine]") {
  AliceAndBob h;
  Device alice = h.Online("alice");
  for (int i = 0; i < 50; ++i) {
    h.Send(alice, "c" + std::to_string(i), "bob", "hi");
  }
  auto sent = alice.Received<SentFrame>();
  REQUIRE(sent.size() == 50);
  for (std::size_t i = 1; i < sent.size(); ++i) {
    CHECK(sent[i].id.size() == 32);
    CHECK(sent[i - 1].id < sent[i].id);  // stores insert each id beside the last
  }
}

TEST_CASE("Engine: a message to an offline user is kept and delivered on connect", "[engine]") {
  AliceAndBob h;
  Device alice = h.Online("alice");
  h.Send(alice, "c1", "bob", "hello bob");
  const auto* sent = alice.Last<SentFrame>();
  REQUIRE(sent != nullptr);
  CHECK(sent->cid == "c1");
  CHECK_FALSE(sent->duplicate);
  CHECK(sent->id.size() == 32);

  Device bob = h.Online("bob", "laptop");
  bob.Poll();
  REQUIRE(!bob.frames.empty());
  const auto* welcome = std::get_if<WelcomeFrame>(&bob.frames.front());
  REQUIRE(welcome != nullptr);
  CHECK(welcome->user == "bob");
  CHECK(welcome->device == "laptop");
  CHECK(welcome->cursor == 0);
  CHECK(welcome->head == 1);
  auto events = bob.Events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].seq == 1);
  CHECK(events[0].kind == EventKind::kMessage);
  CHECK(events[0].peer == "alice");
  CHECK(events[0].body == "hello bob");
  CHECK(events[0].id == sent->id);
  auto synced = bob.All<SyncedFrame>();
  REQUIRE(synced.size() == 1);
  CHECK(synced[0].seq == 1);
  CHECK(bob.session->state() == SessionState::kLive);
}

TEST_CASE("Engine: sent is answered only after the store committed", "[engine]") {
  AliceAndBob h;
  Device alice = h.Online("alice");
  alice.Poll();
  alice.session->Send("c1", "bob", "x");
  CHECK(alice.Poll().empty());  // queued, not committed
  REQUIRE(h.store().Head("bob").value() == 0);
  h.Run();
  REQUIRE(alice.Last<SentFrame>() != nullptr);
  CHECK(h.store().Head("bob").value() == 1);
}

TEST_CASE("Engine: a failed commit answers unavailable and stores nothing, the retry stores once",
          "[engine][faults]") {
  AliceAndBob h;
  Device alice = h.Online("alice");
  alice.Poll();
  h.faults().SetDown(true);
  h.Send(alice, "c1", "bob", "x");
  const auto* error = alice.Last<ErrorFrame>();
  REQUIRE(error != nullptr);
  CHECK(error->code == ErrorCode::kUnavailable);
  CHECK(error->cid == "c1");
  h.faults().SetDown(false);
  CHECK(h.store().Head("bob").value() == 0);
  alice.session->Send("c1", "bob", "x");
  alice.session->Send("c1", "bob", "x");
  h.Run();
  auto sents = alice.Received<SentFrame>();
  REQUIRE(sents.size() == 2);
  CheckRepeat(sents[0], sents[1]);
  CHECK(h.store().Head("bob").value() == 1);
}

TEST_CASE("Engine: live events reach a connected device at once, in seq order", "[engine]") {
  BothOnline h;
  REQUIRE(h.bob.Received<SyncedFrame>().size() == 1);
  for (int i = 0; i < 20; ++i) {
    h.alice.session->Send("c" + std::to_string(i), "bob", std::to_string(i));
  }
  h.Run();
  auto events = h.bob.ReceivedEvents();
  REQUIRE(events.size() == 20);
  for (int i = 0; i < 20; ++i) {
    CHECK(events[i].seq == static_cast<Seq>(i + 1));
    CHECK(events[i].body == std::to_string(i));
  }
  CHECK(h.bob.All<SyncedFrame>().size() == 1);  // once per connection
}

TEST_CASE("Engine: at most `window` unacked events are in flight", "[engine][flow]") {
  EngineOptions o = Generous();
  o.limits.window = 8;
  o.limits.fetch_page = 3;
  BobHasMessages h(30, o);
  Device bob = h.Online("bob");
  REQUIRE(bob.ReceivedEvents().size() == 8);
  CHECK(bob.All<SyncedFrame>().empty());
  h.Ack(bob, 3);
  REQUIRE(bob.ReceivedEvents().size() == 11);
  h.Ack(bob, 11);
  REQUIRE(bob.ReceivedEvents().size() == 19);
  h.Ack(bob, 19);
  h.Ack(bob, 27);
  auto events = bob.ReceivedEvents();
  REQUIRE(events.size() == 30);
  for (std::size_t i = 0; i < events.size(); ++i) CHECK(events[i].seq == i + 1);
  auto synced = bob.All<SyncedFrame>();
  REQUIRE(synced.size() == 1);
  CHECK(synced[0].seq == 30);
}

// A draining device's acks: the window opens at once, the store gets one
// AckOp per kAckHoldEvents (device_session.h, "Acks while draining"), and a
// held ack is stored by the ack that catches up, by Tick and by Disconnect.
TEST_CASE("Engine: a draining device's acks are stored together, none lost", "[engine][flow]") {
  using internal::kAckHoldEvents;
  EngineOptions o = Generous();
  o.limits.window = 64;
  o.limits.fetch_page = 64;
  const Seq n = 2 * kAckHoldEvents + 100;
  BobHasMessages h(static_cast<int>(n), o);
  auto cursor = [&] { return h.store().Cursor("bob", "phone").value(); };
  auto receipts = [&] {
    auto events = h.store().Fetch("alice", 0, 100'000).value();
    return std::count_if(events.begin(), events.end(),
                         [](const Event& e) { return e.kind == EventKind::kReceipt; });
  };
  Device bob = h.Online("bob");
  const std::uint64_t acks_before = h.engine().stats().acks;
  const std::uint64_t commits_before = h.engine().stats().commits;
  // Window by window, below the hold: each ack opens the window, none is
  // written yet.
  Seq acked = 0;
  while (acked + 64 < kAckHoldEvents) {
    REQUIRE(bob.ReceivedEvents().size() == acked + 64);
    acked += 64;
    h.Ack(bob, acked);
  }
  CHECK(cursor() == 0);
  CHECK(receipts() == 0);
  CHECK(h.engine().stats().commits == commits_before);
  CHECK(h.engine().stats().acks - acks_before == acked / 64);
  // The ack that reaches kAckHoldEvents writes everything up to it at once.
  acked += 64;
  h.Ack(bob, acked);
  CHECK(cursor() == acked);
  CHECK(receipts() == static_cast<std::ptrdiff_t>(acked));
  CHECK(h.engine().stats().commits == commits_before + 1);
  // Held again; Tick writes it.
  acked += 64;
  h.Ack(bob, acked);
  CHECK(cursor() == acked - 64);
  h.engine().Tick();
  h.Run();
  CHECK(cursor() == acked);
  CHECK(receipts() == static_cast<std::ptrdiff_t>(acked));
  // Held again; Disconnect writes it, and the next connection starts there.
  acked += 64;
  h.Ack(bob, acked);
  CHECK(cursor() == acked - 64);
  h.Disconnect(bob);
  CHECK(cursor() == acked);
  Device again = h.Online("bob");
  REQUIRE(!again.ReceivedEvents().empty());
  CHECK(again.ReceivedEvents().front().seq == acked + 1);
  // Acks that catch up are written at once: the drain's end, then live.
  while (acked < n) {
    acked = again.ReceivedEvents().back().seq;
    h.Ack(again, acked);
  }
  CHECK(cursor() == n);
  CHECK(receipts() == static_cast<std::ptrdiff_t>(n));
  CHECK(again.All<SyncedFrame>().size() == 1);
  auto events = again.ReceivedEvents();
  for (std::size_t i = 1; i < events.size(); ++i) CHECK(events[i].seq == events[i - 1].seq + 1);
  h.alice.session->Send("live", "bob", "now");
  h.Run();
  REQUIRE(again.ReceivedEvents().back().seq == n + 1);
  h.Ack(again, n + 1);
  CHECK(cursor() == n + 1);
}

// The next page (device_session.h): read while the window is full, sent by
// the ack that makes room, on the ack's own thread, before any engine task runs.
TEST_CASE("Engine: the ack that makes room sends the page read ahead at once", "[engine][flow]") {
  EngineOptions o = Generous();
  o.limits.window = 8;
  o.limits.fetch_page = 8;
  BobHasMessages h(30, o);
  Device bob = h.Online("bob");
  REQUIRE(bob.ReceivedEvents().size() == 8);
  bob.session->Ack(8);  // no Run: the page 9..16 was read already
  REQUIRE(bob.ReceivedEvents().size() == 16);
  h.Run();  // reads 17..24 ahead
  bob.session->Ack(12);  // room for 4: the front of that page
  REQUIRE(bob.ReceivedEvents().size() == 20);
  bob.session->Ack(20);  // room for 8: the page's other 4 only
  REQUIRE(bob.ReceivedEvents().size() == 24);
  h.Run();  // 25..28 from the store, then 29..30 read ahead
  REQUIRE(bob.ReceivedEvents().size() == 28);
  CHECK(bob.All<SyncedFrame>().empty());
  bob.session->Ack(28);
  REQUIRE(bob.ReceivedEvents().size() == 30);
  CHECK(bob.All<SyncedFrame>().size() == 1);  // with the page that reached the head
  // A page read ahead that the stream passed is dropped, never sent: here
  // a live send arrives while the window is full and after the ack.
  h.alice.session->Send("late", "bob", "x");
  h.Run();
  h.Ack(bob, 30);
  auto events = bob.ReceivedEvents();
  REQUIRE(events.size() == 31);
  for (std::size_t i = 0; i < events.size(); ++i) CHECK(events[i].seq == i + 1);
}

TEST_CASE("Engine: live sends queue behind a drain without reordering", "[engine][flow]") {
  EngineOptions o = Generous();
  o.limits.window = 4;
  BobHasMessages h(10, o, "old");
  Device bob = h.Online("bob");
  h.alice.SendMany("bob", 5, "new", "b");
  h.Run();
  for (Seq acked = 0; acked < 15;) {
    auto events = bob.ReceivedEvents();
    REQUIRE(!events.empty());
    acked = events.back().seq;
    h.Ack(bob, acked);
  }
  auto events = bob.ReceivedEvents();
  REQUIRE(events.size() == 15);
  for (std::size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].seq == i + 1);
    CHECK(events[i].body == (i < 10 ? "old" : "new"));
  }
}

TEST_CASE("Engine: delivered and read receipts are appended once each, also to an offline sender",
          "[engine][receipts]") {
  AliceAndBob h;
  Device alice = h.Online("alice");
  h.Send(alice, "c1", "bob", "hi");
  const MessageId id = alice.Received<SentFrame>().at(0).id;
  h.Disconnect(alice);

  Device bob1 = h.Connect("bob", "phone");
  Device bob2 = h.Connect("bob", "tablet");
  h.Run();
  bob1.session->Ack(1);
  h.Ack(bob2, 1);
  bob1.session->Read({id});
  bob2.session->Read({id});
  h.Run();
  CHECK(h.store().Status("bob", id).value() == MessageStatus::kRead);

  Device alice2 = h.Online("alice");
  auto events = alice2.ReceivedEvents();
  REQUIRE(events.size() == 2);
  CHECK(events[0].kind == EventKind::kReceipt);
  CHECK(events[0].status == MessageStatus::kDelivered);
  CHECK(events[0].id == id);
  CHECK(events[0].peer == "bob");
  CHECK(events[1].status == MessageStatus::kRead);
  CHECK(events[1].seq == 2);
}

TEST_CASE("Engine: every device of the recipient gets every event", "[engine][devices]") {
  BothOnline h;
  h.alice.SendMany("bob", 5);
  h.Run();
  Device bob2 = h.Online("bob", "tablet");
  CHECK(h.bob.ReceivedEvents().size() == 5);
  CHECK(bob2.ReceivedEvents().size() == 5);
  h.Ack(h.bob, 5);
  CHECK(h.alice.ReceivedEvents().size() == 5);  // delivered receipts
  h.Ack(bob2, 5);
  CHECK(h.alice.ReceivedEvents().size() == 5);  // not again
}

TEST_CASE("Engine: hello with since replays from there, without, from the stored cursor",
          "[engine][reconnect]") {
  BobHasMessages h(6);
  h.BobsPhoneAckedAndLeft(4);

  Device again = h.Online("bob");
  again.Poll();
  CHECK(std::get<WelcomeFrame>(again.frames.front()).cursor == 4);
  auto events = again.Events();
  REQUIRE(events.size() == 2);
  CHECK(events[0].seq == 5);
  h.Disconnect(again);

  Device fresh = h.Online("bob", "phone", Seq{0});
  CHECK(fresh.ReceivedEvents().size() == 6);
  CHECK(fresh.Events().front().seq == 1);
}

TEST_CASE("Engine: an ack beyond the head answers bad_seq, backwards acks are ignored",
          "[engine][errors]") {
  BobHasMessages h(1);
  Device bob = h.Online("bob");
  h.Ack(bob, 7);
  const auto* error = bob.Last<ErrorFrame>();
  REQUIRE(error != nullptr);
  CHECK(error->code == ErrorCode::kBadSeq);
  h.Ack(bob, 1);
  h.Ack(bob, 0);
  CHECK(h.store().Cursor("bob", "phone").value() == 1);
}

TEST_CASE("Engine: sends are checked: friends, users, sizes, client ids", "[engine][errors]") {
  AliceAndBob h;
  h.AddUsers({"carol"});
  Device alice = h.Online("alice");
  alice.Poll();
  struct Case {
    std::string cid, to, body;
    ErrorCode code;
  };
  const std::vector<Case> cases = {
      {"c1", "carol", "x", ErrorCode::kNotFriends},
      {"c2", "nobody", "x", ErrorCode::kUnknownUser},
      {"c3", "bad name!", "x", ErrorCode::kUnknownUser},
      {"c4", "bob", std::string(64 * 1024 + 1, 'x'), ErrorCode::kTooLarge},
      {std::string(65, 'c'), "bob", "x", ErrorCode::kBadFrame},
      {"", "bob", "x", ErrorCode::kBadFrame},
  };
  for (const Case& c : cases) {
    h.Send(alice, c.cid, c.to, c.body);
    const auto* error = alice.Last<ErrorFrame>();
    INFO("cid " << c.cid << " to " << c.to);
    REQUIRE(error != nullptr);
    CHECK(error->code == c.code);
    CHECK(error->cid == c.cid);
  }
  h.Send(alice, "ok", "bob", std::string(64 * 1024, 'x'));
  CHECK(alice.Last<SentFrame>() != nullptr);
  CHECK(h.store().Head("carol").value() == 0);
}

TEST_CASE("Engine: the rate limit refuses with retry_after_ms and refills with time",
          "[engine][limits]") {
  AliceAndBob h(RateLimited(3, 3000));
  Device alice = h.Online("alice");
  const ErrorFrame refused = FourthIsRefused(h, alice);
  CHECK(refused.code == ErrorCode::kRateLimited);
  REQUIRE(refused.retry_after_ms.has_value());
  CHECK(*refused.retry_after_ms > 0);
  CHECK(*refused.retry_after_ms <= 1000);
  h.clock().Advance(*refused.retry_after_ms);
  h.Send(alice, "c3", "bob", "m");
  CHECK(alice.Received<SentFrame>().size() == 4);
}

TEST_CASE("Engine: a full inbox refuses with queue_full and keeps what it has",
          "[engine][limits]") {
  EngineOptions o = Generous();
  o.limits.max_undelivered = 3;
  AliceAndBob h(o);
  Device alice = h.Online("alice");
  CHECK(FourthIsRefused(h, alice).code == ErrorCode::kQueueFull);
  Device bob = h.Online("bob");
  h.Ack(bob, 3);
  h.Send(alice, "c3", "bob", "m");
  CHECK(h.store().Head("bob").value() == 4);
}

TEST_CASE("Engine: the same device connecting again closes the older session with 4409",
          "[engine][devices]") {
  EngineHarness h(Generous());
  h.AddUsers({"bob"});
  Device first = h.Online("bob");
  Device second = h.Online("bob");
  CHECK(first.transport->close_code() == CloseCode::kReplaced);
  CHECK_FALSE(second.transport->closed());
  h.Disconnect(first);  // the old socket goes away afterwards
  auto p = h.presence().Lookup(std::vector<UserId>{"bob"});
  COURIER_REQUIRE_OK(p);
  CHECK(p->at(0).online);  // the newer session keeps bob online
}

TEST_CASE("Engine: friends see presence on connect and disconnect, with last seen",
          "[engine][presence]") {
  AliceAndBob h;
  h.AddUsers({"eve"});
  Device alice = h.Connect("alice", "phone");
  Device eve = h.Connect("eve", "phone");
  h.Run();
  auto initial = alice.Received<PresenceFrame>();
  REQUIRE(initial.size() == 1);
  CHECK(initial[0].user == "bob");
  CHECK_FALSE(initial[0].online);

  Device bob = h.Online("bob");
  auto frames = alice.Received<PresenceFrame>();
  REQUIRE(frames.size() == 2);
  CHECK(frames[1].online);
  auto bobs = bob.Received<PresenceFrame>();
  REQUIRE(bobs.size() == 1);
  CHECK(bobs[0].user == "alice");
  CHECK(bobs[0].online);

  h.clock().Advance(5000);
  const TimeMs left = h.clock().NowMs();
  h.Disconnect(bob);
  frames = alice.Received<PresenceFrame>();
  REQUIRE(frames.size() == 3);
  CHECK_FALSE(frames[2].online);
  CHECK(frames[2].last_seen == left);
  CHECK(h.accounts().LastSeen("bob").value() == left);
  CHECK(eve.Received<PresenceFrame>().empty());  // not a friend
}

TEST_CASE("Engine: frames caused before welcome are sent after it", "[engine]") {
  AliceAndBob h;
  Device alice = h.Connect("alice", "phone");
  h.Send(alice, "c1", "nobody", "x");  // answered at once, before attach commits
  alice.Poll();
  REQUIRE(alice.frames.size() >= 2);
  CHECK(std::holds_alternative<WelcomeFrame>(alice.frames.front()));
  CHECK(alice.Last<ErrorFrame>() != nullptr);
}

TEST_CASE("Engine: read takes 1 to max_read_ids ids", "[engine][limits]") {
  EngineHarness h(Generous());
  h.AddUsers({"bob"});
  Device bob = h.Online("bob");
  bob.session->Read({});
  bob.session->Read(std::vector<MessageId>(1001, "x"));
  h.Run();
  auto errors = bob.Received<ErrorFrame>();
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].code == ErrorCode::kBadFrame);
  CHECK(errors[1].code == ErrorCode::kBadFrame);
}

TEST_CASE("Engine: Shutdown closes every session with 1001 and refuses new ones",
          "[engine][lifecycle]") {
  EngineHarness h(Generous());
  h.AddUsers({"bob"});
  Device bob = h.Online("bob");
  h.engine().Shutdown();
  h.Run();
  CHECK(bob.transport->close_code() == CloseCode::kGoingAway);
  auto refused = h.engine().Connect("bob", "tablet", std::nullopt,
                                    std::make_shared<memory::RecordingTransport>());
  CHECK_THAT(refused.status(), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_CASE("Engine: Connect validates names and caps devices per user", "[engine][limits]") {
  EngineOptions o = Generous();
  o.limits.max_sessions_per_user = 2;
  EngineHarness h(o);
  auto t = std::make_shared<memory::RecordingTransport>();
  CHECK_THAT(h.engine().Connect("bob", "bad device", std::nullopt, t).status(),
             StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(h.engine().Connect("", "d", std::nullopt, t).status(),
             StatusIs(absl::StatusCode::kInvalidArgument));
  h.Connect("bob", "a");
  h.Connect("bob", "b");
  CHECK_THAT(h.engine().Connect("bob", "c", std::nullopt, t).status(),
             StatusIs(absl::StatusCode::kResourceExhausted));
  h.Run();
}

TEST_CASE("Engine: a head poll delivers events another node wrote", "[engine][cluster]") {
  EngineOptions o = Generous();
  o.head_poll_ms = 1000;
  EngineHarness h(o);
  h.AddUsers({"bob"});
  Device bob = h.Online("bob");
  // Written behind the engine's back, as another node sharing the store would.
  h.WriteBehindEngine("alice", "x1", "bob", "0123456789abcdef", "from elsewhere");
  h.Run();
  CHECK(bob.ReceivedEvents().empty());
  h.clock().Advance(1000);
  h.engine().Tick();
  h.Run();
  REQUIRE(bob.ReceivedEvents().size() == 1);
  CHECK(bob.Events()[0].body == "from elsewhere");
}

TEST_CASE("Engine: Wake streams new events at once", "[engine][cluster]") {
  EngineHarness h(Generous());
  h.AddUsers({"bob"});
  Device bob = h.Online("bob");
  h.WriteBehindEngine("alice", "x1", "bob", "id1", "b");
  h.engine().Wake("bob");
  h.Run();
  CHECK(bob.ReceivedEvents().size() == 1);
}

TEST_CASE("Engine: an engine alone on its presence store looks up nobody to wake elsewhere",
          "[engine][cluster]") {
  BothOnline h;
  const int before = h.presence_faults().lookups();
  h.alice.SendMany("bob", 3);
  h.Run();
  REQUIRE(h.bob.ReceivedEvents().size() == 3);
  CHECK(h.presence_faults().lookups() == before);  // no device on another node
  // A store that cannot tell (Redis): every commit looks up its recipients.
  h.presence_faults().SetHideNodes(true);
  h.alice.SendMany("bob", 1, "m", "hidden");
  h.Run();
  CHECK(h.presence_faults().lookups() > before);
  // A device on a second node: the lookups come back, and it is woken.
  h.presence_faults().SetHideNodes(false);
  std::unique_ptr<Engine> node2 = h.StartPeer("node-2");
  Device bob2 = h.ConnectTo(*node2, "bob", "tablet");
  h.Run();
  const int with_peer = h.presence_faults().lookups();
  h.alice.session->Send("late", "bob", "to both devices");
  h.Run();
  CHECK(h.presence_faults().lookups() > with_peer);
  REQUIRE(RunUntil(h, [&] {
    for (const Event& e : bob2.ReceivedEvents()) {
      if (e.body == "to both devices") return true;
    }
    return false;
  }));
  bob2.session->Disconnect();
  h.Run();
  node2->Shutdown();
  h.Run();
}

TEST_CASE("Engine: stats count sends, duplicates, deliveries and group commits", "[engine]") {
  BothOnline h;
  h.alice.SendMany("bob", 10);
  h.alice.session->Send("c0", "bob", "m");
  h.Run();
  EngineStats s = h.engine().stats();
  CHECK(s.sessions == 2);
  CHECK(s.sends == 10);
  CHECK(s.duplicate_sends == 1);
  CHECK(s.events_delivered == 10);
  CHECK(s.committed_ops == 13);  // two attaches + 11 appends
  CHECK(s.commits <= 2);         // grouped
}

TEST_CASE("Engine: Create refuses missing dependencies and bad options", "[engine]") {
  EngineOptions o;
  CHECK_THAT(Engine::Create(o, Engine::Deps{}).status(),
             StatusIs(absl::StatusCode::kInvalidArgument));
  auto store = memory::OpenMessageStore();
  ManualClock clock;
  auto presence = memory::OpenPresenceStore(clock);
  auto contacts = MakeOpenPolicy();
  o.limits.window = 0;
  CHECK_THAT(Engine::Create(o, Engine::Deps{store.get(), presence.get(), contacts.get(), nullptr})
                 .status(),
             StatusIs(absl::StatusCode::kInvalidArgument));
  o.limits.window = 4;
  o.node = "bad node";
  CHECK_THAT(Engine::Create(o, Engine::Deps{store.get(), presence.get(), contacts.get(), nullptr})
                 .status(),
             StatusIs(absl::StatusCode::kInvalidArgument));
  o.node = "node-1";
  o.contact_cache_ttl_ms = -1;
  CHECK_THAT(Engine::Create(o, Engine::Deps{store.get(), presence.get(), contacts.get(), nullptr})
                 .status(),
             StatusIs(absl::StatusCode::kInvalidArgument));
}

// The engine prepares each op where it is submitted (MessageStore::Prepare),
// so the encrypting store's Write, on the one commit thread, seals nothing:
// every send reaches it sealed, and bob still reads plaintext.
TEST_CASE("Engine: sends reach the store's Write prepared (bodies sealed at submit)",
          "[engine][store]") {
  BothOnline h;
  h.alice.SendMany("bob", 5, "hello bob");
  h.Run();
  CHECK(h.alice.Received<SentFrame>().size() == 5);
  CHECK(h.unprepared_sends() == 0);
  auto events = h.bob.Received<EventFrame>();
  REQUIRE(events.size() == 5);
  for (const EventFrame& e : events) CHECK(e.event.body == "hello bob");
}

// Regression (tests/abuse test_memory_stays_bounded_with_stuck_readers on an
// idle machine): a flood of 16 KiB sends went into 2048-op batches, holding
// ~100 MiB while one was written.
TEST_CASE("Engine: a batch holds at most max_batch_bytes of bodies, but always one op",
          "[engine][limits][regression]") {
  EngineOptions o = Generous();
  o.max_batch_bytes = 100;
  AliceAndBob h(o);
  Device alice = h.Online("alice");
  const std::uint64_t commits_before = h.engine().stats().commits;
  alice.SendMany("bob", 6, std::string(40, 'x'));
  alice.session->Send("big", "bob", std::string(1000, 'y'));  // over the cap alone: still written
  h.Run();
  CHECK(alice.Received<SentFrame>().size() == 7);
  // 40-byte bodies: two per batch, then the big one alone.
  CHECK(h.engine().stats().commits - commits_before == 4);
  CHECK(h.store().Head("bob").value() == 7);
}

// Regression (protocol test test_repeated_cid_is_answered_dup_even_when_rate_limited):
// the rate limit answered a retry of an already stored cid with rate_limited.
TEST_CASE("Engine: a repeated cid is answered dup even when rate limited, and costs no token",
          "[engine][limits][regression]") {
  AliceAndBob h(RateLimited(2, 600'000));
  Device alice = h.Online("alice");
  h.Send(alice, "one", "bob", "m");
  alice.session->Send("one", "bob", "m");  // answered from memory: no token
  alice.session->Send("two", "bob", "m");  // the second token
  h.Run();
  alice.session->Send("two", "bob", "m");  // rate limited now, still dup
  alice.session->Send("three", "bob", "m");
  h.Run();
  auto sents = alice.Received<SentFrame>();
  REQUIRE(sents.size() == 4);
  CheckRepeat(sents[0], sents[1]);
  CheckRepeat(sents[2], sents[3]);
  auto errors = alice.All<ErrorFrame>();
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].code == ErrorCode::kRateLimited);
  CHECK(errors[0].cid == "three");
  CHECK(h.store().Head("bob").value() == 2);
}

TEST_CASE("Engine: a duplicate found by the store gives its rate token back",
          "[engine][limits]") {
  AliceAndBob h(RateLimited(1, 600'000));
  Device alice = h.Online("alice");
  // Stored behind the engine's back, as before a restart: the engine has no
  // memory of it, the store answers it as a duplicate.
  h.WriteBehindEngine("alice", "old", "bob", "id-old", "m");
  h.Send(alice, "old", "bob", "m");
  h.Send(alice, "new", "bob", "m");
  auto sents = alice.Received<SentFrame>();
  REQUIRE(sents.size() == 2);
  CHECK(sents[0].duplicate);
  CHECK(sents[0].id == "id-old");
  CHECK_FALSE(sents[1].duplicate);
  CHECK(alice.All<ErrorFrame>().empty());
}

// Regression (tests/protocol test_live_sends_during_a_drain_keep_one_ordered_stream):
// a page fetched during the drain reached past the head of welcome, and
// `synced` came after the live event instead of right after the head.
TEST_CASE("Engine: synced comes right after the head of welcome, before live events",
          "[engine][flow][regression]") {
  EngineOptions o = Generous();
  o.limits.fetch_page = 10;
  BobHasMessages h(3, o, "old");
  Device bob = h.Connect("bob", "phone");
  // Attach commits (head 3), then a live send commits before the drain's
  // first fetch: the page holds 1..4.
  h.executor().RunOne(0);
  h.Send(h.alice, "live", "bob", "new");
  bob.Poll();
  std::vector<std::string> order;
  for (const ServerFrame& f : bob.frames) {
    if (const auto* e = std::get_if<EventFrame>(&f)) order.push_back(std::to_string(e->event.seq));
    if (const auto* s = std::get_if<SyncedFrame>(&f)) order.push_back("synced@" + std::to_string(s->seq));
  }
  CHECK(order == std::vector<std::string>{"1", "2", "3", "synced@3", "4"});
}

// Regression (tests/cluster: a node killed with SIGKILL): its users'
// registrations expired in the presence store, but friends connected
// elsewhere were never told they went offline.
TEST_CASE("Engine: friends are told when another node's registration expires",
          "[engine][presence][cluster][regression]") {
  EngineHarness h(Generous());
  h.AddUsers({"alice", "hal"});
  h.Befriend("alice", "hal");
  // hal is connected on node-2, which then dies: no disconnect, no heartbeat.
  auto registered = h.presence().Connect("hal", "phone", "node-2", h.clock().NowMs());
  COURIER_REQUIRE_OK(registered);
  Device alice = h.Online("alice");
  auto initial = alice.Received<PresenceFrame>();
  REQUIRE(initial.size() == 1);
  CHECK(initial[0].online);
  h.engine().Tick();  // nothing changed yet: no frame
  h.Run();
  CHECK(alice.Received<PresenceFrame>().size() == 1);
  h.clock().Advance(31'000);  // beyond the presence TTL (30 s)
  h.engine().Tick();
  h.Run();
  auto frames = alice.Received<PresenceFrame>();
  REQUIRE(frames.size() == 2);
  CHECK(frames[1].user == "hal");
  CHECK_FALSE(frames[1].online);
}

// Regression (fuzz_engine leak report): an engine destroyed with writes still
// queued kept itself alive through queued completion -> session -> engine.
TEST_CASE("Engine: destroyed with queued writes, it frees its sessions", "[engine][lifecycle]") {
  auto store = memory::OpenMessageStore();
  ManualClock clock;
  auto presence = memory::OpenPresenceStore(clock);
  auto contacts = MakeOpenPolicy();
  std::weak_ptr<Session> weak;
  {
    ManualExecutor executor;
    EngineOptions o;
    o.clock = &clock;
    o.commit_executor = &executor;
    o.delivery_executor = &executor;
    auto engine = Engine::Create(o, Engine::Deps{store.get(), presence.get(), contacts.get(),
                                                 nullptr});
    COURIER_REQUIRE_OK(engine);
    auto session = (*engine)->Connect("bob", "phone", std::nullopt,
                                      std::make_shared<memory::RecordingTransport>());
    COURIER_REQUIRE_OK(session);
    (*session)->Send("c1", "alice", "queued, never written");
    weak = *session;
    session->reset();
    engine->reset();  // the attach and the send are still queued
    CHECK(executor.pending() >= 1);
    executor.RunAll();  // what was posted finds the engine stopped
  }
  CHECK(weak.expired());
  CHECK(store->Head("alice").value() == 0);
}

// Regression (model seed 416): `since` above the stored cursor made the
// session treat the device's acks as old and never move the cursor.
TEST_CASE("Engine: acks move the cursor after a hello with since above it",
          "[engine][reconnect][regression]") {
  BobHasMessages h(4);
  h.BobsPhoneAckedAndLeft(2);
  Device again = h.Online("bob", "phone", Seq{4});
  h.Ack(again, 4);
  CHECK(h.store().Cursor("bob", "phone").value() == 4);
  CHECK(h.alice.ReceivedEvents().size() == 4);  // four delivered receipts
}

// Regression (model seed 3): an ack beyond what this connection sent (the
// device had the events from before) left the window closed for good.
TEST_CASE("Engine: an ack beyond the stream position opens the window and skips acked events",
          "[engine][flow][regression]") {
  EngineOptions o = Generous();
  o.limits.window = 1;
  BobHasMessages h(6, o);
  Device bob = h.Online("bob");
  h.Ack(bob, 1);
  REQUIRE(bob.ReceivedEvents().size() == 2);  // 1, then 2 after the ack
  h.Disconnect(bob);
  Device again = h.Online("bob", "phone");  // from cursor 1
  REQUIRE(again.ReceivedEvents().size() == 1);
  CHECK(again.Events()[0].seq == 2);
  h.Ack(again, 4);  // it had 3 and 4 from elsewhere
  auto events = again.ReceivedEvents();
  REQUIRE(events.size() == 2);
  CHECK(events[1].seq == 5);
  h.Ack(again, 6);
  CHECK(again.Received<SyncedFrame>().size() == 1);
}

// Regression (model seed 2): a message event read back from the store
// carried the message's current status, so one seq showed two contents.
TEST_CASE("Engine: a message event reads the same after it was delivered",
          "[engine][regression]") {
  BothOnline h;
  h.Send(h.alice, "c1", "bob", "m");
  const Event first = h.bob.ReceivedEvents().at(0);
  h.Ack(h.bob, 1);
  Device tablet = h.Online("bob", "tablet");
  CHECK(tablet.ReceivedEvents().at(0) == first);
}

TEST_CASE("Engine: ForgetUser makes a send to a deleted account be checked again",
          "[engine][errors]") {
  AliceAndBob h;
  Device alice = h.Online("alice");
  h.Send(alice, "c1", "bob", "hi");
  REQUIRE(alice.Last<SentFrame>() != nullptr);
  // The account goes (the admin API deletes it, then tells the engine).
  COURIER_REQUIRE_OK(h.accounts().DeleteUser("bob"));
  // Without ForgetUser the cached permission would still let this through.
  h.Send(alice, "c2", "bob", "still there?");
  CHECK(alice.Last<SentFrame>() != nullptr);
  h.engine().ForgetUser("bob");
  h.Send(alice, "c3", "bob", "hello?");
  const auto* error = alice.Last<ErrorFrame>();
  REQUIRE(error != nullptr);
  CHECK(error->cid == "c3");
  CHECK(error->code == ErrorCode::kUnknownUser);
}

// Server::CloseSessions and OpenDevices (courier/websocket/server.h) find a
// user's connections through this: no per-user table of the server's own.
TEST_CASE("Engine: OpenSessions lists each open session's device and transport until it closes",
          "[engine]") {
  // A user and device name past NameKey's 23 inline bytes, and a short one.
  const char* const carol = "carol-with-a-name-longer-than-23";
  EngineHarness h(Generous());
  h.AddUsers({"alice", carol});
  Device phone = h.Online("alice", "phone");
  Device laptop = h.Online("alice", "laptop-with-a-long-device-name-x");
  Device other = h.Online(carol, "phone");
  CHECK(phone.session->user() == "alice");
  CHECK(laptop.session->device() == "laptop-with-a-long-device-name-x");
  CHECK(other.session->user() == carol);
  CHECK(other.Last<WelcomeFrame>()->user == carol);

  auto devices = [&](const UserId& user, std::optional<DeviceId> device = std::nullopt) {
    std::vector<std::pair<DeviceId, Transport*>> out;
    for (const Engine::OpenSession& s : h.engine().OpenSessions(user, device)) {
      out.emplace_back(s.device, s.transport.get());
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  using Row = std::pair<DeviceId, Transport*>;
  CHECK(devices("alice") == std::vector<Row>{{"laptop-with-a-long-device-name-x", laptop.transport.get()},
                                             {"phone", phone.transport.get()}});
  CHECK(devices("alice", "phone") == std::vector<Row>{{"phone", phone.transport.get()}});
  CHECK(devices("alice", "tablet").empty());
  CHECK(devices(carol) == std::vector<Row>{{"phone", other.transport.get()}});
  CHECK(devices("nobody").empty());

  // The same device again replaces the session: only the new one is open.
  Device phone2 = h.Online("alice", "phone");
  CHECK(phone.session->state() == SessionState::kClosed);
  CHECK(devices("alice", "phone") == std::vector<Row>{{"phone", phone2.transport.get()}});
  h.Disconnect(laptop);
  h.Disconnect(phone2);
  CHECK(devices("alice").empty());
  h.engine().Shutdown();
  CHECK(devices(carol).empty());
}

}  // namespace
}  // namespace courier::testing
