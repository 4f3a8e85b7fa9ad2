// The commit queue's pipeline: batches are written on the commit executor
// while the previous batch's completions run on their lanes' executors (the
// completion executor by default), in order per lane, one task per lane per
// batch, with at most CommitQueue::kMaxUncompleted batches waiting.
#include "commit_queue.h"

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "conformance/message_store_suite.h"
#include "courier/executor.h"
#include "courier/memory.h"

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

}  // namespace
}  // namespace courier::internal
