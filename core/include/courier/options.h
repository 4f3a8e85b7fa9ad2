// courier/options.h: what the engine may accept and how it behaves.
//
// Every field has a default that suits the example server; benchmarks raise
// the rate limit by option, never by code.
// Thread-safety: plain values.
#ifndef COURIER_CORE_OPTIONS_H_
#define COURIER_CORE_OPTIONS_H_

#include <cstddef>
#include <cstdint>

#include "courier/types.h"

namespace courier {

class Clock;
class Executor;

// Limits on every input: each violation gets a clear error, never a crash.
struct Limits {
  std::size_t max_body_bytes = 64 * 1024;        // "body" of a send
  std::size_t max_read_ids = 1000;                // ids of one "read"
  std::uint64_t max_undelivered = 100'000;        // per inbox; then queue_full
  std::size_t window = 256;                       // unacked events in flight per device
  std::size_t fetch_page = 512;                   // events read from the store at once
  std::size_t max_sessions_per_user = 64;         // devices connected at once
  // Groups (courier/group.h): copied into every group op's GroupLimits.
  std::size_t max_group_members = 256;            // at most kMaxGroupMembers (1024)
  std::size_t max_groups_per_user = 256;
  std::size_t max_group_name_bytes = 128;
  // How long a typing "on" lasts at the receiver without a refresh.
  TimeMs typing_ttl_ms = 6'000;
};

// Token bucket per sending user: `count` sends per `period_ms`, refilled
// continuously. The default is the original system's 50 per 15 minutes.
struct RateLimit {
  std::uint32_t count = 50;
  TimeMs period_ms = 900'000;
};

struct EngineOptions {
  // --- identity
  NodeId node = "node-1";  // this process's name in the cluster

  // --- behaviour
  Limits limits;
  RateLimit rate_limit;
  // Typing ops per user (Session::Typing): beyond it they are dropped.
  RateLimit typing_rate{20, 10'000};

  // --- timing
  // A connected device re-reads its inbox head at least this often, so a
  // lost wake-up only delays delivery.
  TimeMs head_poll_ms = 2'000;
  // Presence registrations are refreshed this often (see PresenceStore).
  TimeMs presence_heartbeat_ms = 10'000;
  // Prune() of the store runs this often; 0 disables pruning by the engine.
  TimeMs prune_interval_ms = 3'600'000;
  TimeMs acked_retention_ms = 7LL * 24 * 3600 * 1000;
  TimeMs ttl_ms = 30LL * 24 * 3600 * 1000;
  // The engine remembers that the ContactPolicy let one user send to another
  // for this long, then asks it again. The bound is how long a node that did
  // not see an account's deletion (Engine::ForgetUser runs on one node) may
  // still accept sends to it. 0 asks the policy on every send.
  TimeMs contact_cache_ttl_ms = 60'000;

  // --- performance
  // The most ops one store transaction takes (group commit batch size).
  std::size_t max_batch_ops = 2048;
  // ... and at most this many bytes of message bodies (at least one op), so
  // that a flood of large messages holds a bounded amount of memory while a
  // batch is written.
  std::size_t max_batch_bytes = 4 * 1024 * 1024;
  // Writes of one batch at most when the store answers a conflict (kAborted:
  // a deadlock, a duplicate key racing in from another server): the ops in
  // conflict are written again after a jittered wait of 1..5*n ms
  // (WriteRetryingConflicts, courier/message_store.h); a conflict left
  // after the last attempt answers the send `unavailable`. This took the
  // place of PostgresOptions/MongoOptions::max_batch_attempts.
  int max_write_attempts = 10;

  // --- environment (borrowed; each must outlive the engine; null = default)
  Clock* clock = nullptr;                // default: SystemClock()
  // default: an own single thread; two for a store that stages writes
  // (MessageStore::StagesWrites), so that one batch's wait for durability
  // overlaps the next batch's work. A borrowed executor of one thread runs
  // them one after the other.
  Executor* commit_executor = nullptr;
  // The delivery executor also runs the commit queue's completions (answers
  // to sends, routing of appended events) of sessions whose transport has no
  // executor of its own (Transport::executor()), one lane task at a time,
  // while the commit executor writes the next batch; Shutdown() with an own
  // commit executor waits for every completion, so a borrowed delivery
  // executor, and the transports' executors, must keep running until it
  // returns.
  Executor* delivery_executor = nullptr; // default: an own pool of 2 threads
};

}  // namespace courier

#endif  // COURIER_CORE_OPTIONS_H_
