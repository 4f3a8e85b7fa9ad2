// The commit queue's pipeline: batches are written on the commit executor
// while the previous batch's completions run on their lanes' executors (the
// completion executor by default), in order per lane, one task per lane per
// batch, with at most CommitQueue::kMaxUncompleted batches waiting.
#include "commit_queue.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "conformance/message_store_suite.h"
#include "courier/executor.h"
#include "courier/memory.h"
#include "support/status_matchers.h"

namespace courier::internal {
namespace {

// The message `cid` from alice to bob.
AppendOp Send(const std::string& cid) {
  return conformance::message_store_cases::Message("alice", cid, "bob");
}

// The queue calls only Write, so the wrapper's call count is the writes.
struct Fixture {
  std::unique_ptr<MessageStore> inner = memory::OpenMessageStore();
  memory::FaultInjectingStore store{*inner};
  ManualExecutor commit;
  ManualExecutor completion;
  CommitQueue queue{store, commit, completion, /*max_batch=*/2048, /*max_batch_bytes=*/1 << 20};
  std::vector<std::string> completed;  // cids, in completion order

  void Submit(const std::string& cid, std::shared_ptr<Executor> lane = nullptr) {
    queue.Submit(
        Send(cid),
        [this, cid](absl::StatusOr<WriteResult> r) {
          REQUIRE(r.ok());
          completed.push_back(cid);
        },
        std::move(lane));
  }
};

// An executor whose loop is gone: every task it is given is destroyed unrun.
class GoneExecutor final : public Executor {
 public:
  void Post(Task task) override {
    ++posts;
    Task dropped = std::move(task);
  }
  int posts = 0;
};

TEST_CASE("CommitQueue: the next batch is written before the last one's completions run",
          "[core]") {
  Fixture f;
  f.Submit("a");
  f.commit.RunAll();
  CHECK(f.store.calls() == 1u);
  CHECK(f.completed.empty());  // waiting on the completion executor
  f.Submit("b");
  f.Submit("c");
  f.commit.RunAll();
  CHECK(f.store.calls() == 2u);  // b and c in one batch, a still uncompleted
  CHECK(f.completed.empty());
  f.completion.RunAll();
  CHECK(f.completed == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("CommitQueue: group sends' bodies count toward max_batch_bytes", "[core]") {
  std::unique_ptr<MessageStore> inner = memory::OpenMessageStore();
  memory::FaultInjectingStore store{*inner};
  ManualExecutor commit;
  CommitQueue queue{store, commit, commit, /*max_batch=*/2048, /*max_batch_bytes=*/10};
  int done = 0;
  for (const char* cid : {"g1", "g2", "g3"}) {
    GroupSendOp op;
    op.sender = "alice";
    op.cid = cid;
    op.group = "gnone";
    op.id = std::string("id-") + cid;
    op.body = std::string(8, 'x');  // two of them pass 10 bytes
    queue.Submit(op, [&done](absl::StatusOr<WriteResult>) { ++done; });
  }
  commit.RunAll();
  CHECK(done == 3);
  CHECK(store.calls() == 3u);  // one op per write
}

TEST_CASE("CommitQueue: writes wait while kMaxUncompleted batches wait for completions",
          "[core]") {
  Fixture f;
  for (std::size_t i = 0; i < CommitQueue::kMaxUncompleted; ++i) {
    f.Submit(std::to_string(i));
    f.commit.RunAll();
  }
  CHECK(f.store.calls() == CommitQueue::kMaxUncompleted);
  f.Submit("parked");
  f.commit.RunAll();
  CHECK(f.store.calls() == CommitQueue::kMaxUncompleted);  // parked
  // The lane's one task runs both batches' completions; that lets the
  // parked flush go.
  REQUIRE(f.completion.RunOne());
  CHECK(f.completed.size() == CommitQueue::kMaxUncompleted);
  f.commit.RunAll();
  CHECK(f.store.calls() == CommitQueue::kMaxUncompleted + 1);
  f.completion.RunAll();
  CHECK(f.completed.size() == CommitQueue::kMaxUncompleted + 1);
  CHECK(f.completed.back() == "parked");
}

TEST_CASE("CommitQueue: Abandon drops written batches' completions unrun", "[core]") {
  Fixture f;
  f.Submit("a");
  f.commit.RunAll();
  f.Submit("b");
  f.commit.RunAll();
  f.Submit("c");
  f.commit.RunAll();  // parked behind two uncompleted batches
  f.queue.Abandon();
  f.commit.RunAll();
  f.completion.RunAll();
  CHECK(f.completed.empty());
  CHECK(f.store.calls() == 2u);  // c was never written
  f.queue.WaitIdle();          // returns: nothing is pending any more
}

TEST_CASE("CommitQueue: completions run on their lane, one task per lane per batch", "[core]") {
  Fixture f;
  auto one = std::make_shared<ManualExecutor>();
  auto two = std::make_shared<ManualExecutor>();
  f.Submit("a", one);
  f.Submit("b", two);
  f.Submit("c", one);
  f.Submit("d");  // no lane: the completion executor
  f.commit.RunAll();
  CHECK(f.store.calls() == 1u);
  CHECK(one->pending() == 1u);
  CHECK(two->pending() == 1u);
  CHECK(f.completion.pending() == 1u);
  REQUIRE(one->RunOne());
  CHECK(f.completed == std::vector<std::string>{"a", "c"});  // in submission order
  // A lane that is draining gets no second task for the next batch.
  f.Submit("e", two);
  f.commit.RunAll();
  CHECK(two->pending() == 1u);
  two->RunAll();
  f.completion.RunAll();
  CHECK(f.completed == std::vector<std::string>{"a", "c", "b", "e", "d"});
  f.queue.WaitIdle();  // nothing left uncompleted
}

TEST_CASE("CommitQueue: a lane whose executor drops its task falls back to the completion executor",
          "[core]") {
  Fixture f;
  auto gone = std::make_shared<GoneExecutor>();
  f.Submit("a", gone);
  f.commit.RunAll();
  CHECK(gone->posts == 1);
  CHECK(f.completed.empty());
  f.completion.RunAll();
  CHECK(f.completed == std::vector<std::string>{"a"});
  // Later completions of that lane go straight to the completion executor.
  f.Submit("b", gone);
  f.commit.RunAll();
  CHECK(gone->posts == 1);
  f.completion.RunAll();
  CHECK(f.completed == std::vector<std::string>{"a", "b"});
  f.queue.WaitIdle();
}

// Routing (commit_queue.h): a target that records what it is given, where.
struct Target {
  std::vector<std::string>* log;  // the fixture's, shared with completions
  std::string name;
};

void DeliverToTarget(void* target, const Event& event) {
  auto* t = static_cast<Target*>(target);
  t->log->push_back(t->name + ":" + event.id);
}

// Routes every appended event of a batch to `target` on `lane`, and
// records the size of each batch it saw.
struct RouteAll {
  std::shared_ptr<Target> target;
  std::shared_ptr<Executor> lane;
  std::vector<std::size_t>* batches;
  void operator()(std::vector<absl::StatusOr<WriteResult>>& results,
                  std::vector<CommitQueue::Routed>& out) const {
    batches->push_back(results.size());
    for (absl::StatusOr<WriteResult>& r : results) {
      if (!r.ok()) continue;
      for (Appended& a : std::get<AppendResult>(*r).appended) {
        out.push_back(CommitQueue::Routed{target, lane, std::move(a.event)});
      }
      std::get<AppendResult>(*r).appended.clear();
    }
  }
};

// Completions that log into the same list as the target, with what they
// were left of `appended`.
void SubmitLogged(Fixture& f, std::vector<std::string>& log, const std::string& cid,
                  std::shared_ptr<Executor> lane) {
  f.queue.Submit(
      Send(cid),
      [&log, cid](absl::StatusOr<WriteResult> r) {
        REQUIRE(r.ok());
        log.push_back("done:" + cid + "/" +
                      std::to_string(std::get<AppendResult>(*r).appended.size()));
      },
      std::move(lane));
}

TEST_CASE("CommitQueue: routed events travel in their target's lane, after its completions",
          "[core][route]") {
  Fixture f;
  std::vector<std::string> log;
  std::vector<std::size_t> batches;
  auto one = std::make_shared<ManualExecutor>();
  auto two = std::make_shared<ManualExecutor>();
  auto target = std::make_shared<Target>(Target{&log, "bob"});
  f.queue.set_router(RouteAll{target, two, &batches}, &DeliverToTarget);
  SubmitLogged(f, log, "a", one);
  SubmitLogged(f, log, "b", two);
  f.commit.RunAll();
  CHECK(batches == std::vector<std::size_t>{2});
  // One task each: lane two's holds b's completion and both events.
  CHECK(one->pending() == 1u);
  CHECK(two->pending() == 1u);
  REQUIRE(two->RunOne());
  CHECK(two->pending() == 0u);
  // The completion first, then the events in the router's order; the
  // router took them out of the results.
  CHECK(log == std::vector<std::string>{"done:b/0", "bob:id-alice-a", "bob:id-alice-b"});
  one->RunAll();
  CHECK(log.back() == "done:a/0");
  f.queue.WaitIdle();

  // A batch with nothing for lane two's completions still reaches it in
  // one task, with its events only.
  log.clear();
  SubmitLogged(f, log, "c", one);
  f.commit.RunAll();
  CHECK(two->pending() == 1u);
  two->RunAll();
  CHECK(log == std::vector<std::string>{"bob:id-alice-c"});
  one->RunAll();
  f.queue.WaitIdle();
}

TEST_CASE("CommitQueue: WaitIdle waits for routed events too", "[core][route]") {
  Fixture f;
  std::vector<std::string> log;
  std::vector<std::size_t> batches;
  auto two = std::make_shared<ManualExecutor>();
  f.queue.set_router(RouteAll{std::make_shared<Target>(Target{&log, "bob"}), two, &batches},
                     &DeliverToTarget);
  SubmitLogged(f, log, "a", nullptr);
  f.commit.RunAll();
  f.completion.RunAll();  // a's completion; its event waits on lane two
  CHECK(log == std::vector<std::string>{"done:a/0"});
  // What the waiter saw when WaitIdle returned: the event must be in it
  // (the queue's lock orders the delivery before the return).
  std::vector<std::string> seen;
  std::thread waiter([&] {
    f.queue.WaitIdle();
    seen = log;
  });
  two->RunAll();
  waiter.join();
  CHECK(seen == std::vector<std::string>{"done:a/0", "bob:id-alice-a"});
}

TEST_CASE("CommitQueue: routed events of a lane whose executor drops its task go to the "
          "completion executor; Abandon drops them unrun",
          "[core][route]") {
  std::vector<std::string> log;
  std::vector<std::size_t> batches;
  {
    Fixture f;
    auto gone = std::make_shared<GoneExecutor>();
    f.queue.set_router(RouteAll{std::make_shared<Target>(Target{&log, "bob"}), gone, &batches},
                       &DeliverToTarget);
    SubmitLogged(f, log, "a", nullptr);
    f.commit.RunAll();
    CHECK(gone->posts == 1);
    f.completion.RunAll();
    CHECK(log == std::vector<std::string>{"done:a/0", "bob:id-alice-a"});
    f.queue.WaitIdle();
  }
  log.clear();
  Fixture f;
  auto two = std::make_shared<ManualExecutor>();
  auto target = std::make_shared<Target>(Target{&log, "bob"});
  const std::weak_ptr<Target> watch = target;
  f.queue.set_router(RouteAll{target, two, &batches}, &DeliverToTarget);
  target.reset();  // the router's copy and the routed events hold it now
  SubmitLogged(f, log, "a", nullptr);
  f.commit.RunAll();
  CHECK(two->pending() == 1u);
  f.queue.Abandon();
  two->RunAll();
  f.completion.RunAll();
  CHECK(log.empty());
  CHECK(watch.use_count() == 1);  // only the router's copy is left
  f.queue.WaitIdle();
}

// Conflicts (issue 19): the one retry rule, WriteRetryingConflicts, as the
// commit queue applies it.
using testing::StatusIs;

// A store in conflict with another writer for its next `conflicts` Writes:
// each op (or each op whose cid is in `cids`, when given) answers kAborted
// and is not applied; the others reach the memory store. Records the size
// of every Write. Only Write is used here.
class ConflictingStore final : public MessageStore {
 public:
  explicit ConflictingStore(int conflicts, std::set<std::string> cids = {})
      : conflicts_(conflicts), cids_(std::move(cids)) {}

  std::vector<absl::StatusOr<WriteResult>> Write(absl::Span<const WriteOp> ops) override {
    writes.push_back(ops.size());
    std::vector<absl::StatusOr<WriteResult>> results(ops.size(), absl::AbortedError("conflict"));
    std::vector<WriteOp> passed;
    std::vector<std::size_t> where;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const bool named = cids_.empty() || cids_.count(std::get<AppendOp>(ops[i]).cid) > 0;
      if (conflicts_ > 0 && named) continue;
      passed.push_back(ops[i]);
      where.push_back(i);
    }
    if (conflicts_ > 0) --conflicts_;
    std::vector<absl::StatusOr<WriteResult>> applied = inner_->Write(passed);
    for (std::size_t k = 0; k < where.size(); ++k) results[where[k]] = std::move(applied[k]);
    return results;
  }
  absl::StatusOr<std::vector<Event>> Fetch(const UserId&, Seq, std::size_t) override {
    return Unused();
  }
  absl::StatusOr<Seq> Head(const UserId&) override { return Unused(); }
  absl::StatusOr<Seq> Cursor(const UserId&, const DeviceId&) override { return Unused(); }
  absl::StatusOr<MessageStatus> Status(const UserId&, const MessageId&) override {
    return Unused();
  }
  absl::StatusOr<std::size_t> Prune(const PruneOptions&) override { return Unused(); }
  absl::StatusOr<std::size_t> DeleteInbox(const UserId&) override { return Unused(); }
  absl::Status Ping() override { return Unused(); }

  std::vector<std::size_t> writes;  // the size of each Write, in order

 private:
  static absl::Status Unused() { return absl::UnimplementedError("not used by these tests"); }
  int conflicts_;
  const std::set<std::string> cids_;
  std::unique_ptr<MessageStore> inner_ = memory::OpenMessageStore();
};

// A commit queue over `store` that writes a batch at most `attempts` times,
// and the results its completions got, by cid.
struct RetryFixture {
  RetryFixture(MessageStore& store, int attempts)
      : queue{store, commit, commit, /*max_batch=*/2048, /*max_batch_bytes=*/1 << 20, attempts} {}
  void Submit(const std::string& cid) {
    queue.Submit(Send(cid), [this, cid](absl::StatusOr<WriteResult> r) {
      results.emplace(cid, std::move(r));
    });
  }
  ManualExecutor commit;
  CommitQueue queue;
  std::map<std::string, absl::StatusOr<WriteResult>> results;
};

TEST_CASE("CommitQueue: a batch answered kAborted is written again, then completes",
          "[core][retry]") {
  ConflictingStore store(/*conflicts=*/2);
  RetryFixture f(store, /*attempts=*/3);
  f.Submit("a");
  f.Submit("b");
  f.commit.RunAll();
  CHECK(store.writes == std::vector<std::size_t>{2, 2, 2});
  CHECK(f.queue.write_reruns() == 2u);
  CHECK(f.queue.commits() == 1u);  // one batch, however often written
  REQUIRE(f.results.size() == 2u);
  for (const auto& [cid, r] : f.results) {
    INFO(cid);
    COURIER_REQUIRE_OK(r);
    CHECK_FALSE(std::get<AppendResult>(*r).duplicate);
  }
}

TEST_CASE("CommitQueue: a conflict outlasting max_write_attempts answers kAborted",
          "[core][retry]") {
  ConflictingStore store(/*conflicts=*/5);
  RetryFixture f(store, /*attempts=*/3);
  f.Submit("a");
  f.commit.RunAll();
  CHECK(store.writes == std::vector<std::size_t>{1, 1, 1});
  CHECK(f.queue.write_reruns() == 2u);
  REQUIRE(f.results.count("a") == 1u);
  CHECK_THAT(f.results.at("a").status(), StatusIs(absl::StatusCode::kAborted));
}

TEST_CASE("CommitQueue: only the ops answered kAborted are written again", "[core][retry]") {
  ConflictingStore store(/*conflicts=*/1, /*cids=*/{"b"});
  RetryFixture f(store, /*attempts=*/3);
  f.Submit("a");
  f.Submit("b");
  f.Submit("c");
  f.commit.RunAll();
  CHECK(store.writes == std::vector<std::size_t>{3, 1});  // b alone the second time
  REQUIRE(f.results.size() == 3u);
  for (const auto& [cid, r] : f.results) {
    INFO(cid);
    COURIER_REQUIRE_OK(r);
    CHECK_FALSE(std::get<AppendResult>(*r).duplicate);  // a and c were not written twice
  }
  CHECK(std::get<AppendResult>(*f.results.at("b")).seq == 3);  // after a and c
}

TEST_CASE("CommitQueue: failures other than kAborted are not written again", "[core][retry]") {
  std::unique_ptr<MessageStore> inner = memory::OpenMessageStore();
  memory::FaultInjectingStore store{*inner};
  store.FailAfter(/*skip=*/0, /*n=*/1);  // kUnavailable: the store did not commit
  RetryFixture f(store, /*attempts=*/5);
  f.Submit("a");
  f.commit.RunAll();
  CHECK(store.calls() == 1u);
  CHECK(f.queue.write_reruns() == 0u);
  REQUIRE(f.results.count("a") == 1u);
  CHECK_THAT(f.results.at("a").status(), StatusIs(absl::StatusCode::kUnavailable));
  // An op's own refusal is not a conflict either.
  AppendOp bad = Send("");
  bad.cid = "";  // not a client id: kInvalidArgument
  const std::vector<WriteOp> ops = {bad};
  const auto results = WriteRetryingConflicts(store, ops, /*max_attempts=*/5);
  CHECK(store.calls() == 2u);
  CHECK_THAT(results.at(0).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_CASE("WriteRetryingConflicts: one attempt writes once, whatever the answer",
          "[core][retry]") {
  ConflictingStore store(/*conflicts=*/1);
  const std::vector<WriteOp> ops = {Send("a")};
  std::uint64_t reruns = 0;
  const auto results = WriteRetryingConflicts(store, ops, /*max_attempts=*/1, &reruns);
  CHECK(store.writes == std::vector<std::size_t>{1});
  CHECK(reruns == 0u);
  CHECK_THAT(results.at(0).status(), StatusIs(absl::StatusCode::kAborted));
}

TEST_CASE("CommitQueue: a queue longer than max_batch is written in order, batch by batch",
          "[core]") {
  std::unique_ptr<MessageStore> inner = memory::OpenMessageStore();
  memory::FaultInjectingStore store{*inner};
  ManualExecutor commit;
  CommitQueue queue{store, commit, commit, /*max_batch=*/2, /*max_batch_bytes=*/1 << 20};
  std::vector<Seq> seqs;
  for (int round = 0; round < 2; ++round) {  // the second round reuses the buffers
    for (int i = 0; i < 5; ++i) {
      queue.Submit(Send("c" + std::to_string(round) + "-" + std::to_string(i)),
                   [&seqs](absl::StatusOr<WriteResult> r) {
                     absl::StatusOr<AppendResult> a = ResultAs<AppendResult>(std::move(r));
                     REQUIRE(a.ok());
                     seqs.push_back(a->appended.at(0).event.seq);
                   });
    }
    commit.RunAll();
  }
  CHECK(store.calls() == 6u);  // 2 + 2 + 1, twice
  CHECK(seqs == std::vector<Seq>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  CHECK(queue.depth() == 0u);
  CHECK(queue.committed_ops() == 10u);
}

// Staged writes: a store that applies a batch in WriteStaged and makes it
// durable in PendingSync::Sync (as RocksDB at power-loss durability).

// Stages into a memory store at once; logs "stage <cids>" and "sync <cids>"
// (thread-safe), and answers each Sync with `sync_status` (then OK again).
// With `hold_first_sync`, the first Sync waits (up to a minute) until a
// second batch begins to stage, and says in `overlapped` whether it did.
class StagingStore final : public memory::MessageStoreWrapper {
 public:
  explicit StagingStore(MessageStore& target) : MessageStoreWrapper(target) {}

  bool StagesWrites() const override { return true; }
  StagedWrite WriteStaged(absl::Span<const WriteOp> ops) override {
    std::string cids;
    for (const WriteOp& op : ops) cids += std::get<AppendOp>(op).cid;
    {
      std::lock_guard<std::mutex> lock(mu_);
      log_.push_back("stage " + cids);
      ++staged_;
    }
    changed_.notify_all();
    return StagedWrite{Write(ops), std::make_unique<Pending>(*this, cids)};
  }

  std::vector<std::string> log() const {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }
  void FailNextSync(absl::Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    sync_status_ = std::move(s);
  }
  bool hold_first_sync = false;
  bool overlapped = false;

 private:
  class Pending final : public PendingSync {
   public:
    Pending(StagingStore& store, std::string cids) : store_(store), cids_(std::move(cids)) {}
    absl::Status Sync() override { return store_.OnSync(cids_); }

   private:
    StagingStore& store_;
    const std::string cids_;
  };

  absl::Status OnSync(const std::string& cids) {
    std::unique_lock<std::mutex> lock(mu_);
    if (hold_first_sync && syncs_ == 0) {
      overlapped = changed_.wait_for(lock, std::chrono::minutes(1), [&] { return staged_ >= 2; });
    }
    ++syncs_;
    log_.push_back("sync " + cids);
    absl::Status s = std::move(sync_status_);
    sync_status_ = absl::OkStatus();
    return s;
  }

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<std::string> log_;
  int staged_ = 0;
  int syncs_ = 0;
  absl::Status sync_status_;
};

// A commit queue over a StagingStore, on manual executors; each completion's
// result by cid, and the cids in completion order.
struct StagingFixture {
  std::unique_ptr<MessageStore> inner = memory::OpenMessageStore();
  StagingStore store{*inner};
  ManualExecutor commit;
  ManualExecutor completion;
  CommitQueue queue{store, commit, completion, /*max_batch=*/2048, /*max_batch_bytes=*/1 << 20};
  std::map<std::string, absl::StatusOr<WriteResult>> results;
  std::vector<std::string> completed;

  void Submit(const std::string& cid) {
    queue.Submit(Send(cid), [this, cid](absl::StatusOr<WriteResult> r) {
      results.emplace(cid, std::move(r));
      completed.push_back(cid);
    });
  }
};

TEST_CASE("CommitQueue: a store that stages writes: the next batch is staged before the last "
          "one's sync, and completions wait for their sync",
          "[core][staged]") {
  StagingFixture f;
  f.Submit("a");
  REQUIRE(f.commit.RunOne());  // the flush: stages [a], posts the sync task
  f.Submit("b");               // posts the next flush, behind the sync task
  REQUIRE(f.commit.pending() == 2u);
  REQUIRE(f.commit.RunOne(1));  // the flush first: stages [b] while [a] waits for its sync
  CHECK(f.store.log() == std::vector<std::string>{"stage a", "stage b"});
  f.completion.RunAll();
  CHECK(f.completed.empty());  // nothing is answered before its sync
  f.commit.RunAll();
  CHECK(f.store.log() == std::vector<std::string>{"stage a", "stage b", "sync a", "sync b"});
  f.completion.RunAll();
  CHECK(f.completed == std::vector<std::string>{"a", "b"});
  for (const auto& [cid, r] : f.results) {
    INFO(cid);
    COURIER_REQUIRE_OK(r);
  }
  CHECK(f.queue.commits() == 2u);
  CHECK(f.queue.committed_ops() == 2u);
  f.queue.WaitIdle();
}

TEST_CASE("CommitQueue: busy time counts staged batches that overlap once, latency twice",
          "[core][staged]") {
  StagingFixture f;
  f.Submit("a");
  REQUIRE(f.commit.RunOne());  // stages [a]: the store is busy from here
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  f.Submit("b");
  REQUIRE(f.commit.RunOne(1));  // stages [b] while [a] waits for its sync
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  f.commit.RunAll();  // sync a, sync b
  f.completion.RunAll();
  REQUIRE(f.completed == std::vector<std::string>{"a", "b"});
  const std::uint64_t busy = f.queue.busy_us_total();
  const std::uint64_t latency = f.queue.latency_us_total();
  CHECK(busy >= 4'000);             // from [a]'s staging to [b]'s sync
  CHECK(latency >= busy + 2'000);   // [b]'s wait for [a]'s sync is in both latencies
  f.queue.WaitIdle();
}

TEST_CASE("CommitQueue: without overlap busy time is the sum of the latencies", "[core]") {
  Fixture f;
  for (const char* cid : {"a", "b", "c"}) {
    f.Submit(cid);
    f.commit.RunAll();
    f.completion.RunAll();
  }
  REQUIRE(f.completed.size() == 3u);
  CHECK(f.queue.busy_us_total() == f.queue.latency_us_total());
  f.queue.WaitIdle();
}

TEST_CASE("CommitQueue: a failed sync answers every op of its batch with its error",
          "[core][staged]") {
  StagingFixture f;
  f.store.FailNextSync(absl::UnavailableError("disk gone"));
  f.Submit("a");
  f.Submit("b");
  f.commit.RunAll();
  f.completion.RunAll();
  REQUIRE(f.results.size() == 2u);
  CHECK_THAT(f.results.at("a").status(), StatusIs(absl::StatusCode::kUnavailable));
  CHECK_THAT(f.results.at("b").status(), StatusIs(absl::StatusCode::kUnavailable));
  f.Submit("c");  // the next batch's sync succeeds
  f.commit.RunAll();
  f.completion.RunAll();
  COURIER_REQUIRE_OK(f.results.at("c"));
  f.queue.WaitIdle();
}

TEST_CASE("CommitQueue: at most kMaxStaged batches wait for the sync task", "[core][staged]") {
  static_assert(CommitQueue::kMaxStaged == 2);
  StagingFixture f;
  f.Submit("a");
  REQUIRE(f.commit.RunOne());  // stages [a]; the sync task is queued
  f.Submit("b");
  REQUIRE(f.commit.RunOne(1));  // stages [b]
  f.Submit("c");
  REQUIRE(f.commit.RunOne(1));  // two wait for the sync task: this flush parks
  CHECK(f.store.log() == std::vector<std::string>{"stage a", "stage b"});
  REQUIRE(f.commit.pending() == 1u);  // only the sync task
  // The sync task takes [a]: the parked flush goes again once there is room
  // (below kMaxStaged staged, below kMaxUncompleted uncompleted).
  while (f.commit.pending() > 0 || f.completion.pending() > 0) {
    f.commit.RunAll();
    f.completion.RunAll();
  }
  const std::vector<std::string> log = f.store.log();
  REQUIRE(log.size() == 6u);
  CHECK(std::find(log.begin(), log.end(), "stage c") >
        std::find(log.begin(), log.end(), "sync a"));
  CHECK(f.completed == std::vector<std::string>{"a", "b", "c"});
  f.queue.WaitIdle();
}

TEST_CASE("CommitQueue: Abandon drops staged batches unrun", "[core][staged]") {
  StagingFixture f;
  f.Submit("a");
  REQUIRE(f.commit.RunOne());  // staged, its sync task queued
  f.queue.Abandon();
  f.commit.RunAll();
  f.completion.RunAll();
  CHECK(f.completed.empty());
  CHECK(f.store.log() == std::vector<std::string>{"stage a"});
}

TEST_CASE("CommitQueue: on a two-thread commit executor one batch's sync overlaps the next "
          "batch's staging",
          "[core][staged]") {
  std::unique_ptr<MessageStore> inner = memory::OpenMessageStore();
  StagingStore store{*inner};
  store.hold_first_sync = true;
  ThreadPoolExecutor commit(2);
  std::mutex mu;
  std::vector<std::string> completed;
  {
    CommitQueue queue{store, commit, commit, /*max_batch=*/2048, /*max_batch_bytes=*/1 << 20};
    auto done = [&](const std::string& cid) {
      return [&, cid](absl::StatusOr<WriteResult> r) {
        REQUIRE(r.ok());
        std::lock_guard<std::mutex> lock(mu);
        completed.push_back(cid);
      };
    };
    queue.Submit(Send("a"), done("a"));
    // [a] is staged and its sync waits for a second batch to stage.
    while (store.log().empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    queue.Submit(Send("b"), done("b"));
    queue.WaitIdle();
  }
  CHECK(store.overlapped);
  CHECK(completed == std::vector<std::string>{"a", "b"});
  CHECK(store.log() == std::vector<std::string>{"stage a", "stage b", "sync a", "sync b"});
}

// What a completion captures, counting its live copies.
struct Tracked {
  explicit Tracked(int* live) : live(live) { ++*live; }
  Tracked(const Tracked& o) : live(o.live) { ++*live; }
  Tracked(Tracked&& o) noexcept : live(o.live) { ++*live; }
  ~Tracked() { --*live; }
  int* live;
};

TEST_CASE("InlineFunction: small and large captures are called once and destroyed once",
          "[core]") {
  using Fn = InlineFunction<void(int), 64>;
  int live = 0;
  int sum = 0;
  {
    Fn small = [t = Tracked(&live), &sum](int x) { sum += x; };
    std::array<char, 200> big_pad{};
    big_pad[0] = 3;
    Fn big = [t = Tracked(&live), big_pad, &sum](int x) { sum += x * big_pad[0]; };
    CHECK(live == 2);
    Fn moved = std::move(small);
    CHECK_FALSE(static_cast<bool>(small));  // NOLINT(bugprone-use-after-move)
    CHECK(static_cast<bool>(moved));
    CHECK(live == 2);
    std::move(moved)(1);
    std::move(big)(2);
    CHECK(sum == 7);
    Fn assigned;
    assigned = std::move(big);
    CHECK(live == 2);
    assigned = nullptr;  // the large capture is freed here
    CHECK(live == 1);
  }
  CHECK(live == 0);
}

}  // namespace
}  // namespace courier::internal
