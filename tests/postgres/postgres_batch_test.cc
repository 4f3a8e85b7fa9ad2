// courier::postgres's set-based write path (runs of eight ops or more, see
// adapters/postgres/src/pg_write_batch.h) against courier::memory, the
// reference: the same random batches of long runs of appends (repeated
// cids, a small queue limit), acks and reads must give the same
// results, op by op, and leave the same inboxes. The second case puts
// group changes and group sends (adapters/postgres/src/pg_groups.h)
// between the runs, where each must see the runs before it (a member's
// full queue, a (sender, cid) sent as 1:1 just before).
#include <catch2/catch.hpp>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "courier/memory.h"
#include "courier/postgres.h"
#include "pg_test_database.h"
#include "support/status_matchers.h"

namespace courier::postgres {
namespace {

using ::courier::postgres::testing::TestSchema;

constexpr int kUsers = 6;
constexpr std::uint64_t kLimit = 25;

std::string User(int i) { return "u" + std::to_string(i); }

// Compares the events two stores report, field by field.
void CheckSameEvents(const std::vector<Appended>& want, const std::vector<Appended>& got) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("event " << i);
    CHECK(got[i].user == want[i].user);
    CHECK(got[i].event.seq == want[i].event.seq);
    CHECK(got[i].event.kind == want[i].event.kind);
    CHECK(got[i].event.id == want[i].event.id);
    CHECK(got[i].event.peer == want[i].event.peer);
    CHECK(got[i].event.body == want[i].event.body);
    CHECK(got[i].event.status == want[i].event.status);
    CHECK(got[i].event.ts == want[i].event.ts);
    CHECK(got[i].event.group == want[i].event.group);
  }
}

// What an AppendResult and a GroupSendResult both report.
template <class SendResult>
void CheckSameSend(const SendResult& want, const SendResult& got) {
  CHECK(got.id == want.id);
  CHECK(got.seq == want.seq);
  CHECK(got.ts == want.ts);
  CHECK(got.duplicate == want.duplicate);
  CheckSameEvents(want.appended, got.appended);
}

void CheckSameResult(const absl::StatusOr<WriteResult>& want,
                     const absl::StatusOr<WriteResult>& got) {
  REQUIRE(got.status().code() == want.status().code());
  if (!want.ok()) return;
  REQUIRE(got->index() == want->index());
  if (const auto* w = std::get_if<AppendResult>(&*want)) {
    CheckSameSend(*w, std::get<AppendResult>(*got));
  } else if (const auto* w = std::get_if<AckResult>(&*want)) {
    const auto& g = std::get<AckResult>(*got);
    CHECK(g.cursor == w->cursor);
    CheckSameEvents(w->appended, g.appended);
  } else if (const auto* w = std::get_if<ReadResult>(&*want)) {
    CheckSameEvents(w->appended, std::get<ReadResult>(*got).appended);
  } else if (const auto* w = std::get_if<GroupSendResult>(&*want)) {
    const auto& g = std::get<GroupSendResult>(*got);
    CheckSameSend(*w, g);
    CHECK(g.recipients == w->recipients);
    CHECK(g.skipped == w->skipped);
  } else if (const auto* w = std::get_if<GroupChangeResult>(&*want)) {
    const auto& g = std::get<GroupChangeResult>(*got);
    CHECK(g.group == w->group);
    CHECK(g.changed == w->changed);
    CheckSameEvents(w->appended, g.appended);
  } else {
    const auto& w2 = std::get<AttachResult>(*want);
    const auto& g = std::get<AttachResult>(*got);
    CHECK(g.cursor == w2.cursor);
    CHECK(g.head == w2.head);
  }
}

// Writes `ops` to both stores; each op's result must be the same. Returns
// the reference's.
std::vector<absl::StatusOr<WriteResult>> WriteBoth(MessageStore& ref, MessageStore& pg,
                                                   const std::vector<WriteOp>& ops) {
  auto want = ref.Write(ops);
  const auto got = pg.Write(ops);
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < ops.size(); ++i) {
    INFO("op " << i);
    CheckSameResult(want[i], got[i]);
  }
  return want;
}

