// abuse_limits.h: the hash gate and the login throttle that the flags ask
// for (--hash-threads, --hash-queue, --login-*, --register-rate, --redis).
//
// Counters go to Redis when --redis is given (a cluster throttles as one),
// else to memory. When hash_threads + hash_queue leave no HTTP thread free,
// a warning says that other requests may wait behind hashing.
// Thread-safety: call once at start-up. Blocking: never (Redis is connected
//   on first use).
#ifndef COURIER_EXAMPLES_SERVER_ABUSE_LIMITS_H_
#define COURIER_EXAMPLES_SERVER_ABUSE_LIMITS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "courier/clock.h"
#include "hash_gate.h"
#include "options.h"
#include "throttle.h"

namespace courier::server {

struct AbuseLimits {
  std::unique_ptr<HashGate> hash_gate;
  std::unique_ptr<LoginThrottle> throttle;
};

// `clock` must outlive the result.
absl::StatusOr<AbuseLimits> MakeAbuseLimits(const ServerFlags& flags, const Clock& clock);

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_ABUSE_LIMITS_H_
