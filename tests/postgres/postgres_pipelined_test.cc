// Pipelined commits (courier/postgres.h): a batch staged while the batch
// before it is still committing. Its appends take their seqs from the heads
// the committing batch left, without locking first; these cases check the
// ways that prediction can be wrong (another server moved the head, a
// retransmit of a message still committing, a head predicted too high) and
// what a staged batch must see of the one before (attach), and that a
// PendingSync dropped unsynced still commits.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "conformance/several_servers.h"
#include "courier/postgres.h"
#include "courier/sync.h"
#include "pg_test_database.h"
#include "pg_write_batch.h"
#include "postgres_common.h"
#include "support/status_matchers.h"

namespace courier::postgres {
namespace {

using ::courier::postgres::testing::OpenOrDie;
using ::courier::postgres::testing::TestSchema;

// `n` appends from `sender` to `to`, cids and ids `tag`0.. (a run of eight
// or more takes the set-based, speculative path).
std::vector<WriteOp> Appends(const std::string& sender, const std::string& to,
                             const std::string& tag, int n) {
  std::vector<WriteOp> ops;
  for (int i = 0; i < n; ++i) {
    AppendOp a;
    a.sender = sender;
    a.recipient = to;
    a.cid = tag + std::to_string(i);
    a.id = "id-" + tag + std::to_string(i);
    a.body = "body " + a.cid;
    a.ts = 1'000;
    ops.push_back(std::move(a));
  }
  return ops;
}

// The seqs the results give, in op order; every result must be an append.
std::vector<Seq> Seqs(const std::vector<absl::StatusOr<WriteResult>>& results) {
  std::vector<Seq> seqs;
  for (const auto& r : results) {
    COURIER_REQUIRE_OK(r);
    seqs.push_back(std::get<AppendResult>(*r).seq);
  }
  return seqs;
}

std::vector<Seq> Range(Seq first, Seq last) {
  std::vector<Seq> seqs;
  for (Seq s = first; s <= last; ++s) seqs.push_back(s);
  return seqs;
}

// Syncs two staged batches in staging order (a batch written as Write has
// nothing to sync); each sync must succeed.
void SyncInOrder(MessageStore::StagedWrite& first, MessageStore::StagedWrite& second) {
  for (MessageStore::StagedWrite* w : {&first, &second}) {
    if (w->sync != nullptr) COURIER_REQUIRE_OK(w->sync->Sync());
  }
}

// Every event of `user`'s inbox has seq = its position, and there are `n`.
void CheckGapless(MessageStore& store, const std::string& user, std::size_t n) {
  const auto events = store.Fetch(user, 0, 1'000);
  COURIER_REQUIRE_OK(events);
  REQUIRE(events->size() == n);
  for (std::size_t i = 0; i < n; ++i) CHECK((*events)[i].seq == i + 1);
  CHECK(*store.Head(user) == n);
}

TEST_CASE("Pipelined commits: a batch is written while the one before is committing",
          "[postgres][pipelined]") {
  TestSchema schema;
  auto store = OpenOrDie(schema.Options());
  // Each segment row makes its COMMIT 200 ms slower (a deferred trigger), so
  // that the second batch runs while the first one's COMMIT holds its rows.
  // (Until the seventeenth session the trigger was on courier_events, which
  // schema version 9 leaves empty: it slowed nothing.)
  testing::AdminConnection admin;
  admin.Exec("SET search_path = " + schema.name());
  admin.Exec("CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS "
             "$$ BEGIN PERFORM pg_sleep(0.2); RETURN NULL; END $$");
  admin.Exec("CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON courier_segments "
             "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()");
  MessageStore::StagedWrite a = store->WriteStaged(Appends("s", "x", "a", 10));
  CHECK(Seqs(a.results) == Range(1, 10));
  REQUIRE(a.sync != nullptr);
  MessageStore::StagedWrite b = store->WriteStaged(Appends("t", "x", "b", 10));
  CHECK(Seqs(b.results) == Range(11, 20));
  // Staged, not written again the locked way (that one is committed on
  // return, with nothing left to sync): the speculation held.
  CHECK(b.sync != nullptr);
  SyncInOrder(a, b);
  CheckGapless(*store, "x", 20);
}

TEST_CASE("Pipelined commits: a head another server moved meanwhile is not reused",
          "[postgres][pipelined]") {
  TestSchema schema;
  auto mine = OpenOrDie(schema.Options());
  PostgresOptions other_options = schema.Options();
  other_options.pipelined_commits = false;
  auto other = OpenOrDie(other_options);
  REQUIRE(mine->StagesWrites());
  REQUIRE_FALSE(other->StagesWrites());

  MessageStore::StagedWrite a = mine->WriteStaged(Appends("s", "x", "a", 10));
  CHECK(Seqs(a.results) == Range(1, 10));
  // The other server appends to x after a: its rows wait for a's COMMIT.
  CHECK(Seqs(other->Write(Appends("t", "x", "o", 3))) == Range(11, 13));
  // b predicts x's head from a (10): wrong now. It must not take 11-13.
  MessageStore::StagedWrite b = mine->WriteStaged(Appends("s", "x", "b", 10));
  CHECK(Seqs(b.results) == Range(14, 23));
  SyncInOrder(a, b);
  CheckGapless(*mine, "x", 23);
}

TEST_CASE("Pipelined commits: a retransmit of a message still committing is its duplicate",
          "[postgres][pipelined]") {
  TestSchema schema;
  auto store = OpenOrDie(schema.Options());
  MessageStore::StagedWrite a = store->WriteStaged(Appends("s", "x", "a", 10));
  REQUIRE(a.sync != nullptr);
  // b repeats a's fourth send (same cid and id) among eight new ones, before
  // a's Sync: a's COMMIT may still be running.
  std::vector<WriteOp> b_ops = Appends("s", "x", "b", 8);
  b_ops.insert(b_ops.begin() + 2, Appends("s", "x", "a", 4).back());
  MessageStore::StagedWrite b = store->WriteStaged(b_ops);
  SyncInOrder(a, b);
  REQUIRE(b.results.size() == 9);
  for (std::size_t i = 0; i < b.results.size(); ++i) {
    INFO("op " << i);
    COURIER_REQUIRE_OK(b.results[i]);
    const auto& r = std::get<AppendResult>(*b.results[i]);
    if (i == 2) {
      CHECK(r.duplicate);
      CHECK(r.seq == 4);
      CHECK(r.id == "id-a3");
    } else {
      CHECK_FALSE(r.duplicate);
      CHECK(r.seq == (i < 2 ? 11 + i : 10 + i));
    }
  }
  CheckGapless(*store, "x", 18);
}

TEST_CASE("Pipelined commits: an attach staged after appends sees them",
          "[postgres][pipelined]") {
  TestSchema schema;
  auto store = OpenOrDie(schema.Options());
  MessageStore::StagedWrite a = store->WriteStaged(Appends("s", "x", "a", 12));
  const std::vector<WriteOp> attach = {AttachOp{"x", "phone"}};
  MessageStore::StagedWrite b = store->WriteStaged(attach);
  SyncInOrder(a, b);
  REQUIRE(b.results.size() == 1);
  COURIER_REQUIRE_OK(b.results[0]);
  CHECK(std::get<AttachResult>(*b.results[0]).head == 12);
  CHECK(std::get<AttachResult>(*b.results[0]).cursor == 0);
}

TEST_CASE("Pipelined commits: a PendingSync dropped without Sync still commits",
          "[postgres][pipelined]") {
  TestSchema schema;
  auto store = OpenOrDie(schema.Options());
  {
    MessageStore::StagedWrite a = store->WriteStaged(Appends("s", "x", "a", 9));
    REQUIRE(a.sync != nullptr);
    CHECK(Seqs(a.results) == Range(1, 9));
  }
  CheckGapless(*store, "x", 9);
  // The next batch predicts from nothing stale.
  CHECK(Seqs(store->Write(Appends("s", "x", "b", 9))) == Range(10, 18));
}

TEST_CASE("Pipelined commits: a speculative append from a head predicted wrong stores nothing",
          "[postgres][pipelined]") {
  TestSchema schema;
  auto store = OpenOrDie(schema.Options());
  CHECK(Seqs(store->Write(Appends("s", "x", "a", 3))) == Range(1, 3));
  PgPool pool = MakePool(schema.Options(), WriteStatements("courier_"));
  auto lease = pool.Acquire();
  COURIER_REQUIRE_OK(lease);
  const std::vector<WriteOp> ops = Appends("s", "x", "b", 8);
  for (const Seq predicted : {Seq{7}, Seq{1}}) {  // too high (a gap), too low (a reuse)
    INFO("predicted head " << predicted);
    const HeadPredictions predictions = {{"x", predicted}};
    std::vector<absl::StatusOr<WriteResult>> results(ops.size());
    const WritePlan plan(ops, results, /*own_transaction=*/true, /*staged=*/true, &predictions);
    REQUIRE(plan.speculative());
    const auto run = (*lease)->Run(plan.queries());
    REQUIRE_FALSE(run.ok());
    CHECK((absl::IsAborted(run.status()) || absl::IsAlreadyExists(run.status())));
    if (predicted > 3) CHECK(absl::IsAborted(run.status()));  // only the check sees a gap
  }
  CheckGapless(*store, "x", 3);
  // Predicted right, it stores.
  const HeadPredictions right = {{"x", 3}};
  std::vector<absl::StatusOr<WriteResult>> results(ops.size());
  const WritePlan plan(ops, results, /*own_transaction=*/true, /*staged=*/true, &right);
  const auto run = (*lease)->Run(plan.queries());
  COURIER_REQUIRE_OK(run);
  plan.Collect(*run, results);
  CHECK(Seqs(results) == Range(4, 11));
  CheckGapless(*store, "x", 11);
}

// A speculative run is numbered by the server (kAppendNumberedSql): inboxes
// interleaved in the batch, one predicted, one whose head is read, one with
// no counter row yet, each numbered in batch order from its head.
TEST_CASE("Pipelined commits: a speculative run numbers interleaved inboxes in batch order",
          "[postgres][pipelined]") {
  TestSchema schema;
  auto store = OpenOrDie(schema.Options());
  CHECK(Seqs(store->Write(Appends("s", "x", "a", 3))) == Range(1, 3));
  CHECK(Seqs(store->Write(Appends("s", "y", "b", 2))) == Range(1, 2));
  std::vector<WriteOp> ops;
  const std::vector<std::string> to = {"x", "y", "x", "z", "y", "x", "z", "x", "y", "x"};
  for (std::size_t i = 0; i < to.size(); ++i) {
    auto one = Appends("s", to[i], "c" + std::to_string(i) + "-", 1);
    std::get<AppendOp>(one[0]).body = "body " + std::to_string(i);
    std::get<AppendOp>(one[0]).ts = 2'000 + static_cast<TimeMs>(i);
    ops.push_back(std::move(one[0]));
  }
  PgPool pool = MakePool(schema.Options(), WriteStatements("courier_"));
  auto lease = pool.Acquire();
  COURIER_REQUIRE_OK(lease);
  const HeadPredictions predictions = {{"x", 3}};  // y's head is read, z has no row
  std::vector<absl::StatusOr<WriteResult>> results(ops.size());
  const WritePlan plan(ops, results, /*own_transaction=*/true, /*staged=*/true, &predictions);
  REQUIRE(plan.speculative());
  const auto run = (*lease)->Run(plan.queries());
  COURIER_REQUIRE_OK(run);
  plan.Collect(*run, results);
  CHECK(Seqs(results) == std::vector<Seq>{4, 3, 5, 1, 4, 6, 2, 7, 5, 8});
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const auto& sent = std::get<AppendOp>(ops[i]);
    const auto& got = std::get<AppendResult>(*results[i]);
    CHECK(got.id == sent.id);
    CHECK_FALSE(got.duplicate);
    REQUIRE(got.appended.size() == 1);
    CHECK(got.appended[0].user == sent.recipient);
    CHECK(got.appended[0].event.seq == got.seq);
  }
  // What was stored is what the results say: bodies, ids and times in seq
  // order, and a retransmit of each is its duplicate.
  for (const auto& [user, n] : std::vector<std::pair<std::string, std::size_t>>{
           {"x", 8}, {"y", 5}, {"z", 2}}) {
    INFO(user);
    CheckGapless(*store, user, n);
    const auto events = store->Fetch(user, 0, 100);
    COURIER_REQUIRE_OK(events);
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const auto& sent = std::get<AppendOp>(ops[i]);
      if (sent.recipient != user) continue;
      const Event& e = (*events)[std::get<AppendResult>(*results[i]).seq - 1];
      CHECK(e.id == sent.id);
      CHECK(e.body == sent.body);
      CHECK(e.ts == sent.ts);
      CHECK(e.peer == "s");
    }
  }
  const auto again = store->Write(ops);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    COURIER_REQUIRE_OK(again[i]);
    const auto& dup = std::get<AppendResult>(*again[i]);
    CHECK(dup.duplicate);
    CHECK(dup.seq == std::get<AppendResult>(*results[i]).seq);
  }
}

