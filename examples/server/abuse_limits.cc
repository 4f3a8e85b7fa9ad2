// abuse_limits.cc: flags -> HashGate + LoginThrottle.
#include "abuse_limits.h"

#include <spdlog/spdlog.h>

#include "courier/status.h"

namespace courier::server {

absl::StatusOr<AbuseLimits> MakeAbuseLimits(const ServerFlags& flags, const Clock& clock) {
  AbuseLimits out;
  // A waiter gives up after 10 s: the client gets 503 busy rather than a
  // request that hangs.
  out.hash_gate = std::make_unique<HashGate>(flags.hash_threads, flags.hash_queue,
                                             absl::Seconds(10));
  if (flags.hash_threads + flags.hash_queue >= flags.http_threads) {
    spdlog::warn("event=hash_gate_wide hash_threads={} hash_queue={} http_threads={} "
                 "message=\"hashing can hold every HTTP thread: /healthz and other requests "
                 "may wait behind it; give --http-threads more than --hash-threads + "
                 "--hash-queue\"",
                 flags.hash_threads, flags.hash_queue, flags.http_threads);
  }
  std::unique_ptr<CounterStore> counters;
  if (flags.redis.empty()) {
    counters = MakeMemoryCounters();
  } else {
    COURIER_ASSIGN_OR_RETURN(counters, MakeRedisCounters(flags.redis));
  }
  ThrottlePolicy policy;
  policy.free_failures = static_cast<std::int64_t>(flags.login_free_failures);
  policy.free_failures_per_address =
      static_cast<std::int64_t>(flags.login_free_failures_per_address);
  policy.base_delay_ms = static_cast<TimeMs>(flags.login_backoff_ms);
  policy.max_delay_ms = static_cast<TimeMs>(flags.login_backoff_max_ms);
  std::optional<RateLimitFlag> reg = ParseRateLimit(flags.register_rate);
  if (!reg.has_value()) return absl::InvalidArgumentError("--register-rate must be N/SECONDS");
  policy.registrations = reg->count;
  policy.registration_window_ms = reg->period_s * 1000;
  policy.limit_loopback = flags.throttle_loopback;
  out.throttle = std::make_unique<LoginThrottle>(policy, std::move(counters), clock);
  return out;
}

}  // namespace courier::server
