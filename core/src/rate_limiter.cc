#include "rate_limiter.h"

#include <algorithm>
#include <cmath>

#include "absl/hash/hash.h"

namespace courier::internal {

double RateLimiter::Refilled(const Bucket& b, TimeMs now) const {
  const double capacity = limit_.count;
  if (limit_.period_ms <= 0) return capacity;
  const double rate = capacity / static_cast<double>(limit_.period_ms);  // tokens per ms
  const double elapsed = static_cast<double>(std::max<TimeMs>(0, now - b.updated));
  return std::min(capacity, b.tokens + elapsed * rate);
}

std::int64_t RateLimiter::Acquire(const UserId& user, TimeMs now) {
  if (limit_.count == 0) return std::max<TimeMs>(1, limit_.period_ms);
  Shard& shard = shards_[absl::Hash<UserId>{}(user) % shards_.size()];
  MutexLock lock(&shard.mu);
  auto [it, inserted] = shard.buckets.try_emplace(user);
  Bucket& b = it->second;
  if (inserted) {
    b.tokens = limit_.count;
    b.updated = now;
  }
  b.tokens = Refilled(b, now);
  b.updated = std::max(b.updated, now);
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  const double rate = static_cast<double>(limit_.count) / static_cast<double>(limit_.period_ms);
  const double wait = (1.0 - b.tokens) / rate;
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait)));
}

void RateLimiter::Refund(const UserId& user) {
  Shard& shard = shards_[absl::Hash<UserId>{}(user) % shards_.size()];
  MutexLock lock(&shard.mu);
  auto it = shard.buckets.find(user);
  if (it == shard.buckets.end()) return;
  it->second.tokens = std::min<double>(limit_.count, it->second.tokens + 1.0);
}

void RateLimiter::Sweep(TimeMs now) {
  for (Shard& shard : shards_) {
    MutexLock lock(&shard.mu);
    for (auto it = shard.buckets.begin(); it != shard.buckets.end();) {
      if (Refilled(it->second, now) >= limit_.count) {
        shard.buckets.erase(it++);
      } else {
        ++it;
      }
    }
  }
}

}  // namespace courier::internal
