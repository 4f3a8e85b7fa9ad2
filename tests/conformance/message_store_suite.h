// tests/conformance/message_store_suite.h: the MessageStore conformance suite.
//
// Every rule of courier/message_store.h, written once and run against every
// adapter. To instantiate it, in one .cc file of the adapter's test folder:
//
//   #include "conformance/message_store_suite.h"
//
//   COURIER_MESSAGE_STORE_CONFORMANCE("memory", [] {
//     return courier::conformance::MakeFixture<courier::MessageStore>(
//         [] { return courier::memory::OpenMessageStore(); });
//   })
//
// and, for an adapter that keeps its data when it is closed and opened again,
// also:
//
//   COURIER_MESSAGE_STORE_DURABILITY_CONFORMANCE("sqlite", <the same factory>)
//
// The second argument is an expression callable with no arguments that
// returns std::unique_ptr<StoreFixture<MessageStore>> (see store_fixture.h).
// It is called once per test case, and each fixture's first Open() must give
// an EMPTY store (a fresh temp file, database or schema); its later Open()s
// must reopen the same data. The name becomes part of each test case's name:
// "MessageStore[<name>]: <behaviour>", tags [conformance][message_store].
// A suite for a server that is not reachable is skipped by the test's main
// (print "SKIPPED: ..." and exit 77), never inside a test case.
//
// Adapter-neutral on purpose: the suite only uses the MessageStore interface.
// One rule it adds to the header's: an inbox event never changes once
// appended. Fetch returns each event equal (operator==) to the `appended`
// copy its write returned, so a kMessage event's `status` stays kSent however
// far the message got (Status() reports that); the engine relies on this
// when it re-sends an event to a device.
//
// Each case is written as COURIER_CONFORMANCE_CASE(Fn, "rule it checks")
// (conformance_suite.h), in this file and in the two it includes:
// message_store_delete_cases.h (DeleteInbox) and message_store_group_cases.h
// (groups: GroupChangeOp, GroupSendOp, Group, GroupsOf).
#ifndef COURIER_TESTS_CONFORMANCE_MESSAGE_STORE_SUITE_H_
#define COURIER_TESTS_CONFORMANCE_MESSAGE_STORE_SUITE_H_

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "conformance/conformance_suite.h"
#include "conformance/store_fixture.h"
#include "courier/group.h"
#include "courier/message_store.h"
#include "courier/types.h"
#include "support/status_matchers.h"

