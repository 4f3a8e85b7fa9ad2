// The commit queue's pipeline: batches are written on the commit executor
// while the previous batch's completions run on the completion executor, in
// order, with at most CommitQueue::kMaxUncompleted batches waiting.
#include "commit_queue.h"

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "courier/executor.h"
#include "courier/memory.h"

namespace courier::internal {
namespace {

// Counts Write calls on top of the memory store.
class CountingStore final : public MessageStore {
 public:
  std::vector<absl::StatusOr<WriteResult>> Write(absl::Span<const WriteOp> ops) override {
    ++writes;
    return inner_->Write(ops);
  }
  absl::StatusOr<std::vector<Event>> Fetch(const UserId& u, Seq after, std::size_t n) override {
    return inner_->Fetch(u, after, n);
  }
  absl::StatusOr<Seq> Head(const UserId& u) override { return inner_->Head(u); }
  absl::StatusOr<Seq> Cursor(const UserId& u, const DeviceId& d) override {
    return inner_->Cursor(u, d);
  }
  absl::StatusOr<MessageStatus> Status(const UserId& r, const MessageId& id) override {
    return inner_->Status(r, id);
  }
  absl::StatusOr<std::size_t> Prune(const PruneOptions& o) override { return inner_->Prune(o); }
  absl::Status Ping() override { return inner_->Ping(); }

  int writes = 0;

 private:
  std::unique_ptr<MessageStore> inner_ = memory::OpenMessageStore();
};

AppendOp Send(const std::string& cid) {
  AppendOp op;
  op.sender = "alice";
  op.cid = cid;
  op.recipient = "bob";
  op.id = "id-" + cid;
  op.body = "hi";
  op.ts = 1;
  return op;
}

struct Fixture {
  CountingStore store;
  ManualExecutor commit;
  ManualExecutor completion;
  CommitQueue queue{store, commit, completion, /*max_batch=*/2048, /*max_batch_bytes=*/1 << 20};
  std::vector<std::string> completed;  // cids, in completion order

  void Submit(const std::string& cid) {
    queue.Submit(Send(cid), [this, cid](absl::StatusOr<WriteResult> r) {
      REQUIRE(r.ok());
      completed.push_back(cid);
    });
  }
};

TEST_CASE("CommitQueue: the next batch is written before the last one's completions run",
          "[core]") {
  Fixture f;
  f.Submit("a");
  f.commit.RunAll();
  CHECK(f.store.writes == 1);
  CHECK(f.completed.empty());  // waiting on the completion executor
  f.Submit("b");
  f.Submit("c");
  f.commit.RunAll();
  CHECK(f.store.writes == 2);  // b and c in one batch, a still uncompleted
  CHECK(f.completed.empty());
  f.completion.RunAll();
  CHECK(f.completed == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("CommitQueue: writes wait while kMaxUncompleted batches wait for completions",
          "[core]") {
  Fixture f;
  for (std::size_t i = 0; i < CommitQueue::kMaxUncompleted; ++i) {
    f.Submit(std::to_string(i));
    f.commit.RunAll();
  }
  CHECK(f.store.writes == static_cast<int>(CommitQueue::kMaxUncompleted));
  f.Submit("parked");
  f.commit.RunAll();
  CHECK(f.store.writes == static_cast<int>(CommitQueue::kMaxUncompleted));  // parked
  // Completing one batch lets the parked flush go.
  REQUIRE(f.completion.RunOne());
  CHECK(f.completed.size() == 1);
  f.commit.RunAll();
  CHECK(f.store.writes == static_cast<int>(CommitQueue::kMaxUncompleted) + 1);
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
  CHECK(f.store.writes == 2);  // c was never written
  f.queue.WaitIdle();          // returns: nothing is pending any more
}

}  // namespace
}  // namespace courier::internal
