// courier/postgres.h: MessageStore and AccountStore on PostgreSQL (libpq).
//
// For deployments where one process is not enough: several courier servers
// share one PostgreSQL database. Every inbox stays gapless and ordered under
// concurrent writers because a seq is taken from a per-user counter row
// (`UPDATE ... SET head = head + 1 RETURNING head`, row-locked until commit),
// and a send is idempotent on (sender, cid) through a unique index.
//
// How a Write() batch runs: one connection from the pool, one transaction
// (BEGIN ... COMMIT), one prepared call per op to a server-side function that
// applies the op's semantics (see courier/message_store.h), all pipelined in a
// single round trip. A deadlock, a serialization failure or a unique key
// racing in from another server (a (sender, cid)) rolls the batch back, and
// every op of it answers kAborted: a conflict, which the engine's commit
// queue writes again (EngineOptions::max_write_attempts; the rerun sees the
// other server's commit and takes the idempotent path). A batch holding group ops (GroupChangeOp,
// GroupSendOp) is still one transaction on one connection, but takes two
// or three more round trips per group op: the op reads the group row
// (SELECT ... FOR UPDATE for a change, FOR SHARE for a send, so two
// servers never interleave a change of one group with another change or a
// send), asks core's PlanGroupChange / GroupSendRecipients what to write,
// then writes it; the ops before it are sent first, so it sees them.
// Adding users also takes a transaction-scoped advisory lock per added
// user, so max_groups_per_user holds under concurrent adds to different
// groups.
//
// Schema: the adapter creates its tables and functions on open when they are
// missing and upgrades older schemas step by step; the version lives in the
// table `courier_schema_version`. Version 4 added groups: `courier_groups`
// (group_id, record: the bytes of EncodeGroupRecord), `courier_group_members`
// (user_id, group_id: the (user, group) index), a `group_id` column on
// `courier_events`, and message rows keyed by (message_id, recipient) so
// that a group message has one row per member under one id (only the
// sender's own row keeps the (sender, cid); the others' cid is NULL). Opening a database whose schema is newer
// than this build fails with kFailedPrecondition. Several servers may open
// the same database at once (migrations take an advisory lock).
//
// Pipelined commits (`pipelined_commits`, on by default with a pool of at
// least 4): the store stages its writes (MessageStore::WriteStaged). A
// batch's pipeline ends in its COMMIT; WriteStaged returns the batch's
// results as soon as its statements ran and leaves the COMMIT (the WAL
// flush) running, whose result the batch's PendingSync::Sync waits for.
// Meanwhile the commit queue writes the next batch on another connection:
// a run of appends that opens it takes no counter-row lock first, but its
// seqs from the heads the committing batches left (recorded from their
// results), and moves the counter rows at the end only from those heads,
// waiting there for the earlier COMMIT. When another server moved one of
// them, or an earlier batch still committing holds one of its (sender,
// cid)s, the batch is rolled back and written again the locked way (as
// Write, its own commit awaited before WriteStaged returns), and the next
// batches do not speculate for a while. So one inbox's statements overlap
// the previous batch's disk wait, and seqs stay gapless and never reused.
// A batch holding group ops is written as Write. Up to three connections
// write at once (two batches waiting for their COMMIT, one being written);
// a PendingSync must not outlive its store. A batch is visible to readers
// once its COMMIT returned, which may be a moment before Sync returns. Attach
// reads the counter and cursor rows FOR SHARE, so that it waits for a
// batch still committing and sees its appends and acks.
//
// Durability: COMMIT returns after PostgreSQL's WAL flush with the server's
// default synchronous_commit = on; `synchronous_commit_off` trades the last
// few hundred milliseconds of commits on a crash of the database for speed.
//
// Errors: server errors map once to canonical codes, keeping the server's
// text: connection problems (SQLSTATE class 08, shutdown, too many clients)
// -> kUnavailable; statement timeout (57014) and a client-side timeout ->
// kDeadlineExceeded; deadlock/serialization (40P01/40001) -> kAborted, and
// a unique violation (23505) failing a Write batch too.
//
// Ownership: the factories return stores owned by the caller; each owns its
//   connection pool and closes it on destruction.
// Thread-safety: the stores are safe for concurrent use by any number of
//   threads; each call borrows one pooled connection.
// Blocking: every call blocks until PostgreSQL answers or the timeouts below
//   pass (then kDeadlineExceeded or kUnavailable); a call waiting for a free
//   pooled connection waits at most `pool_wait_timeout_ms`.
#ifndef COURIER_ADAPTERS_POSTGRES_POSTGRES_H_
#define COURIER_ADAPTERS_POSTGRES_POSTGRES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "courier/account_store.h"
#include "courier/export.h"
#include "courier/message_store.h"