// A speculative run does its inserts while the batch before still holds
// the counter rows (kAppendNumberedSql forces the order): with x's row held
// by another transaction, the statement has inserted its messages before
// it waits, so a send of one of their keys waits for it.
TEST_CASE("Pipelined commits: a speculative run inserts its messages before it waits for the "
          "counter rows",
          "[postgres][pipelined]") {
  TestSchema schema;
  auto store = OpenOrDie(schema.Options());
  CHECK(Seqs(store->Write(Appends("s", "x", "a", 3))) == Range(1, 3));
  testing::AdminConnection holder;  // as a batch still committing holds it
  holder.Exec("SET search_path = " + schema.name());
  holder.Exec("BEGIN");
  holder.Exec("UPDATE courier_heads SET head = head WHERE user_id = 'x'");
  PgPool pool = MakePool(schema.Options(), WriteStatements("courier_"));
  const std::vector<WriteOp> ops = Appends("s", "x", "b", 8);
  const HeadPredictions predictions = {{"x", 3}};
  std::vector<absl::StatusOr<WriteResult>> results(ops.size());
  const WritePlan plan(ops, results, /*own_transaction=*/true, /*staged=*/true, &predictions);
  REQUIRE(plan.speculative());
  absl::StatusOr<std::vector<PgResult>> run = absl::InternalError("not run");
  std::thread writer([&] {
    auto lease = pool.Acquire();
    if (!lease.ok()) {
      run = lease.status();
      return;
    }
    run = (*lease)->Run(plan.queries());
  });
  testing::AdminConnection probe;
  probe.Exec("SET search_path = " + schema.name());
  const std::string waiting = "SELECT count(*) FROM pg_stat_activity WHERE application_name = '" +
                              schema.name() + "' AND wait_event_type = 'Lock'";
  for (int i = 0; i < 2'000 && probe.Exec(waiting) == "0"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(probe.Exec(waiting) == "1");
  probe.Exec("SET lock_timeout = '300ms'");
  // 55P03: the lock timeout, waiting for the writer's uncommitted (s, b0).
  CHECK(probe.TryExec("INSERT INTO courier_messages (message_id, recipient, sender, cid, seq, ts, "
                      "status) VALUES ('probe', 'y', 's', 'b0', 1, 1, 0)") == "55P03");
  holder.Exec("COMMIT");
  writer.join();
  COURIER_REQUIRE_OK(run);
  plan.Collect(*run, results);
  CHECK(Seqs(results) == Range(4, 11));
  CheckGapless(*store, "x", 11);
}

// The queue limit in a speculative run: the smallest limit so far applies
// (as in the locked form), so a run whose later op does not fit is not
// stored speculatively, and the store's answer (written locked) refuses
// exactly the ops that do not fit.
TEST_CASE("Pipelined commits: a speculative run that does not fit its queue limit is written "
          "locked", "[postgres][pipelined]") {
  TestSchema schema;
  auto store = OpenOrDie(schema.Options());
  CHECK(Seqs(store->Write(Appends("s", "x", "a", 3))) == Range(1, 3));
  std::vector<WriteOp> ops = Appends("s", "x", "b", 8);
  // Undelivered before the run: 3. Limits 100, 5, 100, ...: the first two
  // fit (3 and 4 undelivered), the third does not (5 against 5), nor does
  // any later one.
  for (std::size_t i = 0; i < ops.size(); ++i) {
    std::get<AppendOp>(ops[i]).max_undelivered = i == 1 ? 5 : 100;
  }
  {
    PgPool pool = MakePool(schema.Options(), WriteStatements("courier_"));
    auto lease = pool.Acquire();
    COURIER_REQUIRE_OK(lease);
    const HeadPredictions predictions = {{"x", 3}};
    std::vector<absl::StatusOr<WriteResult>> results(ops.size());
    const WritePlan plan(ops, results, /*own_transaction=*/true, /*staged=*/true, &predictions);
    REQUIRE(plan.speculative());
    const auto run = (*lease)->Run(plan.queries());
    REQUIRE_FALSE(run.ok());
    CHECK(absl::IsAborted(run.status()));
  }
  CheckGapless(*store, "x", 3);
  // The limits alone (no lower one before): all eight fit under 100.
  MessageStore::StagedWrite staged = store->WriteStaged(ops);
  if (staged.sync != nullptr) COURIER_REQUIRE_OK(staged.sync->Sync());
  for (std::size_t i = 0; i < ops.size(); ++i) {
    INFO("op " << i);
    if (i < 2) {
      COURIER_REQUIRE_OK(staged.results[i]);
      CHECK(std::get<AppendResult>(*staged.results[i]).seq == 4 + i);
    } else {
      CHECK(absl::IsResourceExhausted(staged.results[i].status()));
    }
  }
  CheckGapless(*store, "x", 5);
}

// Two servers with pipelined commits, each writing as the commit queue does
// (batch k + 1 staged before batch k's Sync, which runs on a thread of its
// own), and two without, all appending to three shared inboxes with a
// (sender, cid) every server sends in each batch: no seq is reused, every
// inbox stays gapless, every shared send is stored once.
TEST_CASE("Pipelined commits: several servers keep every inbox gapless and ordered",
          "[postgres][pipelined][concurrency]") {
  constexpr int kBatches = 15, kPerBatch = 12;
  TestSchema schema;
  PostgresOptions pipelined = schema.Options();
  pipelined.pool_size = 4;
  PostgresOptions plain = schema.Options();
  plain.pool_size = 2;
  std::vector<std::unique_ptr<MessageStore>> servers;
  for (int s = 0; s < 4; ++s) servers.push_back(OpenOrDie(s < 2 ? pipelined : plain));
  REQUIRE(servers[0]->StagesWrites());
  REQUIRE_FALSE(servers[2]->StagesWrites());
  auto reader = OpenOrDie(plain);

  std::vector<std::vector<absl::StatusOr<WriteResult>>> results(servers.size());
  std::vector<absl::Status> synced(servers.size());
  std::vector<std::thread> threads;
  for (int s = 0; s < 4; ++s) {
    threads.emplace_back([&, s] {
      MessageStore& store = *servers[s];
      if (!store.StagesWrites()) {
        for (int b = 0; b < kBatches; ++b) {
          for (auto& r : WriteRetryingConflicts(
                   store, conformance::several_servers::SharedInboxBatch(s, b, kPerBatch),
                   testing::kBatchAttempts)) {
            results[s].push_back(std::move(r));
          }
        }
        return;
      }
      // The sync thread: Syncs in staging order, as the commit queue's.
      Mutex mu;
      CondVar more;
      std::vector<std::unique_ptr<MessageStore::PendingSync>> queue;
      bool done = false;
      std::thread syncer([&] {
        for (std::size_t next = 0;;) {
          std::unique_ptr<MessageStore::PendingSync> p;
          {
            MutexLock lock(&mu);
            while (next == queue.size() && !done) more.Wait(&mu);
            if (next == queue.size()) return;
            p = std::move(queue[next++]);
          }
          if (p != nullptr) {
            absl::Status st = p->Sync();
            if (!st.ok() && synced[s].ok()) synced[s] = st;
          }
        }
      });
      for (int b = 0; b < kBatches; ++b) {
        MessageStore::StagedWrite staged =
            store.WriteStaged(conformance::several_servers::SharedInboxBatch(s, b, kPerBatch));
        for (auto& r : staged.results) results[s].push_back(std::move(r));
        MutexLock lock(&mu);
        queue.push_back(std::move(staged.sync));
        more.Signal();
      }
      {
        MutexLock lock(&mu);
        done = true;
        more.Signal();
      }
      syncer.join();
    });
  }
  for (auto& t : threads) t.join();
  for (const absl::Status& st : synced) COURIER_REQUIRE_OK(st);
  conformance::several_servers::CheckSharedInboxes(results, *reader, kBatches, kPerBatch);
}

TEST_CASE("Pipelined commits: off below a pool of four, and by option", "[postgres][pipelined]") {
  TestSchema schema;
  PostgresOptions options = schema.Options();
  CHECK(OpenOrDie(options)->StagesWrites());
  options.pool_size = 3;
  CHECK_FALSE(OpenOrDie(options)->StagesWrites());
  options.pool_size = 4;
  options.pipelined_commits = false;
  CHECK_FALSE(OpenOrDie(options)->StagesWrites());
}

}  // namespace
}  // namespace courier::postgres
