// throttle.h: login throttling and registration limits, per account and per
// client address.
//
// LOGIN. Each account and each client address has a failure counter. The
// first `free_failures` failures (per address: `free_failures_per_address`)
// cost nothing; after that, f failures block further attempts until
//   last_failure + min(max_delay_ms, base_delay_ms * 2^(f - free))
// and an attempt while blocked is refused (429 "throttled", Retry-After)
// without checking the password and without counting. A success resets the
// account's counter (not the address's). Counters are forgotten
// forget_after_ms after their last failure. So a guesser gets a few tries,
// then ever fewer, down to one per max_delay_ms per account; and once the
// guessing stops the owner, from any address, waits at most the current
// delay (the address counter of the guesser's address does not touch the
// owner's).
//
// REGISTRATION. At most `count` registrations per client address per
// `window_ms` (a fixed window that starts with the first); more answer 429
// "throttled" with Retry-After.
//
// WHERE. Counters live in a CounterStore: in this process (memory), or in
// Redis when the server runs with --redis, so that every node of a cluster
// counts the same failures. A Redis that does not answer is logged and the
// counting falls back to this process's memory until it answers again.
//
// Ownership: the throttle owns its CounterStore; borrows `clock`.
// Thread-safety: safe for concurrent use. Attempts racing through the same
//   open window may each be checked before either failure is counted (at
//   most as many as run at once, bounded by the hash gate).
// Blocking: with Redis, each call makes one round trip (at most the command
//   timeout); in memory, never.
#ifndef COURIER_EXAMPLES_SERVER_THROTTLE_H_
#define COURIER_EXAMPLES_SERVER_THROTTLE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "courier/clock.h"
#include "courier/types.h"

namespace courier::server {

// Failure counters and window counters by key (keys are short ASCII).
// Thread-safety: implementations are safe for concurrent use.
class CounterStore {
 public:
  struct Failures {
    std::int64_t count = 0;
    TimeMs last_ms = 0;
  };
  virtual ~CounterStore() = default;
  virtual absl::StatusOr<Failures> Get(const std::string& key) = 0;
  // count + 1, last = now; the key is forgotten keep_ms after now.
  virtual absl::StatusOr<Failures> AddFailure(const std::string& key, TimeMs now,
                                              TimeMs keep_ms) = 0;
  virtual absl::Status Reset(const std::string& key) = 0;
  // Adds one to the key's window counter and returns it with the ms left in
  // the window; a window starts with the first hit and lasts window_ms.
  struct Window {
    std::int64_t count = 0;
    TimeMs left_ms = 0;
  };
  virtual absl::StatusOr<Window> Hit(const std::string& key, TimeMs now, TimeMs window_ms) = 0;
};

// In this process. At most `max_keys` keys: past that, expired keys are
// swept, and if none expired the oldest half is dropped (logged).
std::unique_ptr<CounterStore> MakeMemoryCounters(std::size_t max_keys = 200'000);

// In Redis at `redis_url` (redis://...), keys "courier:throttle:<key>",
// falling back to memory while Redis does not answer. kInvalidArgument for a
// bad URL; kFailedPrecondition when built without hiredis. Does not connect
// until first used.
absl::StatusOr<std::unique_ptr<CounterStore>> MakeRedisCounters(const std::string& redis_url);

struct ThrottlePolicy {
  std::int64_t free_failures = 5;               // per account
  std::int64_t free_failures_per_address = 20;  // per client address
  TimeMs base_delay_ms = 1'000;
  TimeMs max_delay_ms = 60'000;
  TimeMs forget_after_ms = 3'600'000;
  // Registrations per address per window.
  std::int64_t registrations = 5;
  TimeMs registration_window_ms = 3'600'000;
  // Per-address limits (login and registration) also for loopback clients
  // (127.0.0.0/8, ::1). Off by default: local tools and test rigs register
  // and log in many users from one address. Behind a local reverse proxy
  // every client is loopback: turn it on, or rely on the account limits.
  bool limit_loopback = false;
};

// True for 127.0.0.0/8, ::1 and ::ffff:127.x.x.x.
bool IsLoopback(std::string_view address);

// The wait after `failures` failures with `free` free ones (0 while free).
TimeMs ThrottleDelayMs(const ThrottlePolicy& policy, std::int64_t failures, std::int64_t free);

// "ip:port" or "[v6]:port" -> the address without the port.
std::string ClientAddress(std::string_view remote);

class LoginThrottle {
 public:
  LoginThrottle(ThrottlePolicy policy, std::unique_ptr<CounterStore> counters, const Clock& clock)
      : policy_(policy), counters_(std::move(counters)), clock_(clock) {}

  // OK when a login for `user` (a valid or invalid name) from `address` may
  // be tried now; else kResourceExhausted "throttled" with Retry-After.
  // A counter store error lets the attempt through (logged).
  absl::Status CheckLogin(const std::string& user, const std::string& address);
  // Counts a failed login (wrong pair) for both.
  void LoginFailed(const std::string& user, const std::string& address);
  // Resets the account's counter.
  void LoginSucceeded(const std::string& user);

  // Counts a registration attempt from `address`; kResourceExhausted
  // "throttled" with Retry-After past the limit.
  absl::Status CheckRegistration(const std::string& address);

  const ThrottlePolicy& policy() const { return policy_; }

 private:
  absl::Status Blocked(const std::string& key, std::int64_t free, std::string_view what);
  bool LimitAddress(const std::string& address) const {
    return policy_.limit_loopback || !IsLoopback(address);
  }

  const ThrottlePolicy policy_;
  const std::unique_ptr<CounterStore> counters_;
  const Clock& clock_;
};

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_THROTTLE_H_
