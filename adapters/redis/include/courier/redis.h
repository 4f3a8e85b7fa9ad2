// courier/redis.h: presence, last seen and cross-node signals in Redis.
//
// A PresenceStore shared by every node of a cluster, on hiredis (0.14: plain
// TCP, RESP2). Data in Redis, for a user U and a node N (P = key_prefix):
//   P online:{U}     hash: device -> "node|refreshed_ms". The key expires
//                    ttl_ms after its last write; a device whose refreshed_ms
//                    + ttl_ms is past (by the store's Clock) counts as gone,
//                    so a killed node's devices go offline within the TTL.
//   P last_seen:{U}  decimal ms, written when the last device leaves, and
//                    raised on every connect and heartbeat (reported only
//                    while offline, so a killed node's users keep the time
//                    they were last refreshed after their online key
//                    expires); never moves backwards.
//   P courier:node:N the pub/sub channel of node N; a message is
//                    "1|kind|user|device|from_node".
// The braces make both keys of a user one Redis Cluster hash slot. Connect,
// Disconnect and Heartbeat are Lua scripts (atomic per user); Heartbeat and
// Lookup send one pipeline for many users.
//
// Model: two connections. Calls run on a command connection under a mutex,
// on the caller's thread. A dedicated I/O thread holds the subscriber
// connection, reconnects both, and hands received signals to a dispatcher
// thread, which calls the handlers (never the I/O thread, never inside
// Publish or Subscribe). A signal for a node subscribed on this same store
// is delivered locally without a round trip through Redis.
//
// Faults: every call also records the node's own sessions in local memory.
// When Redis does not answer (refused, reset, timed out), the store logs that
// once (a warning through the log sink of courier/log.h), answers from local memory (this process's
// registrations and last seen) and returns OK, while the I/O thread retries
// with exponential backoff and jitter. A command that timed out may still
// take effect in Redis later; the scripts are idempotent, so that is harmless.
// On reconnect it replays the disconnects it missed, re-registers
// every local session, re-subscribes every subscribed node, and logs once
// more. Meanwhile Publish to another store's node fails with kUnavailable
// (signals are best effort) and Subscribe serves local publishes only.
//
// Ownership: OpenPresenceStore returns a store owned by the caller; it
//   borrows `clock`, which must outlive it.
// Thread-safety: the store is safe for concurrent use. Handlers run on the
//   store's dispatcher thread, one at a time.
// Blocking: calls share the command connection one at a time, and wait for
//   each Redis reply at most command_timeout_ms (then fall back to memory);
//   a Lookup or Heartbeat of many users makes one round trip per
//   pipeline_batch commands. Subscribe waits up to command_timeout_ms for
//   Redis to confirm the subscription. Unsubscribe waits for a running handler.
//   The destructor joins the store's threads.
#ifndef COURIER_ADAPTERS_REDIS_REDIS_H_
#define COURIER_ADAPTERS_REDIS_REDIS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "courier/clock.h"
#include "courier/export.h"
#include "courier/presence_store.h"
#include "courier/types.h"

namespace courier::redis {

// Reconnect delays. Attempt k (0-based) after a failure waits
//   nominal(k) = min(max_ms, initial_ms * multiplier^k)
//   delay(k)   = nominal(k) * (1 - jitter * u), u uniform in [0, 1).
// With the defaults (100 ms, x2, 10 s, jitter 0.5), the nominal delays are
//   100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, ... ms
// and each actual delay lies in [nominal/2, nominal], e.g. 50-100 ms, then
// 100-200 ms, ... and 5-10 s once capped. A successful reconnect starts
// again at attempt 0.
struct RedisBackoff {
  TimeMs initial_ms = 100;  // >= 1
  TimeMs max_ms = 10'000;   // >= initial_ms
  double multiplier = 2.0;  // >= 1
  double jitter = 0.5;      // in [0, 1]; 0 = no randomness
};

// The delay before reconnect attempt `attempt`, for a uniform `u` in [0, 1)
// (see RedisBackoff). Pure; exposed for tests and for logging.
COURIER_EXPORT TimeMs BackoffDelayMs(const RedisBackoff& backoff, int attempt, double u);

struct RedisPresenceOptions {
  // Where. A url is parsed by RedisOptionsFromUrl instead.
  std::string host = "127.0.0.1";
  int port = 6379;                // 1-65535
  std::string username;           // Redis 6 ACL user; empty = AUTH with password only
  std::string password;           // empty = no AUTH
  int db = 0;                     // SELECT db, 0-15 on a default server
  std::string key_prefix;         // prepended to every key and channel; <= 64 bytes,
                                  // no spaces or braces (tests isolate themselves
                                  // with it)

  // Behaviour.
  TimeMs ttl_ms = 30'000;         // registrations live this long without heartbeat; >= 100
  bool open_while_unreachable = false;  // Open succeeds, degraded, when Redis is down

  // Timeouts.
  TimeMs connect_timeout_ms = 2'000;  // TCP connect + AUTH/SELECT/SCRIPT LOAD; >= 1
  TimeMs command_timeout_ms = 2'000;  // each reply, and Subscribe's wait; >= 1
  RedisBackoff backoff;

  // Limits.
  std::size_t max_lookup_users = 10'000;  // larger Lookups: kInvalidArgument
  std::size_t pipeline_batch = 512;       // commands per pipelined round trip
  std::size_t max_pending_disconnects = 100'000;  // kept while Redis is down;
                                                  // beyond, the oldest expire by TTL
};

// Parses "redis://[[user]:password@]host[:port][/db]" (port 6379, db 0 by
// default; the other fields keep their defaults). kInvalidArgument for
// anything else, including "rediss://" (hiredis 0.14 has no TLS).
COURIER_EXPORT absl::StatusOr<RedisPresenceOptions> RedisOptionsFromUrl(std::string_view url);

// Validates `options`, connects, loads the scripts and starts the store's
// threads. kInvalidArgument for bad options; when Redis is unreachable,
// kUnavailable / kDeadlineExceeded with hiredis's text, unless
// open_while_unreachable (then the store starts degraded and keeps retrying).
COURIER_EXPORT absl::StatusOr<std::unique_ptr<PresenceStore>> OpenPresenceStore(
    const RedisPresenceOptions& options, const Clock& clock);

}  // namespace courier::redis

#endif  // COURIER_ADAPTERS_REDIS_REDIS_H_
