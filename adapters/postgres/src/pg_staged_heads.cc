#include "pg_staged_heads.h"

#include <algorithm>
#include <variant>

namespace courier::postgres {

bool StagedHeads::Predict(absl::Span<const WriteOp> ops, HeadPredictions& out) {
  MutexLock lock(&mu_);
  if (backoff_ > 0) {
    --backoff_;
    return false;
  }
  if (heads_.empty()) return true;
  for (const WriteOp& op : ops) {
    const auto* a = std::get_if<AppendOp>(&op);
    if (a == nullptr) continue;
    const auto it = heads_.find(a->recipient);
    if (it != heads_.end()) out.emplace(a->recipient, it->second.head);
  }
  return true;
}

std::uint64_t StagedHeads::Record(absl::Span<const absl::StatusOr<WriteResult>> results) {
  MutexLock lock(&mu_);
  const std::uint64_t batch = next_batch_++;
  auto note = [&](const std::vector<Appended>& appended) {
    for (const Appended& a : appended) {
      Entry& e = heads_[a.user];
      e.head = std::max(e.head, a.event.seq);
      e.batch = batch;
    }
  };
  for (const auto& r : results) {
    if (!r.ok()) continue;
    if (const auto* x = std::get_if<AppendResult>(&*r)) note(x->appended);
    if (const auto* x = std::get_if<AckResult>(&*r)) note(x->appended);
    if (const auto* x = std::get_if<ReadResult>(&*r)) note(x->appended);
  }
  return batch;
}

void StagedHeads::Committed(std::uint64_t batch, bool ok) {
  MutexLock lock(&mu_);
  if (!ok) {
    heads_.clear();
    return;
  }
  for (auto it = heads_.begin(); it != heads_.end();) {
    if (it->second.batch <= batch) {
      heads_.erase(it++);
    } else {
      ++it;
    }
  }
}

void StagedHeads::Failed() {
  MutexLock lock(&mu_);
  backoff_ = kBackoffBatches;
  heads_.clear();
}

void StagedHeads::Forget() {
  MutexLock lock(&mu_);
  heads_.clear();
}

std::size_t StagedHeads::size() const {
  MutexLock lock(&mu_);
  return heads_.size();
}

}  // namespace courier::postgres
