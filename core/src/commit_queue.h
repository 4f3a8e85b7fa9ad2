// commit_queue.h (internal): group commit for every store write.
//
// Submit() queues one WriteOp with its completion. A single flush task on the
// commit executor takes everything queued (up to max_batch ops and
// max_batch_bytes of message bodies, at least one op) into ONE
// MessageStore::Write. While a flush runs, new ops accumulate and the next
// flush takes them all: under load the batch grows by itself, so many sends
// share one transaction and one fsync.
//
// The completions of a written batch run on the completion executor, one
// batch at a time, while the commit executor already writes the next batch (a
// two-stage pipeline: the W1 profile showed a third of the commit thread's
// time in completions, encoding and routing frames, with the store idle). At
// most kMaxUncompleted written batches wait for their completions; beyond
// that the next write waits, so a slow completion side holds back writes
// instead of piling up results.
//
// Guarantees: ops are written in submission order; a completion runs at most
// once, on the completion executor, after its op's transaction returned; for
// one flush, completions run in op order, and all completions of one flush
// run before any of the next (the next flush may already be written by
// then). After Abandon(), nothing more is written and no more completions
// run: queued ops are dropped unwritten and written batches' completions are
// destroyed unrun; tasks still sitting in the executors do nothing.
// Thread-safety: Submit from any thread.
// Blocking: Submit never blocks; WaitIdle blocks until the queue is empty and
//   every completion has run.
// Lifetime: the store must outlive the queue or its Abandon(), whichever
//   comes first; the executors must outlive every task posted to them.
#ifndef COURIER_CORE_SRC_COMMIT_QUEUE_H_
#define COURIER_CORE_SRC_COMMIT_QUEUE_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "courier/executor.h"
#include "courier/message_store.h"
#include "courier/sync.h"

namespace courier::internal {

class CommitQueue {
 public:
  using Done = absl::AnyInvocable<void(absl::StatusOr<WriteResult>) &&>;
  // Runs after each flush's completions, on the completion executor.
  using AfterFlush = absl::AnyInvocable<void()>;

  // Written batches whose completions have not all run, at most.
  static constexpr std::size_t kMaxUncompleted = 2;

  // `completion` may be `commit` itself (no pipelining then, same order).
  CommitQueue(MessageStore& store, Executor& commit, Executor& completion,
              std::size_t max_batch, std::size_t max_batch_bytes);
  ~CommitQueue();

  void Submit(WriteOp op, Done done);

  // Blocks until nothing is queued, being written or waiting for its
  // completions. With a ManualExecutor
  // the caller must run the executor instead (this would wait forever).
  void WaitIdle();

  // Stops writing for good; drops what is queued (see above).
  void Abandon();

  // REQUIRES: called before the first Submit.
  void set_after_flush(AfterFlush f);

  std::uint64_t depth() const;
  std::uint64_t commits() const;
  std::uint64_t committed_ops() const;
  std::uint64_t latency_us_total() const;

 private:
  struct State;
  static void Flush(const std::shared_ptr<State>& state);
  static void Complete(const std::shared_ptr<State>& state);
  // Shared with the flush tasks, so that a task outliving the queue finds
  // it abandoned instead of freed memory.
  std::shared_ptr<State> state_;
};

}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_COMMIT_QUEUE_H_
