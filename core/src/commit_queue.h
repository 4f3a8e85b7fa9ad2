// commit_queue.h (internal): group commit for every store write.
//
// Submit() queues one WriteOp with its completion. A single flush task on the
// commit executor takes everything queued (up to max_batch ops) into ONE
// MessageStore::Write, then runs the completions in submission order. While a
// flush runs, new ops accumulate and the next flush takes them all: under
// load the batch grows by itself, so many sends share one transaction and one
// fsync.
//
// Guarantees: ops are written in submission order; a completion runs exactly
// once, on the commit executor, after its op's transaction returned; for one
// flush, completions run in op order, and all completions of one flush run
// before any of the next.
// Thread-safety: Submit from any thread.
// Blocking: Submit never blocks; WaitIdle blocks until the queue is empty.
#ifndef COURIER_CORE_SRC_COMMIT_QUEUE_H_
#define COURIER_CORE_SRC_COMMIT_QUEUE_H_

#include <atomic>
#include <cstdint>
#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "courier/sync.h"
#include "courier/clock.h"
#include "courier/executor.h"
#include "courier/message_store.h"

namespace courier::internal {

class CommitQueue {
 public:
  using Done = absl::AnyInvocable<void(absl::StatusOr<WriteResult>) &&>;
  // Runs after each flush's completions, on the commit executor.
  using AfterFlush = absl::AnyInvocable<void()>;

  // REQUIRES: store and executor outlive the queue.
  CommitQueue(MessageStore& store, Executor& executor, std::size_t max_batch);

  void Submit(WriteOp op, Done done);

  // Blocks until nothing is queued or being written. With a ManualExecutor
  // the caller must run the executor instead (this would wait forever).
  void WaitIdle();

  void set_after_flush(AfterFlush f) { after_flush_ = std::move(f); }

  std::uint64_t depth() const;
  std::uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }
  std::uint64_t committed_ops() const { return ops_.load(std::memory_order_relaxed); }
  std::uint64_t latency_us_total() const { return latency_us_.load(std::memory_order_relaxed); }

 private:
  struct Item {
    WriteOp op;
    Done done;
  };
  void Flush();

  MessageStore& store_;
  Executor& executor_;
  const std::size_t max_batch_;
  AfterFlush after_flush_;
  mutable Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  bool flushing_ ABSL_GUARDED_BY(mu_) = false;
  CondVar idle_;  // signalled when the queue becomes empty and idle
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> ops_{0};
  std::atomic<std::uint64_t> latency_us_{0};
};

}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_COMMIT_QUEUE_H_
