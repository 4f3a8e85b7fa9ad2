#include "commit_queue.h"

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

namespace courier::internal {

struct CommitQueue::State {
  State(MessageStore& s, Executor& e, std::size_t m, std::size_t b)
      : store(s), executor(e), max_batch(m == 0 ? 1 : m), max_batch_bytes(b) {}

  struct Item {
    WriteOp op;
    Done done;
  };

  MessageStore& store;
  Executor& executor;
  const std::size_t max_batch;
  const std::size_t max_batch_bytes;
  AfterFlush after_flush;

  Mutex mu;
  std::deque<Item> queue ABSL_GUARDED_BY(mu);
  bool flushing ABSL_GUARDED_BY(mu) = false;
  bool abandoned ABSL_GUARDED_BY(mu) = false;
  CondVar idle;  // signalled when the queue becomes empty and idle

  std::atomic<std::uint64_t> commits{0};
  std::atomic<std::uint64_t> ops{0};
  std::atomic<std::uint64_t> latency_us{0};
};

CommitQueue::CommitQueue(MessageStore& store, Executor& executor, std::size_t max_batch,
                         std::size_t max_batch_bytes)
    : state_(std::make_shared<State>(store, executor, max_batch, max_batch_bytes)) {}

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
    for (std::size_t i = 0; i < batch.size(); ++i) {
      std::move(batch[i].done)(std::move(results[i]));
    }
    if (state->after_flush) state->after_flush();
  }
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

void CommitQueue::WaitIdle() {
  MutexLock lock(&state_->mu);
  while (!state_->queue.empty() || state_->flushing) state_->idle.Wait(&state_->mu);
}

void CommitQueue::Abandon() {
  std::deque<State::Item> dropped;
  {
    MutexLock lock(&state_->mu);
    state_->abandoned = true;
    dropped.swap(state_->queue);
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
