// commit_queue.h (internal): group commit for every store write, and the
// hand-back of results to the threads that asked.
//
// Submit() queues one WriteOp with its completion and the executor the
// completion must run on (its lane; null = the completion executor). A
// single flush task on the commit executor takes everything queued (up to
// max_batch ops and max_batch_bytes of message bodies as sent, of 1:1 and group
// sends alike, at least one op) into
// ONE MessageStore::Write. While a flush runs, new ops accumulate and the
// next flush takes them all: under load the batch grows by itself, so many
// sends share one transaction and one fsync.
//
// Hand-back. A written batch's completions are sorted into lanes, one lane
// per executor; each lane that was idle gets ONE task posted, which runs
// everything its lane holds by then. So a batch costs one hand-off (and at
// most one wake-up) per executor, whatever its size: an io thread that
// submitted 80 ops gets their 80 results in one task. Meanwhile the commit
// executor already writes the next batch. At most kMaxUncompleted written
// batches have completions not yet run; beyond that the next write waits,
// so a slow completion side holds back writes instead of piling up results.
//
// Routing (set_router). A written batch's results may carry events for
// sessions (the `appended` of a send, an ack's receipts). The router, called
// on the commit executor once per written batch before its completions are
// sorted, takes those events out of the results and names, for each, a
// target (a session) and the executor it lives on. Each event then travels
// in its target's lane: in the same lane task as that executor's
// completions, after them. So an io thread gets its sessions' results and
// the events for its sessions in ONE task per batch, whichever thread sent
// the messages; nothing is routed from one io thread to another.
//
// Staged writes. When the store stages writes (MessageStore::StagesWrites,
// e.g. RocksDB: the batch applied, then one fsync), the flush task only
// stages the batch and queues it for the sync task, a second single task on
// the same commit executor, which waits for each staged batch's Sync, oldest
// first, and then hands its completions back as above. With an executor of
// two threads (the engine's own, for such a store) the fsync of batch N
// overlaps the work of batch N + 1; on one thread they alternate, same
// order. At most kMaxStaged batches wait for the sync task; beyond that the
// next flush waits. Staged ops are written once (no conflict reruns).
//
// Conflicts. A batch is written with WriteRetryingConflicts
// (courier/message_store.h), the one retry rule for them: the ops the store
// answers kAborted are written again (after the rest of their batch), up to max_write_attempts Writes in
// all, with a jittered wait between, before the next batch; each op's
// completion gets its final result. write_reruns() counts the extra Writes.
//
// Guarantees: ops are written in submission order; a completion runs at most
// once, on its lane's executor, after its op's transaction returned;
// completions of one lane run one at a time, in submission order (a lane
// task never runs concurrently with another of the same lane, even on a
// pool). Completions of different lanes are not ordered with each other.
// A routed event is delivered at most once, on its target's lane, after the
// completions of its own batch in that lane and before those of later
// batches; events of one lane are delivered in batch order and, within a
// batch, in the router's order. They count as completions for WaitIdle.
// A lane task that its executor destroys unrun (an adapter's loop that
// stopped) is not lost: its completions move to the completion executor's
// lane. After Abandon(), nothing more is written and no more completions
// run: queued ops are dropped unwritten and pending completions are
// destroyed unrun; tasks still sitting in the executors do nothing.
// Thread-safety: Submit from any thread.
// Blocking: Submit never blocks; WaitIdle blocks until the queue is empty and
//   every completion has run.
// Lifetime: the store must outlive the queue or its Abandon(), whichever
//   comes first; the executors must outlive every task posted to them (a
//   lane's executor is held by shared_ptr while the lane exists).
#ifndef COURIER_CORE_SRC_COMMIT_QUEUE_H_
#define COURIER_CORE_SRC_COMMIT_QUEUE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "courier/executor.h"
#include "courier/message_store.h"
#include "courier/sync.h"
#include "inline_function.h"