// The inboxes of users u0 .. u(n - 1) hold the same events in both stores.
void CheckSameInboxes(MessageStore& ref, MessageStore& pg, int n) {
  for (int u = 0; u < n; ++u) {
    INFO(User(u));
    const auto want = ref.Fetch(User(u), 0, 1'000);
    const auto got = pg.Fetch(User(u), 0, 1'000);
    COURIER_REQUIRE_OK(got);
    REQUIRE(got->size() == want->size());
    for (std::size_t i = 0; i < want->size(); ++i) {
      CHECK((*got)[i].seq == (*want)[i].seq);
      CHECK((*got)[i].id == (*want)[i].id);
      CHECK((*got)[i].kind == (*want)[i].kind);
      CHECK((*got)[i].status == (*want)[i].status);
      CHECK((*got)[i].peer == (*want)[i].peer);
      CHECK((*got)[i].ts == (*want)[i].ts);
    }
  }
}

// A random group op on g0 or g1 among the kUsers users, made likely to
// apply by asking the reference for the group as it was before the batch:
// a missing group is created; a change is mostly by an admin, a send
// mostly by a member. The rest are refused (not an admin, not a member,
// full), which must match too.
WriteOp RandomGroupOp(MessageStore& ref, const std::function<int(int)>& pick, int batch,
                      int& next_id) {
  const GroupId group = "g" + std::to_string(pick(2));
  const auto record = ref.Group(group);
  std::vector<UserId> members, admins;
  if (record.ok()) {
    for (const GroupMember& m : record->members) {
      members.push_back(m.user);
      if (m.role == GroupRole::kAdmin) admins.push_back(m.user);
    }
  }
  auto one_of = [&](const std::vector<UserId>& users) {
    return users.empty() || pick(4) == 0 ? User(pick(kUsers))
                                         : users[static_cast<std::size_t>(
                                               pick(static_cast<int>(users.size())))];
  };
  const std::string id = "m" + std::to_string(next_id++);
  const int what = pick(10);
  if (record.ok() && what < 5) {
    GroupSendOp send;
    send.sender = one_of(members);
    send.cid = "c" + std::to_string(pick(400));  // shares the 1:1 sends' cids
    send.group = group;
    send.id = id;
    send.body = "group " + send.cid;
    send.ts = 4'000 + batch;
    send.max_undelivered = kLimit;
    return send;
  }
  static constexpr GroupAction kActions[] = {GroupAction::kAdd, GroupAction::kAdd,
                                             GroupAction::kRemove, GroupAction::kLeave,
                                             GroupAction::kRename};
  GroupChangeOp change;
  change.action = !record.ok() ? GroupAction::kCreate : kActions[pick(5)];
  change.actor = change.action == GroupAction::kLeave ? one_of(members) : one_of(admins);
  change.group = group;
  change.id = id;
  change.ts = 5'000 + batch;
  if (change.action == GroupAction::kCreate || change.action == GroupAction::kRename) {
    change.name = "name " + std::to_string(pick(3));
  }
  if (change.action != GroupAction::kLeave && change.action != GroupAction::kRename) {
    for (int k = 1 + pick(3); k > 0; --k) change.members.push_back(User(pick(kUsers)));
  }
  change.limits.max_members = 5;
  change.limits.max_groups_per_user = 2;
  return change;
}

// Random batches on `pg` and the reference; with `groups`, a group op
// between some runs. `pipelined`: `pg` gets them as the commit queue writes
// a store that stages writes: batch k + 1 is staged while batch k's COMMIT
// may still run (its Sync comes after), so appends take the speculative
// path; acks and reads then name only what was written two batches before,
// as a client can (the engine gives out a batch's results after its Sync).
void CheckAgainstReference(bool groups, std::uint32_t seed, bool pipelined = false) {
  TestSchema schema;
  auto opened = OpenMessageStore(schema.Options());
  COURIER_REQUIRE_OK(opened);
  std::unique_ptr<MessageStore> pg = std::move(opened).value();
  std::unique_ptr<MessageStore> ref = memory::OpenMessageStore();
  std::mt19937 rng(seed);
  auto pick = [&rng](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  std::vector<MessageId> ids;  // ids sent so far (reads name them)
  // Group ops that did something (the case must not pass on refusals only).
  int stored_sends = 0, changes = 0;
  std::size_t skipped = 0;
  int next_id = 0;

  if (pipelined) REQUIRE(pg->StagesWrites());
  std::unique_ptr<MessageStore::PendingSync> pending;  // the batch before's COMMIT
  std::vector<Seq> heads_before(kUsers, 0);   // heads before the batch before
  std::size_t ids_before = 0;                 // ids.size() then
  for (int batch = 0; batch < 40; ++batch) {
    INFO("batch " << batch);
    std::vector<WriteOp> ops;
    // Acks name seqs up to the head before the batch (as a client can).
    std::vector<Seq> heads(kUsers);
    for (int u = 0; u < kUsers; ++u) heads[u] = *ref->Head(User(u));
    const std::vector<Seq> heads_now = heads;
    const std::size_t ids_now = ids.size();
    if (pipelined) heads = heads_before;
    const std::size_t readable = pipelined ? ids_before : ids.size();
    const int runs = 1 + pick(3);
    for (int r = 0; r < runs; ++r) {
      if (groups) {
        for (int g = pick(3); g > 0; --g) ops.push_back(RandomGroupOp(*ref, pick, batch, next_id));
      }
      const int kind = pick(3);
      const int length = 8 + pick(40);
      for (int i = 0; i < length; ++i) {
        if (kind == 0) {
          AppendOp a;
          a.sender = User(pick(kUsers));
          a.recipient = User(pick(kUsers));
          a.cid = "c" + std::to_string(pick(400));  // repeats: duplicates
          a.id = "m" + std::to_string(next_id++);  // ids are unique, as the engine makes them
          a.body = std::string(static_cast<std::size_t>(pick(3)), 'x') + a.cid;
          a.ts = 1'000 + batch;
          a.max_undelivered = kLimit;
          ids.push_back(a.id);
          ops.push_back(a);
        } else if (kind == 1) {
          const int u = pick(kUsers);
          const Seq head = heads[u];
          AckOp ack{User(u), "d" + std::to_string(pick(2)),
                    head == 0 ? 0 : static_cast<Seq>(1 + pick(static_cast<int>(head))),
                    2'000 + batch};
          ops.emplace_back(std::in_place_type<AckOp>, std::move(ack));
        } else {
          ReadOp read{User(pick(kUsers)), {}, 3'000 + batch};
          for (int k = pick(4); k > 0 && readable > 0; --k) {
            read.ids.push_back(ids[pick(static_cast<int>(readable))]);
          }
          ops.push_back(read);
        }
      }
    }
    const auto want = ref->Write(ops);
    std::vector<absl::StatusOr<WriteResult>> got;
    if (pipelined) {
      MessageStore::StagedWrite staged = pg->WriteStaged(ops);
      if (pending != nullptr) COURIER_REQUIRE_OK(pending->Sync());
      got = std::move(staged.results);
      pending = std::move(staged.sync);
      heads_before = heads_now;
      ids_before = ids_now;
    } else {
      got = pg->Write(ops);
    }
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < ops.size(); ++i) {
      INFO("op " << i << " of " << ops.size());
      CheckSameResult(want[i], got[i]);
      if (!want[i].ok()) continue;
      if (const auto* send = std::get_if<GroupSendResult>(&*want[i])) {
        ++stored_sends;
        skipped += send->skipped.size();
      } else if (const auto* change = std::get_if<GroupChangeResult>(&*want[i])) {
        changes += change->changed ? 1 : 0;
      }
    }
  }
  if (pending != nullptr) COURIER_REQUIRE_OK(pending->Sync());
  for (int u = 0; u < kUsers; ++u) {
    INFO(User(u));
    const auto want = ref->Fetch(User(u), 0, 100'000);
    const auto got = pg->Fetch(User(u), 0, 100'000);
    COURIER_REQUIRE_OK(got);
    REQUIRE(got->size() == want->size());
    for (std::size_t i = 0; i < want->size(); ++i) {
      CHECK((*got)[i].seq == (*want)[i].seq);
      CHECK((*got)[i].id == (*want)[i].id);
      CHECK((*got)[i].status == (*want)[i].status);
      CHECK((*got)[i].kind == (*want)[i].kind);
      CHECK((*got)[i].body == (*want)[i].body);
      CHECK((*got)[i].group == (*want)[i].group);
    }
    for (const char* device : {"d0", "d1"}) {
      CHECK(*pg->Cursor(User(u), device) == *ref->Cursor(User(u), device));
    }
    if (groups) {
      const auto want_groups = ref->GroupsOf(User(u));
      const auto got_groups = pg->GroupsOf(User(u));
      COURIER_REQUIRE_OK(got_groups);
      CHECK(*got_groups == *want_groups);
    }
  }
  // The inboxes as segments (schema version 9): pages from any seq, of any
  // size, the status of every message, then a prune that cuts through
  // segments (acked up to a cursor inside one, older than a time) and the
  // same again.
  auto same_inboxes = [&] {
    for (int u = 0; u < kUsers; ++u) {
      INFO(User(u));
      const Seq head = *ref->Head(User(u));
      for (int k = 0; k < 6; ++k) {
        const Seq after = static_cast<Seq>(pick(static_cast<int>(head) + 2));
        const std::size_t limit = static_cast<std::size_t>(1 + pick(k < 3 ? 4 : 300));
        INFO("after " << after << " limit " << limit);
        const auto want = ref->Fetch(User(u), after, limit);
        const auto got = pg->Fetch(User(u), after, limit);
        COURIER_REQUIRE_OK(got);
        REQUIRE(got->size() == want->size());
        for (std::size_t i = 0; i < want->size(); ++i) CHECK((*got)[i].seq == (*want)[i].seq);
      }
      const auto all = ref->Fetch(User(u), 0, 100'000);
      COURIER_REQUIRE_OK(all);
      for (const Event& e : *all) {
        if (e.kind != EventKind::kMessage) continue;
        INFO("message " << e.id);
        const auto got = pg->Status(User(u), e.id);
        COURIER_REQUIRE_OK(got);
        CHECK(*got == *ref->Status(User(u), e.id));
      }
    }
  };
  same_inboxes();
  PruneOptions prune;
  prune.now = 10'000;
  prune.ttl_ms = 10'000 - 1'015;           // messages of the first 15 batches
  prune.acked_retention_ms = 10'000 - 2'030;  // acked, and older than most receipts
  const auto pruned = pg->Prune(prune);
  COURIER_REQUIRE_OK(pruned);
  CHECK(*pruned == *ref->Prune(prune));
  CHECK(*pruned > 0);
  same_inboxes();
  for (int u = 0; u < kUsers; ++u) {
    const auto want = ref->Fetch(User(u), 0, 100'000);
    const auto got = pg->Fetch(User(u), 0, 100'000);
    COURIER_REQUIRE_OK(got);
    REQUIRE(got->size() == want->size());
    for (std::size_t i = 0; i < want->size(); ++i) CHECK((*got)[i].id == (*want)[i].id);
  }
  CHECK(*pg->Prune(prune) == 0);
  if (groups) {
    INFO("group sends stored " << stored_sends << ", changes " << changes << ", skipped "
                               << skipped);
    CHECK(stored_sends >= 20);
    CHECK(changes >= 10);
    CHECK(skipped >= 1);
  }
}

// Acks sent one op at a time (runs shorter than eight: the schema's ack
// function, ack_grouped), narrow ones (a loop per message) and wide ones (more than 16
// seqs above the inbox's highest cursor: one statement), over a backlog from
// three senders with a read and an earlier ack in between, must give the
// reference's receipts: the same senders, seqs and order.
TEST_CASE("PostgresMessageStore: one-op acks of wide and narrow ranges give the reference "
          "store's results",
          "[postgres]") {
  TestSchema schema;
  auto opened = OpenMessageStore(schema.Options());
  COURIER_REQUIRE_OK(opened);
  std::unique_ptr<MessageStore> pg = std::move(opened).value();
  std::unique_ptr<MessageStore> ref = memory::OpenMessageStore();
  int next_id = 0;
  auto both = [&](const std::vector<WriteOp>& ops) {
    auto want = WriteBoth(*ref, *pg, ops);
    for (const auto& r : want) COURIER_REQUIRE_OK(r);
    return want;
  };
  auto backlog = [&](int n) {
    std::vector<WriteOp> ops;
    for (int i = 0; i < n; ++i) {
      AppendOp a;
      a.sender = User(1 + i % 3);
      a.recipient = User(0);
      a.cid = "c" + std::to_string(next_id);
      a.id = "m" + std::to_string(next_id++);
      a.body = "b" + a.cid;
      a.ts = 1'000;
      a.max_undelivered = 1'000;
      ops.push_back(a);
    }
    both(ops);
  };
  backlog(40);
  // Receipts of m5 (from u3) and m30 (from u1): their senders' heads move
  // before the acks (u2's counter row is made by the first ack).
  both({ReadOp{User(0), {"m5", "m30"}, 1'700}});
  // Wide: 1..30, two devices' ops in one batch (a run of two).
  auto acks = both({AttachOp{User(0), "d0"}, AckOp{User(0), "d0", 30, 2'000},
                    AckOp{User(0), "d1", 33, 2'001}});
  CHECK(std::get<AckResult>(*acks[1]).appended.size() == 29);  // m5 was read
  CHECK(std::get<AckResult>(*acks[2]).appended.size() == 2);  // m30 was read
  both({AckOp{User(0), "d0", 36, 2'100}});  // narrow: 34..36
  backlog(30);
  acks = both({AckOp{User(0), "d1", 70, 2'200}});  // wide: 37..70
  CHECK(std::get<AckResult>(*acks[0]).appended.size() == 34);
  both({AckOp{User(0), "d0", 70, 2'300}});  // nothing left
  CheckSameInboxes(*ref, *pg, 4);
  CHECK(*pg->Status(User(0), "m69") == MessageStatus::kDelivered);
  CHECK(*pg->Status(User(0), "m5") == MessageStatus::kRead);
}

// A set-based run of acks in which no inbox is acked twice takes its own
// statement (kAckItemsOneEachSql), one with an inbox acked twice the general
// one: ten inboxes, each acked once per batch (and u0 twice, for the
// general statement), with messages read before their ack, a refused ack,
// receipts of several inboxes going to one sender, and devices that ack
// with no row of their own yet (before the fix, the set-based acks took the
// delivered floor from the acking device's row: such an ack re-delivered
// what the other device had acked).
void CheckAcksOfTenInboxes(bool one_each) {
  TestSchema schema;
  auto opened = OpenMessageStore(schema.Options());
  COURIER_REQUIRE_OK(opened);
  std::unique_ptr<MessageStore> pg = std::move(opened).value();
  std::unique_ptr<MessageStore> ref = memory::OpenMessageStore();
  constexpr int kInboxes = 10;
  auto both = [&](const std::vector<WriteOp>& ops) { return WriteBoth(*ref, *pg, ops); };
  int next_id = 0;
  for (int round = 0; round < 3; ++round) {
    INFO("round " << round);
    std::vector<WriteOp> sends;
    for (int i = 0; i < 60; ++i) {
      AppendOp a;
      a.sender = User(10 + i % 3);  // three senders get every receipt
      a.recipient = User(i % kInboxes);
      a.cid = "c" + std::to_string(next_id);
      a.id = "m" + std::to_string(next_id++);
      a.body = "b" + a.cid;
      a.ts = 1'000 + round;
      a.max_undelivered = 1'000;
      sends.push_back(a);
    }
    both(sends);
    // Some read before any ack covers them (their delivered receipt goes
    // with the read).
    both({ReadOp{User(1), {"m" + std::to_string(next_id - 59)}, 1'500 + round},
          ReadOp{User(4), {"m" + std::to_string(next_id - 56), "m" + std::to_string(next_id - 46)},
                 1'500 + round}});
    std::vector<WriteOp> acks;
    for (int u = 0; u < kInboxes; ++u) {
      const Seq head = *ref->Head(User(u));
      // u3 acks beyond its head (refused); the others part or all of it.
      const Seq seq = u == 3 ? head + 5 : (u % 2 == 0 ? head : head - 2);
      acks.push_back(AckOp{User(u), "d" + std::to_string(round % 2), seq, 2'000 + round});
    }
    if (!one_each) acks.push_back(AckOp{User(0), "d2", *ref->Head(User(0)), 2'050 + round});
    const auto want = both(acks);
    std::size_t receipts = 0;
    for (const auto& r : want) {
      if (r.ok()) receipts += std::get<AckResult>(*r).appended.size();
    }
    CHECK(receipts > 30);  // the run did deliver (not only refusals)
    CHECK(absl::IsOutOfRange(want[3].status()));
  }
  CheckSameInboxes(*ref, *pg, 13);
}

TEST_CASE("PostgresMessageStore: a run of acks of distinct inboxes gives the reference store's "
          "results",
          "[postgres]") {
  CheckAcksOfTenInboxes(/*one_each=*/true);
}

TEST_CASE("PostgresMessageStore: a run of acks with an inbox acked twice gives the reference "
          "store's results",
          "[postgres]") {
  CheckAcksOfTenInboxes(/*one_each=*/false);
}

TEST_CASE("PostgresMessageStore: set-based runs give the reference store's results",
          "[postgres]") {
  CheckAgainstReference(/*groups=*/false, 20261206);
}

TEST_CASE("PostgresMessageStore: group ops between set-based runs give the reference "
          "store's results",
          "[postgres]") {
  CheckAgainstReference(/*groups=*/true, 17);
}

TEST_CASE("PostgresMessageStore: pipelined commits give the reference store's results",
          "[postgres][pipelined]") {
  CheckAgainstReference(/*groups=*/false, 20261207, /*pipelined=*/true);
}

TEST_CASE("PostgresMessageStore: pipelined commits with group ops give the reference "
          "store's results",
          "[postgres][pipelined]") {
  CheckAgainstReference(/*groups=*/true, 23, /*pipelined=*/true);
}

}  // namespace
}  // namespace courier::postgres
