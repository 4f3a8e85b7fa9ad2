// tests/conformance/message_store_delete_cases.h: the DeleteInbox cases of
// the MessageStore conformance suite (courier/message_store.h, "Deleting an
// inbox"). Included by message_store_suite.h after its helpers; not on its
// own.
#ifndef COURIER_TESTS_CONFORMANCE_MESSAGE_STORE_DELETE_CASES_H_
#define COURIER_TESTS_CONFORMANCE_MESSAGE_STORE_DELETE_CASES_H_

namespace courier::conformance::message_store_cases {

inline std::size_t DeleteInboxOf(MessageStore& store, const UserId& user) {
  absl::StatusOr<std::size_t> removed = store.DeleteInbox(user);
  COURIER_REQUIRE_OK(removed);
  return *removed;
}

// bob received m1, m2 (from alice) and c1 (from carol), acked m1 on his
// phone, and sent b1 to alice, who acked it: bob's inbox is
// [m1, m2, c1, receipt(b1 delivered)]; alice's is [b1, receipt(m1 delivered)].
COURIER_CONFORMANCE_CASE(DeleteInboxRemovesWhatTheUserReceived,
                         "delete inbox removes what the user received") {
  Harness h(factory);
  Given(*h, {Message("alice", "m1", "bob", 1'000), Message("alice", "m2", "bob", 1'001),
             Message("carol", "c1", "bob", 1'002), Attach("bob", "phone"), Ack("bob", "phone", 1)});
  const Seq b1 = Expect<AppendResult>(*h, Message("bob", "b1", "alice", 1'003)).seq;
  Expect<AckResult>(*h, Ack("alice", "tablet", b1));
  const std::vector<Event> alice_before = FetchAll(*h, "alice");
  REQUIRE(alice_before.size() == 2);
  REQUIRE(HeadOf(*h, "bob") == 4);

  CHECK(DeleteInboxOf(*h, "bob") == 4);

  // Gone: bob's events, head, cursors, and what he received.
  CHECK(FetchAll(*h, "bob").empty());
  CHECK(HeadOf(*h, "bob") == 0);
  CHECK(CursorOf(*h, "bob", "phone") == 0);
  for (const MessageId& id : {IdOf("alice", "m1"), IdOf("alice", "m2"), IdOf("carol", "c1")}) {
    CHECK_THAT(h->Status("bob", id).status(), StatusIs(absl::StatusCode::kNotFound));
  }
  // Kept: alice's inbox, byte for byte (bob's message and bob's receipt),
  // the status of what bob sent, and bob's (sender, cid) record.
  CHECK(FetchAll(*h, "alice") == alice_before);
  CHECK(StatusOf(*h, "alice", IdOf("bob", "b1")) == MessageStatus::kDelivered);
  auto retry = Expect<AppendResult>(*h, Message("bob", "b1", "alice"));
  CHECK(retry.duplicate);
  CHECK(retry.seq == b1);

  // bob's name starts a new inbox at seq 1: a retried (alice, m2) is a new
  // message there, and a device starts at cursor 0.
  auto again = Expect<AppendResult>(*h, Message("alice", "m2", "bob", 5'000));
  CHECK_FALSE(again.duplicate);
  CHECK(again.seq == 1);
  auto attach = Expect<AttachResult>(*h, Attach("bob", "phone"));
  CHECK(attach.cursor == 0);
  CHECK(attach.head == 1);
  RequireSeqs(FetchAll(*h, "bob"), 1, 1);
  // Its ack writes one receipt to alice, as for any message.
  auto ack = Expect<AckResult>(*h, Ack("bob", "phone", 1));
  REQUIRE(ack.appended.size() == 1);
  RequireReceipt(ack.appended[0], "alice", IdOf("alice", "m2"), "bob",
                 MessageStatus::kDelivered, 2'000);
  CHECK(StatusOf(*h, "bob", IdOf("alice", "m2")) == MessageStatus::kDelivered);
}

COURIER_CONFORMANCE_CASE(DeleteInboxIsIdempotent, "delete inbox is idempotent") {
  Harness h(factory);
  CHECK(DeleteInboxOf(*h, "nobody") == 0);
  Given(*h, {Message("alice", "1", "bob"), Attach("bob", "phone")});
  CHECK(DeleteInboxOf(*h, "bob") == 1);
  CHECK(DeleteInboxOf(*h, "bob") == 0);
  CHECK(HeadOf(*h, "bob") == 0);
  CHECK_THAT(h->DeleteInbox("").status(), StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(h->DeleteInbox("no spaces").status(), StatusIs(absl::StatusCode::kInvalidArgument));
  // Other inboxes are untouched.
  CHECK(HeadOf(*h, "alice") == 0);
  Expect<AppendResult>(*h, Message("bob", "1", "alice"));
  CHECK(DeleteInboxOf(*h, "bob") == 0);
  CHECK(HeadOf(*h, "alice") == 1);
}

// Pruned messages leave index entries behind in some stores; a new inbox
// under the same name must not mistake a new append for one of them.
COURIER_CONFORMANCE_CASE(DeleteInboxAfterPrune, "delete inbox after prune") {
  Harness h(factory);
  for (int i = 1; i <= 3; ++i) {
    Expect<AppendResult>(*h, Message("alice", "p" + std::to_string(i), "bob", 1'000));
  }
  Given(*h, {Message("alice", "live", "bob", 90'000), Ack("bob", "phone", 3, 2'000)});
  PruneOptions prune = PruneAt(100'000, /*acked_retention_ms=*/10'000, /*ttl_ms=*/1'000'000);
  const std::size_t pruned = ValueOf(h->Prune(prune));
  REQUIRE(pruned >= 3);  // bob's 1-3 (and alice's receipts, acked by no device, stay)

  CHECK(DeleteInboxOf(*h, "bob") == 1);
  CHECK(HeadOf(*h, "bob") == 0);
  // Seqs 1..3 are used again; none of them is taken for a pruned message.
  for (const char* cid : {"n1", "p1", "p2", "p3", "live"}) {
    INFO("cid " << cid);
    CHECK_FALSE(Expect<AppendResult>(*h, Message("alice", cid, "bob", 200'000)).duplicate);
  }
  const std::vector<Event> bob = FetchAll(*h, "bob");
  RequireSeqs(bob, 1, 5);
  CHECK(bob[1].id == IdOf("alice", "p1"));
  CHECK(StatusOf(*h, "bob", IdOf("alice", "p1")) == MessageStatus::kSent);
  CHECK(Expect<AppendResult>(*h, Message("alice", "p1", "bob")).duplicate);
}

// Appends to bob race with deletions of his inbox: every deletion sees whole
// writes, so bob's inbox is always gap-free from 1 with a status per message.
// (The mongo adapter promises this only with transactions: courier/mongo.h.)
COURIER_CONFORMANCE_CASE(DeleteInboxIsAtomicWithConcurrentWrites,
                         "delete inbox is atomic with concurrent writers") {
  Harness h(factory);
  constexpr int kAppends = 60;
  constexpr int kDeletes = 12;
  MessageStore* store = h.store.get();
  std::vector<absl::StatusOr<WriteResult>> appended;
  std::vector<absl::StatusOr<std::size_t>> deleted;
  std::thread writer([store, &appended] {
    for (int i = 0; i < kAppends; ++i) {
      WriteOp ops[] = {Message("alice", std::to_string(i), "bob"), Ack("bob", "d", 0)};
      for (auto& r : store->Write(ops)) appended.push_back(std::move(r));
    }
  });
  std::thread deleter([store, &deleted] {
    for (int i = 0; i < kDeletes; ++i) {
      deleted.push_back(store->DeleteInbox("bob"));
      std::this_thread::yield();
    }
  });
  writer.join();
  deleter.join();
  std::size_t removed = 0;
  for (const auto& d : deleted) {
    if (absl::IsAborted(d.status())) continue;  // a conflict the caller may retry
    COURIER_REQUIRE_OK(d);
    removed += *d;
  }
  std::size_t ok = 0;
  for (const auto& r : appended) {
    if (absl::IsAborted(r.status())) continue;
    COURIER_REQUIRE_OK(r);
    if (std::holds_alternative<AppendResult>(*r)) ++ok;
  }
  const std::vector<Event> bob = FetchAll(*h, "bob");
  for (std::size_t i = 0; i < bob.size(); ++i) CHECK(bob[i].seq == i + 1);
  CHECK(HeadOf(*h, "bob") == bob.size());
  CHECK(removed + bob.size() == ok);
  for (const Event& e : bob) CHECK(StatusOf(*h, "bob", e.id) == MessageStatus::kSent);
}

// Durable stores: the deletion is committed like a Write.
COURIER_CONFORMANCE_DURABILITY_CASE(DeleteInboxSurvivesReopen,
                                    "a deleted inbox stays deleted across a reopen") {
  Harness h(factory);
  Given(*h, {Message("alice", "1", "bob"), Message("alice", "2", "bob"), Ack("bob", "phone", 1)});
  CHECK(DeleteInboxOf(*h, "bob") == 2);
  h.Reopen();
  CHECK(FetchAll(*h, "bob").empty());
  CHECK(HeadOf(*h, "bob") == 0);
  CHECK(CursorOf(*h, "bob", "phone") == 0);
  CHECK_THAT(h->Status("bob", IdOf("alice", "1")).status(),
             StatusIs(absl::StatusCode::kNotFound));
  auto again = Expect<AppendResult>(*h, Message("alice", "2", "bob"));
  CHECK_FALSE(again.duplicate);
  CHECK(again.seq == 1);
}

}  // namespace courier::conformance::message_store_cases

#endif  // COURIER_TESTS_CONFORMANCE_MESSAGE_STORE_DELETE_CASES_H_