namespace courier::internal {

// What a completion makes of the write of its one op: the op's result (moved
// out), or the write's error; kInternal "unexpected store result" when the
// store answered with a result of another kind.
template <typename Result>
absl::StatusOr<Result> ResultAs(absl::StatusOr<WriteResult> r) {
  if (!r.ok()) return std::move(r).status();
  Result* result = std::get_if<Result>(&*r);
  if (result == nullptr) return absl::InternalError("unexpected store result");
  return std::move(*result);
}

class CommitQueue {
 public:
  // Kept inline up to 64 bytes (a session pointer, a cid and a member
  // pointer): no heap allocation per op (see inline_function.h).
  using Done = InlineFunction<void(absl::StatusOr<WriteResult>), 64>;
  // Runs after each lane task's completions, on that lane's executor.
  using AfterFlush = absl::AnyInvocable<void()>;

  // One event the router hands to a target (see Routing above).
  struct Routed {
    std::shared_ptr<void> target;   // given to Deliver; kept alive until then
    std::shared_ptr<Executor> lane;  // the target's; null = the completion executor
    Event event;
  };
  // Called on the commit executor, once per written batch (after its
  // transaction committed, before its completions are sorted), with the
  // batch's results: moves the events it routes out of them into `out`.
  // Must not block or call into the queue.
  using Router = absl::AnyInvocable<void(std::vector<absl::StatusOr<WriteResult>>& results,
                                         std::vector<Routed>& out)>;
  // Gives `event` to `target` (a Routed's), on the target's lane executor.
  using Deliver = void (*)(void* target, const Event& event);

  // Written batches whose completions have not all run, at most.
  static constexpr std::size_t kMaxUncompleted = 2;
  // Staged batches waiting for the sync task, at most (a store that stages
  // writes; one more may be in its Sync meanwhile).
  static constexpr std::size_t kMaxStaged = 2;

  // `completion` may be `commit` itself (no pipelining then, same order).
  // `max_write_attempts`: Writes of one batch at most, reruns on a conflict
  // included (below 1 counts as 1).
  CommitQueue(MessageStore& store, Executor& commit, Executor& completion,
              std::size_t max_batch, std::size_t max_batch_bytes,
              int max_write_attempts = 1);
  ~CommitQueue();

  // `lane`: where `done` runs; null = the completion executor.
  void Submit(WriteOp op, Done done, std::shared_ptr<Executor> lane = nullptr);

  // Blocks until nothing is queued, being written or waiting for its
  // completions. With a ManualExecutor
  // the caller must run the executor instead (this would wait forever).
  void WaitIdle();

  // Stops writing for good; drops what is queued (see above).
  void Abandon();

  // REQUIRES: called before the first Submit.
  void set_after_flush(AfterFlush f);
  // REQUIRES: called before the first Submit; `deliver` not null.
  void set_router(Router route, Deliver deliver);

  std::uint64_t depth() const;
  std::uint64_t commits() const;
  std::uint64_t committed_ops() const;
  std::uint64_t latency_us_total() const;
  // Wall time during which at least one batch was being written or synced
  // (batches that overlap, as staged ones do, count once).
  std::uint64_t busy_us_total() const;
  // Writes of conflicting ops again (see Conflicts above).
  std::uint64_t write_reruns() const;

 private:
  struct State;
  struct Lane;
  struct Waiter;
  class LaneTicket;
  static void Flush(const std::shared_ptr<State>& state);
  static void Stage(const std::shared_ptr<State>& state, std::vector<WriteOp>& ops,
                    std::vector<Waiter>& waiters);
  static void SyncStaged(const std::shared_ptr<State>& state);
  static void Hand(const std::shared_ptr<State>& state,
                   std::chrono::steady_clock::time_point start, std::vector<Waiter>& waiters,
                   std::vector<absl::StatusOr<WriteResult>>& results);
  static void Drain(const std::shared_ptr<State>& state, Lane* lane);
  static void Reroute(const std::shared_ptr<State>& state, Lane* lane);
  // Shared with the flush tasks, so that a task outliving the queue finds
  // it abandoned instead of freed memory.
  std::shared_ptr<State> state_;
};

}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_COMMIT_QUEUE_H_
