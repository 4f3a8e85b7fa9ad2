// rate_limiter.h (internal): a token bucket per user.
//
// Each user starts with `count` tokens; tokens refill continuously at
// count / period. A send takes one token; without one, the caller learns how
// long until the next token.
// Thread-safety: safe for concurrent use (sharded mutexes).
// Blocking: never blocks on I/O.
#ifndef COURIER_CORE_SRC_RATE_LIMITER_H_
#define COURIER_CORE_SRC_RATE_LIMITER_H_

#include <array>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "courier/sync.h"
#include "courier/options.h"
#include "courier/types.h"

namespace courier::internal {

class RateLimiter {
 public:
  explicit RateLimiter(RateLimit limit) : limit_(limit) {}

  // Takes a token for `user` at time `now`. Returns 0 when allowed, else the
  // milliseconds until a token will be available (>= 1).
  std::int64_t Acquire(const UserId& user, TimeMs now);

  // Gives back a token taken by Acquire (a send that stored nothing new).
  void Refund(const UserId& user);

  // Forgets users whose bucket is full again at `now` (bounds memory).
  void Sweep(TimeMs now);

 private:
  struct Bucket {
    double tokens = 0;
    TimeMs updated = 0;
  };
  struct Shard {
    Mutex mu;
    absl::flat_hash_map<UserId, Bucket> buckets ABSL_GUARDED_BY(mu);
  };
  double Refilled(const Bucket& b, TimeMs now) const;

  RateLimit limit_;
  std::array<Shard, 16> shards_;
};

}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_RATE_LIMITER_H_