namespace courier::conformance {

using MessageStoreFactory = StoreHarness<MessageStore>::Factory;

namespace message_store_cases {

using Factory = MessageStoreFactory;
using Harness = StoreHarness<MessageStore>;

// The id the cases give the message `cid` from `from`.
inline MessageId IdOf(const UserId& from, const std::string& cid) {
  return "id-" + from + "-" + cid;
}

// The message `cid` from `from` to `to`; its id is derived from both.
inline AppendOp Message(const UserId& from, const std::string& cid, const UserId& to,
                        TimeMs ts = 1'000, std::string body = "hello") {
  return AppendOp{.sender = from, .cid = cid, .recipient = to, .id = IdOf(from, cid),
                  .body = std::move(body), .ts = ts};
}

inline AttachOp Attach(const UserId& user, const DeviceId& device) {
  return AttachOp{user, device};
}

inline AckOp Ack(const UserId& user, const DeviceId& device, Seq seq, TimeMs ts = 2'000) {
  return AckOp{user, device, seq, ts};
}

inline ReadOp Read(const UserId& user, std::vector<MessageId> ids, TimeMs ts = 3'000) {
  return ReadOp{user, std::move(ids), ts};
}

// Writes one op, requires it to succeed with the result type R.
template <class R>
R Expect(MessageStore& store, WriteOp op) {
  std::vector<absl::StatusOr<WriteResult>> results = store.Write(absl::MakeConstSpan(&op, 1));
  REQUIRE(results.size() == 1);
  COURIER_REQUIRE_OK(results[0]);
  REQUIRE(std::holds_alternative<R>(*results[0]));
  return std::get<R>(*std::move(results[0]));
}

// Writes `ops` in one batch, requires each to succeed with the result type
// R, and returns the results in order.
template <class R>
std::vector<R> ExpectBatch(MessageStore& store, const std::vector<WriteOp>& ops) {
  std::vector<absl::StatusOr<WriteResult>> results = store.Write(ops);
  REQUIRE(results.size() == ops.size());
  std::vector<R> out;
  for (auto& r : results) {
    COURIER_REQUIRE_OK(r);
    REQUIRE(std::holds_alternative<R>(*r));
    out.push_back(std::get<R>(*std::move(r)));
  }
  return out;
}

// Writes each op on its own, in order, and requires each to succeed: the
// state a case starts from.
inline void Given(MessageStore& store, std::vector<WriteOp> ops) {
  for (const WriteOp& op : ops) {
    std::vector<absl::StatusOr<WriteResult>> results = store.Write(absl::MakeConstSpan(&op, 1));
    REQUIRE(results.size() == 1);
    COURIER_REQUIRE_OK(results[0]);
    REQUIRE(results[0]->index() == op.index());
  }
}

// alice sends bob `n` messages, cids "1" to "n", at `ts`: bob's inbox holds
// seqs 1 to n.
inline void AliceSendsBob(MessageStore& store, int n, TimeMs ts = 1'000) {
  for (int i = 1; i <= n; ++i) {
    Expect<AppendResult>(store, Message("alice", std::to_string(i), "bob", ts));
  }
}

// Prune options as at `now`: acked events older than `acked_retention_ms`
// and any event older than `ttl_ms` go.
inline PruneOptions PruneAt(TimeMs now, TimeMs acked_retention_ms, TimeMs ttl_ms) {
  PruneOptions prune;
  prune.now = now;
  prune.acked_retention_ms = acked_retention_ms;
  prune.ttl_ms = ttl_ms;
  return prune;
}

// Writes one op and returns its status.
inline absl::Status WriteStatus(MessageStore& store, WriteOp op) {
  std::vector<absl::StatusOr<WriteResult>> results = store.Write(absl::MakeConstSpan(&op, 1));
  REQUIRE(results.size() == 1);
  return results[0].status();
}

inline std::vector<Event> FetchAll(MessageStore& store, const UserId& user) {
  return ValueOf(store.Fetch(user, 0, 1'000'000));
}

inline Seq HeadOf(MessageStore& store, const UserId& user) { return ValueOf(store.Head(user)); }

inline Seq CursorOf(MessageStore& store, const UserId& user, const DeviceId& device) {
  return ValueOf(store.Cursor(user, device));
}

inline MessageStatus StatusOf(MessageStore& store, const UserId& recipient, const MessageId& id) {
  return ValueOf(store.Status(recipient, id));
}

inline void RequireMessage(const Event& e, Seq seq, const MessageId& id, const UserId& sender,
                           const std::string& body, TimeMs ts) {
  CHECK(e.seq == seq);
  CHECK(e.kind == EventKind::kMessage);
  CHECK(e.id == id);
  CHECK(e.peer == sender);
  CHECK(e.body == body);
  CHECK(e.ts == ts);
}

inline void RequireReceipt(const Event& e, const MessageId& id, const UserId& by,
                           MessageStatus status, TimeMs ts) {
  CHECK(e.kind == EventKind::kReceipt);
  CHECK(e.id == id);
  CHECK(e.peer == by);
  CHECK(e.status == status);
  CHECK(e.ts == ts);
  CHECK(e.body.empty());
}

inline void RequireReceipt(const Appended& a, const UserId& sender, const MessageId& id,
                           const UserId& by, MessageStatus status, TimeMs ts) {
  CHECK(a.user == sender);
  RequireReceipt(a.event, id, by, status, ts);
}

// Requires `dup` to answer a repeated (sender, cid) as the first write
// `first` was answered: its id, seq and time, and nothing appended.
template <class Result>
void RequireDuplicateOf(const Result& dup, const Result& first) {
  CHECK(dup.duplicate);
  CHECK(dup.id == first.id);
  CHECK(dup.seq == first.seq);
  CHECK(dup.ts == first.ts);
  CHECK(dup.appended.empty());
}

// Writes `first` and `again` (the same sender and cid, another id) in one
// batch; requires the second to answer as a duplicate of the first, and
// returns its result.
template <class Result, class Op>
Result RequireDuplicateInOneBatch(MessageStore& store, const Op& first, Op again) {
  again.id = "other";
  const std::vector<Result> results = ExpectBatch<Result>(store, {first, again});
  CHECK_FALSE(results[0].duplicate);
  RequireDuplicateOf(results[1], results[0]);
  return results[1];
}

// A receipt a write appends: into `sender`'s inbox at `seq`, telling that
// `by` got to `status` on message `id` at `ts`.
struct AppendedReceipt {
  UserId sender;
  Seq seq;
  MessageId id;
  UserId by;
  MessageStatus status;
  TimeMs ts;
};

// Requires `appended` to be exactly the receipts `expected`, in order.
inline void RequireReceipts(const std::vector<Appended>& appended,
                            const std::vector<AppendedReceipt>& expected) {
  REQUIRE(appended.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const AppendedReceipt& r = expected[i];
    INFO("receipt " << i);
    RequireReceipt(appended[i], r.sender, r.id, r.by, r.status, r.ts);
    CHECK(appended[i].event.seq == r.seq);
  }
}

inline void RequireSeqs(const std::vector<Event>& events, Seq first, Seq last) {
  REQUIRE(events.size() == last - first + 1);
  for (std::size_t i = 0; i < events.size(); ++i) CHECK(events[i].seq == first + i);
}

// --- Append -----------------------------------------------------------------

COURIER_CONFORMANCE_CASE(AppendAssignsGapFreeSeq, "append assigns gap-free seq from 1") {
  Harness h(factory);
  for (int i = 1; i <= 5; ++i) {
    const std::string cid = "c" + std::to_string(i);
    auto r = Expect<AppendResult>(*h, Message("alice", cid, "bob", 1'000 + i, "body" + cid));
    CHECK(r.seq == static_cast<Seq>(i));
    CHECK(r.id == IdOf("alice", cid));
    CHECK(r.ts == 1'000 + i);
    CHECK_FALSE(r.duplicate);
    REQUIRE(r.appended.size() == 1);
    CHECK(r.appended[0].user == "bob");
    RequireMessage(r.appended[0].event, i, IdOf("alice", cid), "alice", "body" + cid, 1'000 + i);
  }
  CHECK(HeadOf(*h, "bob") == 5);
  CHECK(HeadOf(*h, "alice") == 0);
  auto events = FetchAll(*h, "bob");
  RequireSeqs(events, 1, 5);
  for (int i = 1; i <= 5; ++i) {
    const std::string cid = "c" + std::to_string(i);
    RequireMessage(events[i - 1], i, IdOf("alice", cid), "alice", "body" + cid, 1'000 + i);
  }
  CHECK(StatusOf(*h, "bob", IdOf("alice", "c1")) == MessageStatus::kSent);
}

COURIER_CONFORMANCE_CASE(UsersHaveIndependentInboxes, "users have independent inboxes") {
  Harness h(factory);
  CHECK(Expect<AppendResult>(*h, Message("alice", "a1", "bob")).seq == 1);
  CHECK(Expect<AppendResult>(*h, Message("alice", "a2", "carol")).seq == 1);
  CHECK(Expect<AppendResult>(*h, Message("carol", "c1", "bob")).seq == 2);
  CHECK(Expect<AppendResult>(*h, Message("bob", "b1", "alice")).seq == 1);
  CHECK(Expect<AppendResult>(*h, Message("alice", "a3", "carol")).seq == 2);
  CHECK(HeadOf(*h, "alice") == 1);
  CHECK(HeadOf(*h, "bob") == 2);
  CHECK(HeadOf(*h, "carol") == 2);
  auto bob = FetchAll(*h, "bob");
  REQUIRE(bob.size() == 2);
  CHECK(bob[0].peer == "alice");
  CHECK(bob[1].peer == "carol");
}

COURIER_CONFORMANCE_CASE(AppendIsIdempotentOnSenderAndCid,
                         "append is idempotent on (sender, cid)") {
  Harness h(factory);
  auto first = Expect<AppendResult>(*h, Message("alice", "c1", "bob", 1'000, "first"));
  Expect<AppendResult>(*h, Message("carol", "x", "bob"));

  // The same (sender, cid) again, with another id, body and time.
  AppendOp again = Message("alice", "c1", "bob", 5'000, "second");
  again.id = "another-id";
  RequireDuplicateOf(Expect<AppendResult>(*h, again), first);
  CHECK(HeadOf(*h, "bob") == 2);
  auto events = FetchAll(*h, "bob");
  REQUIRE(events.size() == 2);
  CHECK(events[0].body == "first");
  CHECK_THAT(h->Status("bob", "another-id").status(), StatusIs(absl::StatusCode::kNotFound));

  // The key is (sender, cid): another recipient does not make it new.
  auto elsewhere = Expect<AppendResult>(*h, Message("alice", "c1", "dave"));
  CHECK(elsewhere.duplicate);
  CHECK(elsewhere.id == first.id);
  CHECK(HeadOf(*h, "dave") == 0);

  // The same cid from another sender is another message.
  auto other = Expect<AppendResult>(*h, Message("erin", "c1", "bob"));
  CHECK_FALSE(other.duplicate);
  CHECK(other.seq == 3);
}

COURIER_CONFORMANCE_CASE(DuplicateInOneBatchIsDetected,
                         "a duplicate within one batch is detected") {
  Harness h(factory);
  const auto b = RequireDuplicateInOneBatch<AppendResult>(
      *h, Message("alice", "c1", "bob", 10, "one"), Message("alice", "c1", "bob", 20, "two"));
  CHECK(b.seq == 1);
  CHECK(b.ts == 10);
  CHECK(HeadOf(*h, "bob") == 1);
}

COURIER_CONFORMANCE_CASE(ReusedMessageIdIsRefusedAlone,
                         "a reused message id is kAlreadyExists for that op only") {
  Harness h(factory);
  AppendOp first = Message("alice", "c1", "bob");
  AppendOp second = Message("alice", "c2", "bob");  // another send, the same id
  second.id = first.id;
  const std::vector<WriteOp> ops = {first, second, Message("alice", "c3", "bob")};
  auto results = h->Write(ops);
  REQUIRE(results.size() == 3);
  COURIER_REQUIRE_OK(results[0]);
  CHECK_THAT(results[1].status(), StatusIs(absl::StatusCode::kAlreadyExists));
  COURIER_REQUIRE_OK(results[2]);
  CHECK(HeadOf(*h, "bob") == 2);
  RequireSeqs(FetchAll(*h, "bob"), 1, 2);
}

// --- Queue limit ------------------------------------------------------------

COURIER_CONFORMANCE_CASE(FullQueueRefusesAndWritesNothing,
                         "a full queue refuses and writes nothing") {
  Harness h(factory);
  auto limited = [](std::string cid, std::uint64_t max) {
    AppendOp op = Message("alice", std::move(cid), "bob");
    op.max_undelivered = max;
    return op;
  };
  // No devices: the head counts as undelivered.
  for (int i = 1; i <= 3; ++i) Expect<AppendResult>(*h, limited("c" + std::to_string(i), 3));
  CHECK_THAT(WriteStatus(*h, limited("c4", 3)), StatusIs(absl::StatusCode::kResourceExhausted));
  CHECK(HeadOf(*h, "bob") == 3);
  CHECK(FetchAll(*h, "bob").size() == 3);
  CHECK_THAT(h->Status("bob", IdOf("alice", "c4")).status(),
             StatusIs(absl::StatusCode::kNotFound));

  // A retry of a stored message is still answered as a duplicate.
  auto dup = Expect<AppendResult>(*h, limited("c2", 3));
  CHECK(dup.duplicate);
  CHECK(dup.seq == 2);

  // A device acks 2: undelivered = head - highest cursor = 1.
  Expect<AttachResult>(*h, Attach("bob", "phone"));
  CHECK_THAT(WriteStatus(*h, limited("c4", 3)), StatusIs(absl::StatusCode::kResourceExhausted));
  Expect<AckResult>(*h, Ack("bob", "phone", 2));
  // The refused cid was not remembered: it is a new message now.
  auto c4 = Expect<AppendResult>(*h, limited("c4", 3));
  CHECK_FALSE(c4.duplicate);
  CHECK(c4.seq == 4);
  Expect<AppendResult>(*h, limited("c5", 3));
  CHECK_THAT(WriteStatus(*h, limited("c6", 3)), StatusIs(absl::StatusCode::kResourceExhausted));

  // The HIGHEST cursor of any device counts, not the lowest.
  Given(*h, {Attach("bob", "laptop"), Ack("bob", "laptop", 5)});
  CHECK(CursorOf(*h, "bob", "phone") == 2);
  CHECK(Expect<AppendResult>(*h, limited("c6", 1)).seq == 6);
  CHECK_THAT(WriteStatus(*h, limited("c7", 1)), StatusIs(absl::StatusCode::kResourceExhausted));
  CHECK(HeadOf(*h, "bob") == 6);
}

COURIER_CONFORMANCE_CASE(FullQueueInsideABatch, "a full queue inside a batch fails only that op") {
  Harness h(factory);
  std::vector<WriteOp> ops;
  for (int i = 1; i <= 3; ++i) {
    AppendOp op = Message("alice", "c" + std::to_string(i), "bob");
    op.max_undelivered = 2;
    ops.push_back(op);
  }
  auto results = h->Write(ops);
  REQUIRE(results.size() == 3);
  COURIER_REQUIRE_OK(results[0]);
  COURIER_REQUIRE_OK(results[1]);
  CHECK_THAT(results[2].status(), StatusIs(absl::StatusCode::kResourceExhausted));
  CHECK(HeadOf(*h, "bob") == 2);
}

// ValidateWriteOp's rule, the same in every store: a bad name or id fails
// that op alone with kInvalidArgument, and the batch's other ops apply as if
// it were absent (no seq taken, no (sender, cid) recorded).
COURIER_CONFORMANCE_CASE(InvalidOpsFailAlone, "invalid ops fail alone with kInvalidArgument") {
  Harness h(factory);
  auto with_id = [](const std::string& cid, MessageId id) {
    AppendOp op = Message("alice", cid, "bob");
    op.id = std::move(id);
    return op;
  };
  AppendOp no_recipient = Message("alice", "c5", "");
  AppendOp oversized = Message("alice", "c6", "bob");
  oversized.body.assign(kMaxStoredBodyBytes + 1, 'x');
  const std::vector<WriteOp> ops = {
      Message("alice", "c1", "bob"),
      with_id("c2", "dotted.id"),                  // a valid name, not a message id
      with_id("c3", "has space"),
      with_id("c4", std::string(kMaxIdBytes + 1, 'i')),
      no_recipient,
      oversized,
      Attach("bob", "bad/device"),
      Ack("bad user", "phone", 0),
      Read("", {IdOf("alice", "c1")}),
      Message("alice", "c7", "bob"),
  };
  auto results = h->Write(ops);
  REQUIRE(results.size() == ops.size());
  COURIER_REQUIRE_OK(results[0]);
  CHECK(std::get<AppendResult>(*results[0]).seq == 1);
  for (std::size_t i = 1; i + 1 < ops.size(); ++i) {
    INFO("op " << i);
    CHECK_THAT(results[i].status(), StatusIs(absl::StatusCode::kInvalidArgument));
  }
  COURIER_REQUIRE_OK(results.back());
  CHECK(std::get<AppendResult>(*results.back()).seq == 2);
  CHECK(HeadOf(*h, "bob") == 2);
  RequireSeqs(FetchAll(*h, "bob"), 1, 2);
  CHECK(StatusOf(*h, "bob", IdOf("alice", "c1")) == MessageStatus::kSent);
  // The refused (sender, cid) was not recorded: a valid retry appends.
  auto retry = Expect<AppendResult>(*h, with_id("c2", "dotted-id"));
  CHECK_FALSE(retry.duplicate);
  CHECK(retry.seq == 3);
  // An ack of a seq no store can hold is out of range, like any seq > head.
  CHECK_THAT(WriteStatus(*h, Ack("bob", "phone", ~Seq{0})),
             StatusIs(absl::StatusCode::kOutOfRange));
  CHECK(CursorOf(*h, "bob", "phone") == 0);
}

// ValidateFetch's rule, the same in every store: a user that is not a name
// or a limit of 0 is refused with kInvalidArgument; a valid unknown user has
// an empty inbox.
COURIER_CONFORMANCE_CASE(InvalidFetchIsRefused, "invalid fetch arguments are refused") {
  Harness h(factory);
  COURIER_REQUIRE_OK(WriteStatus(*h, Message("alice", "c1", "bob")));
  CHECK_THAT(h->Fetch("bob", 0, 0).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(h->Fetch("", 0, 10).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(h->Fetch("bad user", 0, 10).status(),
             StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK(FetchAll(*h, "nobody").empty());
  RequireSeqs(FetchAll(*h, "bob"), 1, 1);
}

// --- Attach and ack -----------------------------------------------------------

COURIER_CONFORMANCE_CASE(AttachReturnsCursorAndHead, "attach returns cursor and head") {
  Harness h(factory);
  auto empty = Expect<AttachResult>(*h, Attach("bob", "phone"));
  CHECK(empty.cursor == 0);
  CHECK(empty.head == 0);
  AliceSendsBob(*h, 4);
  auto a = Expect<AttachResult>(*h, Attach("bob", "phone"));
  CHECK(a.cursor == 0);
  CHECK(a.head == 4);
  Expect<AckResult>(*h, Ack("bob", "phone", 3));
  auto b = Expect<AttachResult>(*h, Attach("bob", "phone"));
  CHECK(b.cursor == 3);
  CHECK(b.head == 4);
  auto other = Expect<AttachResult>(*h, Attach("bob", "laptop"));
  CHECK(other.cursor == 0);
  CHECK(other.head == 4);
  CHECK(CursorOf(*h, "bob", "laptop") == 0);
  CHECK(CursorOf(*h, "bob", "tablet") == 0);
}

COURIER_CONFORMANCE_CASE(AttachedDeviceHoldsBackPruning, "an attached device holds back pruning") {
  // The only visible effect of "the device is known" with cursor 0: events
  // are not acked by EVERY known device, so they are not pruned as acked.
  Harness h(factory);
  AliceSendsBob(*h, 3, 100);
  Given(*h, {Attach("bob", "phone"), Attach("bob", "laptop"), Ack("bob", "phone", 3)});
  PruneOptions prune = PruneAt(1'000'000, /*acked_retention_ms=*/0, /*ttl_ms=*/1'000'000'000);
  const std::size_t removed = ValueOf(h->Prune(prune));
  CHECK(removed == 0);
  CHECK(FetchAll(*h, "bob").size() == 3);
}

COURIER_CONFORMANCE_CASE(AckIsCumulative, "ack is cumulative") {
  Harness h(factory);
  AliceSendsBob(*h, 5);
  Expect<AttachResult>(*h, Attach("bob", "phone"));
  CHECK(Expect<AckResult>(*h, Ack("bob", "phone", 3)).cursor == 3);
  CHECK(CursorOf(*h, "bob", "phone") == 3);
  // Backwards is ignored.
  auto back = Expect<AckResult>(*h, Ack("bob", "phone", 1));
  CHECK(back.cursor == 3);
  CHECK(back.appended.empty());
  CHECK(CursorOf(*h, "bob", "phone") == 3);
  // Acking 0 on a new device is fine.
  CHECK(Expect<AckResult>(*h, Ack("bob", "laptop", 0)).cursor == 0);
  CHECK(Expect<AckResult>(*h, Ack("bob", "phone", 5)).cursor == 5);
  CHECK(CursorOf(*h, "bob", "phone") == 5);
}

COURIER_CONFORMANCE_CASE(AckBeyondHeadIsOutOfRange, "ack beyond the head is out of range") {
  Harness h(factory);
  AliceSendsBob(*h, 2);
  Expect<AttachResult>(*h, Attach("bob", "phone"));
  CHECK_THAT(WriteStatus(*h, Ack("bob", "phone", 3)), StatusIs(absl::StatusCode::kOutOfRange));
  // Nothing written: no cursor move, no receipts, statuses unchanged.
  CHECK(CursorOf(*h, "bob", "phone") == 0);
  CHECK(HeadOf(*h, "alice") == 0);
  CHECK(StatusOf(*h, "bob", IdOf("alice", "1")) == MessageStatus::kSent);
  CHECK_THAT(WriteStatus(*h, Ack("nobody", "phone", 1)), StatusIs(absl::StatusCode::kOutOfRange));
  CHECK(HeadOf(*h, "nobody") == 0);
  // The same ack within range still works afterwards.
  CHECK(Expect<AckResult>(*h, Ack("bob", "phone", 2)).cursor == 2);
}

// --- Receipts -----------------------------------------------------------------

COURIER_CONFORMANCE_CASE(DeliveredReceiptsExactlyOnce,
                         "delivered receipts are written exactly once") {
  Harness h(factory);
  AliceSendsBob(*h, 3);
  Given(*h, {Attach("bob", "phone"), Attach("bob", "laptop")});

  auto first = Expect<AckResult>(*h, Ack("bob", "phone", 2, 5'000));
  RequireReceipts(first.appended,
                  {{"alice", 1, IdOf("alice", "1"), "bob", MessageStatus::kDelivered, 5'000},
                   {"alice", 2, IdOf("alice", "2"), "bob", MessageStatus::kDelivered, 5'000}});
  CHECK(StatusOf(*h, "bob", IdOf("alice", "1")) == MessageStatus::kDelivered);
  CHECK(StatusOf(*h, "bob", IdOf("alice", "2")) == MessageStatus::kDelivered);
  CHECK(StatusOf(*h, "bob", IdOf("alice", "3")) == MessageStatus::kSent);

  // The second device acks everything: only message 3 is new.
  auto second = Expect<AckResult>(*h, Ack("bob", "laptop", 3, 6'000));
  RequireReceipts(second.appended,
                  {{"alice", 3, IdOf("alice", "3"), "bob", MessageStatus::kDelivered, 6'000}});

  // Re-acks add nothing.
  CHECK(Expect<AckResult>(*h, Ack("bob", "phone", 3, 7'000)).appended.empty());
  CHECK(Expect<AckResult>(*h, Ack("bob", "laptop", 3, 7'000)).appended.empty());
  CHECK(Expect<AckResult>(*h, Ack("bob", "phone", 1, 7'000)).appended.empty());

  auto receipts = FetchAll(*h, "alice");
  RequireSeqs(receipts, 1, 3);
  RequireReceipt(receipts[0], IdOf("alice", "1"), "bob", MessageStatus::kDelivered, 5'000);
  RequireReceipt(receipts[1], IdOf("alice", "2"), "bob", MessageStatus::kDelivered, 5'000);
  RequireReceipt(receipts[2], IdOf("alice", "3"), "bob", MessageStatus::kDelivered, 6'000);
}

COURIER_CONFORMANCE_CASE(ReceiptsGoToEachSender, "receipts go to each sender's inbox") {
  Harness h(factory);
  Given(*h, {Message("alice", "a", "bob"), Message("carol", "c", "bob"),
             Message("alice", "b", "bob")});
  auto ack = Expect<AckResult>(*h, Ack("bob", "phone", 3, 9'000));
  RequireReceipts(ack.appended,
                  {{"alice", 1, IdOf("alice", "a"), "bob", MessageStatus::kDelivered, 9'000},
                   {"carol", 1, IdOf("carol", "c"), "bob", MessageStatus::kDelivered, 9'000},
                   {"alice", 2, IdOf("alice", "b"), "bob", MessageStatus::kDelivered, 9'000}});
  CHECK(HeadOf(*h, "alice") == 2);
  CHECK(HeadOf(*h, "carol") == 1);
}

COURIER_CONFORMANCE_CASE(ReceiptsNeverProduceReceipts, "receipts never produce receipts") {
  Harness h(factory);
  Given(*h, {Message("alice", "1", "bob"), Ack("bob", "phone", 1)});
  REQUIRE(HeadOf(*h, "alice") == 1);
  const MessageId receipt_id = FetchAll(*h, "alice")[0].id;
  auto ack = Expect<AckResult>(*h, Ack("alice", "phone", 1));
  CHECK(ack.cursor == 1);
  CHECK(ack.appended.empty());
  auto read = Expect<ReadResult>(*h, Read("alice", {receipt_id}));
  CHECK(read.appended.empty());
  CHECK(HeadOf(*h, "bob") == 1);
  CHECK(HeadOf(*h, "alice") == 1);
}

COURIER_CONFORMANCE_CASE(ReadBeforeDeliveredWritesBothReceipts,
                         "read before delivered writes both receipts") {
  Harness h(factory);
  Given(*h, {Message("alice", "1", "bob"), Message("alice", "2", "bob")});
  auto read = Expect<ReadResult>(*h, Read("bob", {IdOf("alice", "2")}, 4'000));
  RequireReceipts(read.appended,
                  {{"alice", 1, IdOf("alice", "2"), "bob", MessageStatus::kDelivered, 4'000},
                   {"alice", 2, IdOf("alice", "2"), "bob", MessageStatus::kRead, 4'000}});
  CHECK(StatusOf(*h, "bob", IdOf("alice", "2")) == MessageStatus::kRead);
  CHECK(StatusOf(*h, "bob", IdOf("alice", "1")) == MessageStatus::kSent);

  // Read twice: nothing more. A later ack covering it: only message 1.
  CHECK(Expect<ReadResult>(*h, Read("bob", {IdOf("alice", "2")})).appended.empty());
  auto ack = Expect<AckResult>(*h, Ack("bob", "phone", 2, 5'000));
  REQUIRE(ack.appended.size() == 1);
  RequireReceipt(ack.appended[0], "alice", IdOf("alice", "1"), "bob", MessageStatus::kDelivered, 5'000);
  CHECK(StatusOf(*h, "bob", IdOf("alice", "2")) == MessageStatus::kRead);

  auto receipts = FetchAll(*h, "alice");
  RequireSeqs(receipts, 1, 3);
  RequireReceipt(receipts[0], IdOf("alice", "2"), "bob", MessageStatus::kDelivered, 4'000);
  RequireReceipt(receipts[1], IdOf("alice", "2"), "bob", MessageStatus::kRead, 4'000);
  RequireReceipt(receipts[2], IdOf("alice", "1"), "bob", MessageStatus::kDelivered, 5'000);
}

COURIER_CONFORMANCE_CASE(ReadAfterDeliveredWritesOneReceipt,
                         "read after delivered writes one receipt") {
  Harness h(factory);
  Given(*h, {Message("alice", "1", "bob"), Message("carol", "2", "bob"), Ack("bob", "phone", 2)});
  auto read = Expect<ReadResult>(*h, Read("bob", {IdOf("carol", "2"), IdOf("alice", "1")}, 8'000));
  RequireReceipts(read.appended,
                  {{"carol", 2, IdOf("carol", "2"), "bob", MessageStatus::kRead, 8'000},
                   {"alice", 2, IdOf("alice", "1"), "bob", MessageStatus::kRead, 8'000}});
  CHECK(StatusOf(*h, "bob", IdOf("alice", "1")) == MessageStatus::kRead);
  CHECK(StatusOf(*h, "bob", IdOf("carol", "2")) == MessageStatus::kRead);
}

COURIER_CONFORMANCE_CASE(ReadIgnoresUnknownAndForeignIds, "read ignores unknown and foreign ids") {
  Harness h(factory);
  Given(*h, {Message("alice", "1", "bob"), Message("alice", "2", "carol")});
  // Unknown ids, a message to someone else (twice), an empty id.
  auto read = Expect<ReadResult>(
      *h, Read("bob", {"no-such-id", IdOf("alice", "2"), IdOf("alice", "2"), ""}));
  CHECK(read.appended.empty());
  // The sender cannot "read" her own message.
  CHECK(Expect<ReadResult>(*h, Read("alice", {IdOf("alice", "1")})).appended.empty());
  CHECK(Expect<ReadResult>(*h, Read("nobody", {IdOf("alice", "1")})).appended.empty());
  CHECK(Expect<ReadResult>(*h, Read("bob", {})).appended.empty());
  CHECK(HeadOf(*h, "alice") == 0);
  CHECK(StatusOf(*h, "carol", IdOf("alice", "2")) == MessageStatus::kSent);
  CHECK(StatusOf(*h, "bob", IdOf("alice", "1")) == MessageStatus::kSent);
  // A mix of known and unknown ids: the known one is read.
  auto mixed = Expect<ReadResult>(*h, Read("bob", {"no-such-id", IdOf("alice", "1")}, 9'000));
  REQUIRE(mixed.appended.size() == 2);
  RequireReceipt(mixed.appended[1], "alice", IdOf("alice", "1"), "bob", MessageStatus::kRead, 9'000);
}

COURIER_CONFORMANCE_CASE(MessageToSelfGetsReceiptsInOwnInbox,
                         "a message to oneself gets receipts in the same inbox") {
  Harness h(factory);
  Expect<AppendResult>(*h, Message("alice", "note", "alice"));
  auto ack = Expect<AckResult>(*h, Ack("alice", "phone", 1, 2'500));
  RequireReceipts(ack.appended,
                  {{"alice", 2, IdOf("alice", "note"), "alice", MessageStatus::kDelivered, 2'500}});
  auto read = Expect<ReadResult>(*h, Read("alice", {IdOf("alice", "note")}, 2'600));
  REQUIRE(read.appended.size() == 1);
  CHECK(read.appended[0].event.seq == 3);
  CHECK(HeadOf(*h, "alice") == 3);
  CHECK(StatusOf(*h, "alice", IdOf("alice", "note")) == MessageStatus::kRead);
}

// --- Batches --------------------------------------------------------------------

COURIER_CONFORMANCE_CASE(BatchOpsSeeEarlierOps, "ops in a batch see earlier ops") {
  Harness h(factory);
  std::vector<WriteOp> ops = {
      Message("alice", "1", "bob", 100, "one"),
      Attach("bob", "phone"),
      Message("alice", "2", "bob", 101, "two"),
      Ack("bob", "phone", 2, 200),
      Read("bob", {IdOf("alice", "2")}, 300),
      Ack("bob", "phone", 3, 400),  // beyond the head: this op alone fails
      Message("alice", "3", "bob", 102, "three"),
      Ack("alice", "laptop", 3, 500),
  };
  auto results = h->Write(ops);
  REQUIRE(results.size() == ops.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    INFO("op " << i);
    if (i == 5) {
      CHECK_THAT(results[i].status(), StatusIs(absl::StatusCode::kOutOfRange));
    } else {
      COURIER_REQUIRE_OK(results[i]);
      CHECK(results[i]->index() == ops[i].index());
    }
  }
  CHECK(std::get<AppendResult>(*results[0]).seq == 1);
  auto attach = std::get<AttachResult>(*results[1]);
  CHECK(attach.cursor == 0);
  CHECK(attach.head == 1);
  CHECK(std::get<AppendResult>(*results[2]).seq == 2);
  auto ack = std::get<AckResult>(*results[3]);
  CHECK(ack.cursor == 2);
  REQUIRE(ack.appended.size() == 2);
  CHECK(ack.appended[1].event.seq == 2);
  auto read = std::get<ReadResult>(*results[4]);
  RequireReceipts(read.appended,
                  {{"alice", 3, IdOf("alice", "2"), "bob", MessageStatus::kRead, 300}});
  CHECK(std::get<AppendResult>(*results[6]).seq == 3);
  auto alice_ack = std::get<AckResult>(*results[7]);
  CHECK(alice_ack.cursor == 3);
  CHECK(alice_ack.appended.empty());

  CHECK(HeadOf(*h, "bob") == 3);
  CHECK(HeadOf(*h, "alice") == 3);
  CHECK(CursorOf(*h, "bob", "phone") == 2);
  CHECK(StatusOf(*h, "bob", IdOf("alice", "3")) == MessageStatus::kSent);
}

COURIER_CONFORMANCE_CASE(EmptyBatchReturnsNoResults, "an empty batch returns no results") {
  Harness h(factory);
  CHECK(h->Write({}).empty());
  CHECK(HeadOf(*h, "bob") == 0);
}

COURIER_CONFORMANCE_CASE(EventsNeverChangeOnceAppended, "events never change once appended") {
  Harness h(factory);
  std::vector<Appended> appended;
  auto keep = [&appended](std::vector<Appended> more) {
    appended.insert(appended.end(), more.begin(), more.end());
  };
  keep(Expect<AppendResult>(*h, Message("alice", "1", "bob", 10, "one")).appended);
  keep(Expect<AppendResult>(*h, Message("alice", "2", "bob", 11, "two")).appended);
  keep(Expect<AppendResult>(*h, Message("bob", "3", "alice", 12, "three")).appended);
  keep(Expect<AckResult>(*h, Ack("bob", "phone", 1, 20)).appended);
  keep(Expect<ReadResult>(*h, Read("bob", {IdOf("alice", "1"), IdOf("alice", "2")}, 30)).appended);
  keep(Expect<AckResult>(*h, Ack("alice", "phone", 4, 40)).appended);
  keep(Expect<ReadResult>(*h, Read("alice", {IdOf("bob", "3")}, 50)).appended);
  REQUIRE(StatusOf(*h, "bob", IdOf("alice", "1")) == MessageStatus::kRead);
  REQUIRE(StatusOf(*h, "alice", IdOf("bob", "3")) == MessageStatus::kRead);

  std::map<UserId, std::vector<Event>> expected;
  for (const Appended& a : appended) expected[a.user].push_back(a.event);
  REQUIRE(expected.size() == 2);
  for (const auto& [user, events] : expected) {
    INFO("inbox " << user);
    auto fetched = FetchAll(*h, user);
    REQUIRE(fetched.size() == events.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
      INFO("seq " << events[i].seq);
      CHECK(fetched[i] == events[i]);
      if (events[i].kind == EventKind::kMessage) CHECK(fetched[i].status == MessageStatus::kSent);
    }
  }
}

// --- Reads ------------------------------------------------------------------------

COURIER_CONFORMANCE_CASE(FetchPagesInSeqOrder, "fetch pages in seq order") {
  Harness h(factory);
  for (int i = 1; i <= 10; ++i) {
    Expect<AppendResult>(*h, Message("alice", std::to_string(i), "bob", i, "m" + std::to_string(i)));
  }
  RequireSeqs(ValueOf(h->Fetch("bob", 0, 3)), 1, 3);
  const std::vector<Event> page2 = ValueOf(h->Fetch("bob", 3, 4));
  RequireSeqs(page2, 4, 7);
  CHECK(page2[0].body == "m4");
  RequireSeqs(ValueOf(h->Fetch("bob", 7, 100)), 8, 10);
  RequireSeqs(ValueOf(h->Fetch("bob", 9, 1)), 10, 10);
  // After the head, and an inbox never written: empty pages.
  CHECK(ValueOf(h->Fetch("bob", 10, 5)).empty());
  CHECK(ValueOf(h->Fetch("bob", 1'000, 5)).empty());
  CHECK(ValueOf(h->Fetch("nobody", 0, 5)).empty());
}

COURIER_CONFORMANCE_CASE(LookupsOfUnknownThings, "lookups of unknown things") {
  Harness h(factory);
  CHECK(HeadOf(*h, "nobody") == 0);
  CHECK(CursorOf(*h, "nobody", "phone") == 0);
  CHECK_THAT(h->Status("nobody", "x").status(), StatusIs(absl::StatusCode::kNotFound));
  Expect<AppendResult>(*h, Message("alice", "1", "bob"));
  CHECK(CursorOf(*h, "bob", "phone") == 0);
  // Status is keyed by the recipient: the sender has no such message.
  CHECK_THAT(h->Status("alice", IdOf("alice", "1")).status(),
             StatusIs(absl::StatusCode::kNotFound));
  CHECK(StatusOf(*h, "bob", IdOf("alice", "1")) == MessageStatus::kSent);
}

COURIER_CONFORMANCE_CASE(PingSucceeds, "ping succeeds") {
  Harness h(factory);
  COURIER_REQUIRE_OK(h->Ping());
  Expect<AppendResult>(*h, Message("alice", "1", "bob"));
  COURIER_REQUIRE_OK(h->Ping());
}

// --- Retention ----------------------------------------------------------------------

COURIER_CONFORMANCE_CASE(PruneRemovesAckedEventsAfterRetention,
                         "prune removes acked events after retention") {
  Harness h(factory);
  // bob: seq 1-2 old, 3 new; both devices acked 2, one acked 3.
  Given(*h, {Message("alice", "1", "bob", 1'000), Message("alice", "2", "bob", 2'000),
             Message("alice", "3", "bob", 50'000), Attach("bob", "phone"), Attach("bob", "laptop"),
             Ack("bob", "phone", 3, 60'000), Ack("bob", "laptop", 2, 60'000)});

  PruneOptions prune = PruneAt(100'000, /*acked_retention_ms=*/10'000, /*ttl_ms=*/1'000'000);
  const std::size_t removed = ValueOf(h->Prune(prune));
  // bob's 1 and 2; alice's receipts (ts 60'000) are not acked by any device.
  CHECK(removed == 2);
  auto bob = FetchAll(*h, "bob");
  REQUIRE(bob.size() == 1);
  CHECK(bob[0].seq == 3);
  CHECK(FetchAll(*h, "alice").size() == 3);
  auto page = h->Fetch("bob", 0, 1);
  COURIER_REQUIRE_OK(page);
  REQUIRE(page->size() == 1);
  CHECK((*page)[0].seq == 3);

  // Seq numbers are never reused, the head stays.
  CHECK(HeadOf(*h, "bob") == 3);
  CHECK(Expect<AppendResult>(*h, Message("alice", "4", "bob", 100'000)).seq == 4);
  CHECK(CursorOf(*h, "bob", "laptop") == 2);

  // Pruning again removes nothing new.
  auto again = h->Prune(prune);
  COURIER_REQUIRE_OK(again);
  CHECK(*again == 0);
}

COURIER_CONFORMANCE_CASE(PruneKeepsUnackedEventsUntilTtl,
                         "prune keeps unacked events until the TTL") {
  Harness h(factory);
  Given(*h, {Message("alice", "1", "bob", 1'000), Message("alice", "2", "bob", 20'000),
             Message("alice", "3", "carol", 1'000), Attach("carol", "phone")});

  PruneOptions prune = PruneAt(30'000, /*acked_retention_ms=*/0, /*ttl_ms=*/100'000);
  const std::size_t none = ValueOf(h->Prune(prune));
  CHECK(none == 0);  // nothing acked (bob has no device), nothing expired
  CHECK(FetchAll(*h, "bob").size() == 2);

  prune.ttl_ms = 15'000;  // events older than 15'000 ms: ts < 15'000
  auto expired = h->Prune(prune);
  COURIER_REQUIRE_OK(expired);
  CHECK(*expired == 2);
  auto bob = FetchAll(*h, "bob");
  REQUIRE(bob.size() == 1);
  CHECK(bob[0].seq == 2);
  CHECK(FetchAll(*h, "carol").empty());
  CHECK(HeadOf(*h, "carol") == 1);
  CHECK_THAT(h->Status("bob", IdOf("alice", "1")).status(), StatusIs(absl::StatusCode::kNotFound));
  CHECK(StatusOf(*h, "bob", IdOf("alice", "2")) == MessageStatus::kSent);
  CHECK(Expect<AppendResult>(*h, Message("alice", "4", "carol", 30'000)).seq == 2);
  // An ack up to the head still works after its events expired.
  CHECK(Expect<AckResult>(*h, Ack("carol", "phone", 2)).cursor == 2);
}

// --- Data ----------------------------------------------------------------------------

COURIER_CONFORMANCE_CASE(BodiesAreArbitraryBytes, "bodies are arbitrary bytes") {
  Harness h(factory);
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  std::string nuls("\0\0a\0b\0", 6);
  std::string big(64 * 1024, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) % 256);
  const std::vector<std::string> bodies = {all_bytes, nuls, std::string(), big};
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    auto r = Expect<AppendResult>(*h, Message("alice", std::to_string(i), "bob", 1'000, bodies[i]));
    CHECK(r.appended.at(0).event.body == bodies[i]);
  }
  auto events = FetchAll(*h, "bob");
  REQUIRE(events.size() == bodies.size());
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    INFO("body " << i);
    CHECK(events[i].body.size() == bodies[i].size());
    CHECK(events[i].body == bodies[i]);
  }
}

COURIER_CONFORMANCE_CASE(NamesUseTheFullAlphabetAndLength,
                         "names use the full alphabet and length") {
  Harness h(factory);
  const UserId sender(kMaxIdBytes, 'S');
  const UserId recipient = "A.b-c_9";
  AppendOp op = Message(sender, std::string(kMaxIdBytes, '\x01'), recipient);
  op.id = std::string(kMaxIdBytes, 'i');
  auto r = Expect<AppendResult>(*h, op);
  CHECK(r.seq == 1);
  CHECK(Expect<AppendResult>(*h, op).duplicate);
  auto events = FetchAll(*h, recipient);
  REQUIRE(events.size() == 1);
  CHECK(events[0].peer == sender);
  CHECK(events[0].id == op.id);
  const DeviceId device(kMaxIdBytes, 'd');
  CHECK(Expect<AckResult>(*h, Ack(recipient, device, 1)).cursor == 1);
  CHECK(CursorOf(*h, recipient, device) == 1);
}

COURIER_CONFORMANCE_CASE(ManyUsers, "many users") {
  Harness h(factory);
  constexpr int kUsers = 200;
  std::vector<WriteOp> ops;
  for (int u = 0; u < kUsers; ++u) {
    for (int k = 0; k <= u % 3; ++k) {
      ops.push_back(Message("s" + std::to_string(k), "c" + std::to_string(u), "u" + std::to_string(u)));
    }
  }
  ExpectBatch<AppendResult>(*h, ops);
  for (int u = 0; u < kUsers; ++u) {
    INFO("user " << u);
    CHECK(HeadOf(*h, "u" + std::to_string(u)) == static_cast<Seq>(u % 3 + 1));
  }
}

COURIER_CONFORMANCE_CASE(ConcurrentWritersKeepInboxesGapFree,
                         "concurrent writers keep inboxes gap-free") {
  Harness h(factory);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  constexpr int kShared = 10;
  const std::vector<UserId> recipients = {"r0", "r1"};
  std::vector<std::vector<absl::StatusOr<WriteResult>>> results(kThreads);
  std::vector<std::thread> threads;
  MessageStore* store = h.store.get();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([store, t, &recipients, &out = results[t]] {
      auto write = [&](WriteOp op) {
        for (auto& r : store->Write(absl::MakeConstSpan(&op, 1))) out.push_back(std::move(r));
      };
      for (int i = 0; i < kPerThread; ++i) {
        const UserId& to = recipients[i % 2];
        // Each thread's own message, then its device acks it (racing with
        // the others' appends and acks)...
        write(Message("s" + std::to_string(t), std::to_string(i), to));
        if (out.back().ok()) {
          write(Ack(to, "d" + std::to_string(t), std::get<AppendResult>(*out.back()).seq));
        }
        // ...and the same shared (sender, cid)s from every thread: each is
        // stored once, whoever wins.
        if (i < kShared) write(Message("shared", std::to_string(i), to));
      }
    });
  }
  for (auto& thread : threads) thread.join();

  std::set<MessageId> shared_ids;
  std::size_t fresh_shared = 0;
  for (int t = 0; t < kThreads; ++t) {
    REQUIRE(results[t].size() == 2 * kPerThread + kShared);
    for (const auto& r : results[t]) {
      COURIER_REQUIRE_OK(r);
      if (!std::holds_alternative<AppendResult>(*r)) continue;
      const auto& a = std::get<AppendResult>(*r);
      if (a.id.rfind("id-shared-", 0) == 0) {
        shared_ids.insert(a.id);
        if (!a.duplicate) ++fresh_shared;
      } else {
        CHECK_FALSE(a.duplicate);
      }
    }
  }
  CHECK(fresh_shared == kShared);
  CHECK(shared_ids.size() == kShared);

  // Every inbox is gap-free; every message covered by some device's cursor
  // is delivered with exactly one receipt, the others have none.
  std::map<MessageId, int> receipts;
  for (int t = 0; t <= kThreads; ++t) {
    const UserId sender = t < kThreads ? "s" + std::to_string(t) : "shared";
    auto events = FetchAll(*h, sender);
    RequireSeqs(events, 1, events.size());
    for (const Event& e : events) {
      CHECK(e.kind == EventKind::kReceipt);
      CHECK(e.status == MessageStatus::kDelivered);
      ++receipts[e.id];
    }
  }
  std::size_t total = 0;
  for (const UserId& r : recipients) {
    auto events = FetchAll(*h, r);
    RequireSeqs(events, 1, events.size());
    CHECK(HeadOf(*h, r) == events.size());
    Seq max_cursor = 0;
    for (int t = 0; t < kThreads; ++t) {
      max_cursor = std::max(max_cursor, CursorOf(*h, r, "d" + std::to_string(t)));
    }
    std::set<MessageId> seen;
    for (const Event& e : events) {
      INFO("inbox " << r << " seq " << e.seq);
      CHECK(seen.insert(e.id).second);
      const bool covered = e.seq <= max_cursor;
      CHECK(StatusOf(*h, r, e.id) == (covered ? MessageStatus::kDelivered : MessageStatus::kSent));
      CHECK(receipts[e.id] == (covered ? 1 : 0));
    }
    total += events.size();
  }
  CHECK(total == kThreads * kPerThread + kShared);
}

// --- Durability (adapters that reopen on the same data) ----------------------------

COURIER_CONFORMANCE_DURABILITY_CASE(ReopenKeepsInboxesCursorsAndStatuses,
                                    "reopen keeps inboxes, cursors and statuses") {
  Harness h(factory);
  std::string body("bin\0ary", 7);
  Given(*h, {Message("alice", "1", "bob", 1'000, body), Message("alice", "2", "bob", 1'001),
             Message("alice", "3", "bob", 1'002), Attach("bob", "laptop"),
             Ack("bob", "phone", 2, 5'000), Read("bob", {IdOf("alice", "1")}, 6'000)});
  h.Reopen();

  auto bob = FetchAll(*h, "bob");
  RequireSeqs(bob, 1, 3);
  RequireMessage(bob[0], 1, IdOf("alice", "1"), "alice", body, 1'000);
  for (const Event& e : bob) CHECK(e.status == MessageStatus::kSent);
  CHECK(HeadOf(*h, "bob") == 3);
  CHECK(CursorOf(*h, "bob", "phone") == 2);
  auto laptop = Expect<AttachResult>(*h, Attach("bob", "laptop"));
  CHECK(laptop.cursor == 0);
  CHECK(laptop.head == 3);
  CHECK(StatusOf(*h, "bob", IdOf("alice", "1")) == MessageStatus::kRead);
  CHECK(StatusOf(*h, "bob", IdOf("alice", "2")) == MessageStatus::kDelivered);
  CHECK(StatusOf(*h, "bob", IdOf("alice", "3")) == MessageStatus::kSent);
  auto alice = FetchAll(*h, "alice");
  RequireSeqs(alice, 1, 3);
  RequireReceipt(alice[2], IdOf("alice", "1"), "bob", MessageStatus::kRead, 6'000);

  // Receipts are still exactly once, and seq continues.
  CHECK(Expect<AckResult>(*h, Ack("bob", "laptop", 2)).appended.empty());
  CHECK(Expect<AckResult>(*h, Ack("bob", "laptop", 3)).appended.size() == 1);
  CHECK(Expect<AppendResult>(*h, Message("carol", "1", "bob")).seq == 4);
}

COURIER_CONFORMANCE_DURABILITY_CASE(DuplicateDetectedAcrossReopen,
                                    "a duplicate is detected across a reopen") {
  Harness h(factory);
  auto first = Expect<AppendResult>(*h, Message("alice", "c1", "bob", 1'000, "first"));
  h.Reopen();
  AppendOp again = Message("alice", "c1", "bob", 9'000, "different body");
  again.id = "fresh-id";
  RequireDuplicateOf(Expect<AppendResult>(*h, again), first);
  CHECK(HeadOf(*h, "bob") == 1);
  CHECK(FetchAll(*h, "bob").at(0).body == "first");
}

COURIER_CONFORMANCE_DURABILITY_CASE(QueueLimitSurvivesReopen, "the queue limit survives a reopen") {
  Harness h(factory);
  AliceSendsBob(*h, 3);
  Expect<AckResult>(*h, Ack("bob", "phone", 1));
  h.Reopen();
  AppendOp op = Message("alice", "4", "bob");
  op.max_undelivered = 2;
  CHECK_THAT(WriteStatus(*h, op), StatusIs(absl::StatusCode::kResourceExhausted));
  op.max_undelivered = 3;
  CHECK(Expect<AppendResult>(*h, op).seq == 4);
}

}  // namespace message_store_cases
}  // namespace courier::conformance

#include "conformance/message_store_delete_cases.h"
#include "conformance/message_store_group_cases.h"

// Runs the suite's cases on one adapter (see the top of this file).
#define COURIER_MESSAGE_STORE_CONFORMANCE(name, factory) \
  COURIER_CONFORMANCE_RUN_(MessageStore, "[message_store]", false, name, factory)

// Runs the durability cases on an adapter whose fixture reopens on the same
// data (see the top of this file).
#define COURIER_MESSAGE_STORE_DURABILITY_CONFORMANCE(name, factory) \
  COURIER_CONFORMANCE_RUN_(MessageStore, "[message_store]", true, name, factory)

#endif  // COURIER_TESTS_CONFORMANCE_MESSAGE_STORE_SUITE_H_