namespace courier::postgres {

struct PostgresOptions {
  // --- where
  // A libpq connection URI or keyword/value string, e.g.
  // "postgresql://courier:secret@127.0.0.1:5432/courier?sslmode=prefer".
  std::string url;
  // Prefix of every table and function the adapter creates, so that several
  // Courier deployments can share one database. 1-32 of [a-z0-9_],
  // starting with a letter.
  std::string table_prefix = "courier_";

  // --- pool
  // Connections kept open; each concurrent call uses one. Default 4.
  int pool_size = 4;
  // How long a call waits for a free connection before kUnavailable.
  std::int64_t pool_wait_timeout_ms = 10'000;

  // --- timeouts
  // Establishing a connection (libpq connect_timeout, rounded up to whole
  // seconds, at least 2).
  std::int64_t connect_timeout_ms = 5'000;
  // Server-side statement_timeout of every statement (and lock_timeout).
  std::int64_t statement_timeout_ms = 10'000;
  // Client-side limit for one round trip (a whole pipelined batch), after
  // which the connection is cancelled, dropped and the call fails with
  // kDeadlineExceeded. Must be greater than statement_timeout_ms.
  std::int64_t call_timeout_ms = 15'000;

  // --- behaviour
  // No longer used: the store writes a batch once and answers a conflict
  // kAborted; the engine's commit queue retries it (EngineOptions::
  // max_write_attempts, and WriteRetryingConflicts in courier/message_store.h
  // for a caller of Write without an engine). Kept, and still validated (at
  // least 1), so that code setting it builds and behaves as before.
  int max_batch_attempts = 5;
  // SET synchronous_commit = off on the store's connections (see
  // Durability above). Default off: a committed send survives a power cut.
  bool synchronous_commit_off = false;
  // Stage writes (see "Pipelined commits" above); used only with a
  // pool_size of at least 4, so that readers keep a connection while three
  // batches write. Default on.
  bool pipelined_commits = true;
  // Name shown in pg_stat_activity.
  std::string application_name = "courier";
};

// Options from a URL as given to courier-server's --store flag:
// "postgresql://..." or "postgres://...". Courier-specific query parameters
// are taken out of the URL and the rest is passed to libpq unchanged:
//   courier_pool_size=N, courier_statement_timeout_ms=N,
//   courier_connect_timeout_ms=N, courier_call_timeout_ms=N,
//   courier_table_prefix=S, courier_synchronous_commit=off|on,
//   courier_pipelined_commits=on|off.
// kInvalidArgument for another scheme or a bad value.
COURIER_EXPORT absl::StatusOr<PostgresOptions> PostgresOptionsFromUrl(std::string_view url);

// Connects (at least one connection, so a wrong URL fails here with
// kUnavailable), creates or upgrades the schema, and returns the store.
// kInvalidArgument for bad options.
COURIER_EXPORT absl::StatusOr<std::unique_ptr<MessageStore>> OpenMessageStore(const PostgresOptions& options);
COURIER_EXPORT absl::StatusOr<std::unique_ptr<AccountStore>> OpenAccountStore(const PostgresOptions& options);

}  // namespace courier::postgres

#endif  // COURIER_ADAPTERS_POSTGRES_POSTGRES_H_
