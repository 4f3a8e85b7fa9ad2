// hash_gate.h: a bounded queue in front of password hashing (Argon2id).
//
// Every Argon2id run costs about 64 MiB and tens of milliseconds of a CPU,
// and anyone can ask for one (register, login). The gate lets at most
// `max_running` runs go at once and at most `max_waiting` more callers wait
// for a turn; a caller beyond that is refused at once with kUnavailable (no
// hash computed), so a flood costs the server nothing but the refusal, and
// the HTTP threads that are not held by the gate stay free for everything
// else (/healthz, friends, ...).
//
// The work runs on the caller's thread (an HTTP thread): the gate admits, it
// does not own threads. So max_running + max_waiting must stay below the
// number of HTTP threads for other requests to keep being served; the server
// checks that at start.
//
// Refusals carry a Retry-After hint (status payload, see RetryAfterMs).
// Thread-safety: safe for concurrent use.
// Blocking: Run blocks while waiting for a turn (at most `max_wait`) and
//   while `fn` runs; a refusal never blocks.
#ifndef COURIER_EXAMPLES_SERVER_HASH_GATE_H_
#define COURIER_EXAMPLES_SERVER_HASH_GATE_H_

#include <cstddef>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace courier::server {

struct HashGateStats {
  std::uint64_t admitted = 0;  // runs done or under way
  std::uint64_t refused = 0;   // answered kUnavailable at once (queue full)
  std::uint64_t timed_out = 0; // waited max_wait without a turn
  std::size_t running = 0;
  std::size_t waiting = 0;
};

class HashGate {
 public:
  // max_running >= 1; max_waiting >= 0; max_wait > 0.
  HashGate(std::size_t max_running, std::size_t max_waiting, absl::Duration max_wait);

  // Runs `fn` once a turn is free. kUnavailable with a Retry-After hint,
  // without running `fn`, when max_running + max_waiting callers are already
  // in, or when no turn came within max_wait.
  absl::Status Run(absl::FunctionRef<void()> fn);

  HashGateStats stats() const;

 private:
  const std::size_t max_running_;
  const std::size_t max_waiting_;
  const absl::Duration max_wait_;
  mutable absl::Mutex mu_;
  std::size_t running_ ABSL_GUARDED_BY(mu_) = 0;
  std::size_t waiting_ ABSL_GUARDED_BY(mu_) = 0;
  HashGateStats counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_HASH_GATE_H_
