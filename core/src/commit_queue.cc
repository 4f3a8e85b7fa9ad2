#include "commit_queue.h"

#include <chrono>
#include <utility>
#include <vector>

namespace courier::internal {

CommitQueue::CommitQueue(MessageStore& store, Executor& executor, std::size_t max_batch)
    : store_(store), executor_(executor), max_batch_(max_batch == 0 ? 1 : max_batch) {}

void CommitQueue::Submit(WriteOp op, Done done) {
  bool post = false;
  {
    MutexLock lock(&mu_);
    queue_.push_back(Item{std::move(op), std::move(done)});
    if (!flushing_) {
      flushing_ = true;
      post = true;
    }
  }
  if (post) executor_.Post([this] { Flush(); });
}

void CommitQueue::Flush() {
  std::vector<Item> batch;
  {
    MutexLock lock(&mu_);
    const std::size_t n = std::min(max_batch_, queue_.size());
    batch.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
  }
  if (!batch.empty()) {
    std::vector<WriteOp> ops;
    ops.reserve(batch.size());
    for (Item& item : batch) ops.push_back(std::move(item.op));
    const auto start = std::chrono::steady_clock::now();
    std::vector<absl::StatusOr<WriteResult>> results = store_.Write(ops);
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    latency_us_.fetch_add(static_cast<std::uint64_t>(us), std::memory_order_relaxed);
    commits_.fetch_add(1, std::memory_order_relaxed);
    ops_.fetch_add(batch.size(), std::memory_order_relaxed);
    if (results.size() != batch.size()) {
      results.assign(batch.size(),
                     absl::InternalError("store returned a result count unlike its batch"));
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      std::move(batch[i].done)(std::move(results[i]));
    }
    if (after_flush_) after_flush_();
  }
  bool again = false;
  {
    MutexLock lock(&mu_);
    if (queue_.empty()) {
      flushing_ = false;
      idle_.SignalAll();
    } else {
      again = true;
    }
  }
  if (again) executor_.Post([this] { Flush(); });
}

void CommitQueue::WaitIdle() {
  MutexLock lock(&mu_);
  while (!queue_.empty() || flushing_) idle_.Wait(&mu_);
}

std::uint64_t CommitQueue::depth() const {
  MutexLock lock(&mu_);
  return queue_.size();
}

}  // namespace courier::internal
