#include "commit_queue.h"

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

namespace courier::internal {

struct CommitQueue::State {
  State(MessageStore& s, Executor& e, Executor& c, std::size_t m, std::size_t b)
      : store(s), executor(e), completion(c), max_batch(m == 0 ? 1 : m), max_batch_bytes(b) {}

  struct Item {
    WriteOp op;
    Done done;
  };
  // A written batch waiting for its completions.
  struct Written {
    std::vector<Done> done;
    std::vector<absl::StatusOr<WriteResult>> results;
  };

  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return queue.empty() && !flushing && written.empty() && !completing;
  }

  MessageStore& store;
  Executor& executor;
  Executor& completion;
  const std::size_t max_batch;
  const std::size_t max_batch_bytes;
  AfterFlush after_flush;

  Mutex mu;
  std::deque<Item> queue ABSL_GUARDED_BY(mu);
  bool flushing ABSL_GUARDED_BY(mu) = false;
  // A flush is due but kMaxUncompleted batches wait for completions: the
  // completion task posts it when it takes one (`flushing` stays true).
  bool flush_parked ABSL_GUARDED_BY(mu) = false;
  std::deque<Written> written ABSL_GUARDED_BY(mu);
  bool completing ABSL_GUARDED_BY(mu) = false;
  bool abandoned ABSL_GUARDED_BY(mu) = false;
  CondVar idle;  // signalled when Idle() may have become true

  std::atomic<std::uint64_t> commits{0};
  std::atomic<std::uint64_t> ops{0};
  std::atomic<std::uint64_t> latency_us{0};
};

CommitQueue::CommitQueue(MessageStore& store, Executor& commit, Executor& completion,
                         std::size_t max_batch, std::size_t max_batch_bytes)
    : state_(std::make_shared<State>(store, commit, completion, max_batch, max_batch_bytes)) {}

namespace {
std::size_t BodyBytes(const WriteOp& op) {
  const auto* append = std::get_if<AppendOp>(&op);
  return append == nullptr ? 0 : append->body.size();
}
}  // namespace

CommitQueue::~CommitQueue() { Abandon(); }

void CommitQueue::set_after_flush(AfterFlush f) { state_->after_flush = std::move(f); }

void CommitQueue::Submit(WriteOp op, Done done) {
  bool post = false;
  {
    MutexLock lock(&state_->mu);
    if (state_->abandoned) return;  // `done` is destroyed unrun
    state_->queue.push_back(State::Item{std::move(op), std::move(done)});
    if (!state_->flushing) {
      state_->flushing = true;
      post = true;
    }
  }
  if (post) state_->executor.Post([state = state_] { Flush(state); });
}

void CommitQueue::Flush(const std::shared_ptr<State>& state) {
  std::vector<State::Item> batch;
  {
    MutexLock lock(&state->mu);
    if (state->abandoned) {
      state->flushing = false;
      state->idle.SignalAll();
      return;
    }
    if (state->written.size() >= kMaxUncompleted) {
      state->flush_parked = true;  // Complete() posts the flush again
      return;
    }
    const std::size_t n = std::min(state->max_batch, state->queue.size());
    batch.reserve(n);
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t b = BodyBytes(state->queue.front().op);
      if (!batch.empty() && bytes + b > state->max_batch_bytes) break;
      bytes += b;
      batch.push_back(std::move(state->queue.front()));
      state->queue.pop_front();
    }
  }
  bool post_completion = false;
  std::deque<State::Written> dropped;  // destroyed outside the lock
  if (!batch.empty()) {
    std::vector<WriteOp> ops;
    ops.reserve(batch.size());
    for (State::Item& item : batch) ops.push_back(std::move(item.op));
    const auto start = std::chrono::steady_clock::now();
    std::vector<absl::StatusOr<WriteResult>> results = state->store.Write(ops);
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    state->latency_us.fetch_add(static_cast<std::uint64_t>(us), std::memory_order_relaxed);
    state->commits.fetch_add(1, std::memory_order_relaxed);
    state->ops.fetch_add(batch.size(), std::memory_order_relaxed);
    if (results.size() != batch.size()) {
      results.assign(batch.size(),
                     absl::InternalError("store returned a result count unlike its batch"));
    }
    State::Written w;
    w.done.reserve(batch.size());
    for (State::Item& item : batch) w.done.push_back(std::move(item.done));
    w.results = std::move(results);
    MutexLock lock(&state->mu);
    if (state->abandoned) {
      dropped.push_back(std::move(w));
    } else {
      state->written.push_back(std::move(w));
      if (!state->completing) {
        state->completing = true;
        post_completion = true;
      }
    }
  }
  if (post_completion) state->completion.Post([state] { Complete(state); });
  bool again = false;
  {
    MutexLock lock(&state->mu);
    if (state->queue.empty() || state->abandoned) {
      state->flushing = false;
      state->idle.SignalAll();
    } else {
      again = true;
    }
  }
  if (again) state->executor.Post([state] { Flush(state); });
}

// Runs the completions of the oldest written batch, then re-posts itself
// while more wait (one batch per task, so other tasks interleave).
void CommitQueue::Complete(const std::shared_ptr<State>& state) {
  State::Written w;
  bool post_flush = false;
  {
    MutexLock lock(&state->mu);
    if (state->abandoned || state->written.empty()) {
      state->completing = false;
      state->idle.SignalAll();
      return;
    }
    w = std::move(state->written.front());
    state->written.pop_front();
    if (state->flush_parked) {
      state->flush_parked = false;
      post_flush = true;
    }
  }
  if (post_flush) state->executor.Post([state] { Flush(state); });
  for (std::size_t i = 0; i < w.done.size(); ++i) std::move(w.done[i])(std::move(w.results[i]));
  if (state->after_flush) state->after_flush();
  bool again = false;
  {
    MutexLock lock(&state->mu);
    if (state->written.empty() || state->abandoned) {
      state->completing = false;
      state->idle.SignalAll();
    } else {
      again = true;
    }
  }
  if (again) state->completion.Post([state] { Complete(state); });
}

void CommitQueue::WaitIdle() {
  MutexLock lock(&state_->mu);
  while (!state_->Idle()) state_->idle.Wait(&state_->mu);
}

void CommitQueue::Abandon() {
  std::deque<State::Item> dropped;
  std::deque<State::Written> dropped_written;
  {
    MutexLock lock(&state_->mu);
    state_->abandoned = true;
    dropped.swap(state_->queue);
    dropped_written.swap(state_->written);
    if (state_->flush_parked) {  // no completion task will post it now
      state_->flush_parked = false;
      state_->flushing = false;
    }
    state_->idle.SignalAll();
  }
  // Completions die here, outside the lock: they may hold the last
  // references to sessions and, through them, to the engine.
}

std::uint64_t CommitQueue::depth() const {
  MutexLock lock(&state_->mu);
  return state_->queue.size();
}
std::uint64_t CommitQueue::commits() const {
  return state_->commits.load(std::memory_order_relaxed);
}
std::uint64_t CommitQueue::committed_ops() const {
  return state_->ops.load(std::memory_order_relaxed);
}
std::uint64_t CommitQueue::latency_us_total() const {
  return state_->latency_us.load(std::memory_order_relaxed);
}

}  // namespace courier::internal
