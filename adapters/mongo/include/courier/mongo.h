// courier/mongo.h: MessageStore and AccountStore on MongoDB (mongo-c-driver).
//
// Collections (in `database`):
//   inbox_events     one document per inbox event {u, s, k, m, p, b, st, t},
//                    plus g (the group) for a group's events;
//                    unique index (u, s); index (t) for pruning.
//   inbox_heads      one document per user: the inbox head (the seq counter)
//                    and the device cursors {_id: user, head, maxc, dev: [{d, c}]}.
//   messages         status of every received message {_id: id, r, snd, cid,
//                    s, t, st}; unique index (snd, cid) makes sends
//                    idempotent; index (r, st, s) serves acks. A group
//                    message has one per member, {_id: "<id>/<member>",
//                    m: id, g: group, ...}; only the sender's own holds the
//                    real cid (the others "\0" + their _id, which no client
//                    can send), so pruning a member's copy keeps the
//                    sender's (sender, cid).
//   groups           one document per group {_id: group id, rec: the bytes
//                    of EncodeGroupRecord, v: version}, changed by
//                    compare-and-set on v; without transactions also a
//                    lease {lk, lt} that serializes the group's ops.
//   group_members    one document per membership {_id: "<user>/<group>", u,
//                    g}; index (u) for GroupsOf and the groups-per-user count.
//   users, last_seen, friend_pairs (one document per pair of users,
//                    updated by compare-and-set)   the AccountStore.
// The indexes are created on open (an existing index is left alone).
//
// Seqs come from `findAndModify {$inc: {head: n}}` on the recipient's
// inbox_heads document, one per recipient for all n appends to it in a run
// of appends, so concurrent servers never hand out the same seq; such a run
// costs a fixed number of commands plus one per recipient, whatever its
// size (adapters/mongo/README.md, "Write path"). A Write batch runs in ONE multi-document transaction when the deployment
// supports them (a replica set or a sharded cluster; see `transactions`), its
// events inserted with one bulk insert_many; a conflict with a concurrent
// batch (TransientTransactionError, a duplicate (sender, cid) racing in)
// rolls the batch back and answers kAborted, a conflict: the engine's
// commit queue writes it again, where the duplicate takes the idempotent
// path. DeleteInbox and AccountStore::DeleteUser answer such a conflict
// kAborted too (retry them). On a standalone server there are no transactions: each
// op runs as single-document atomic steps (the (sender, cid) is claimed in
// `messages` before a seq is taken; receipts come from conditional updates;
// friendships change by compare-and-set), so concurrent servers still keep
// inboxes gapless and free of duplicates, but a batch is not atomic and a
// crash in the middle of one can leave a gap in an inbox (Fetch stops before
// a gap younger than 30 s, while another server may still be filling it);
// DeleteInbox is not atomic either: a write to the inbox racing it may leave
// an event or a seq behind (courier-server disables and disconnects a user
// before it deletes the inbox, so only late receipts can race it);
// run a replica set in production (see adapters/mongo/README.md).
//
// Errors: driver and server errors map once to canonical codes, keeping the
// driver's text: no server selectable, network errors, "not primary" ->
// kUnavailable; socket or server time limits (MaxTimeMSExpired, write
// concern timeout) -> kDeadlineExceeded; conflicts (write conflicts,
// transient transaction errors, a duplicate key in a transaction) -> kAborted; authentication -> kUnauthenticated / kPermissionDenied.
//
// Process-wide effects: the first Open calls mongoc_init() and routes the
// driver's log (mongoc_log_set_handler) to Courier's log sink (courier/log.h)
// for warnings and errors, dropping debug and info lines, which the driver
// would print to stdout.
//
// Ownership: the factories return stores owned by the caller; each owns its
//   mongoc_client_pool_t.
// Thread-safety: the stores are safe for concurrent use by any number of
//   threads (each call takes one client from the pool).
// Blocking: every call blocks until the server answers or the timeouts below
//   pass: server selection (serverSelectionTimeoutMS), each socket read or
//   write (socketTimeoutMS), and the wait for a pooled client.
#ifndef COURIER_ADAPTERS_MONGO_MONGO_H_
#define COURIER_ADAPTERS_MONGO_MONGO_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "courier/account_store.h"
#include "courier/export.h"
#include "courier/message_store.h"

namespace courier::mongo {

enum class MongoTransactions {
  kAuto,      // use transactions when the deployment is a replica set or sharded
  kRequired,  // refuse to open (kFailedPrecondition) on a standalone server
  kOff,       // never (tests, or a standalone server on purpose)
};

struct MongoOptions {
  // --- where
  // A MongoDB connection string, e.g.
  // "mongodb://h1:27017,h2:27017,h3:27017/?replicaSet=rs0". Options in the
  // URI are kept; the timeouts below override the same ones in the URI.
  std::string uri;
  // The database holding Courier's collections. 1-63 of [A-Za-z0-9_-].
  std::string database = "courier";

  // --- durability
  // Write concern of every write and transaction commit: "majority" by
  // default (acknowledged by a majority of the replica set), or a number of
  // members ("1" = the primary alone).
  std::string write_concern_w = "majority";
  // Wait for the journal (on-disk) before acknowledging. Default on: a
  // committed send survives a power cut.
  bool journal = true;
  // wtimeout: how long the server waits for the write concern, then
  // kDeadlineExceeded (the write may still be applied).
  std::int64_t write_concern_timeout_ms = 10'000;

  // --- timeouts
  std::int64_t server_selection_timeout_ms = 5'000;
  std::int64_t connect_timeout_ms = 5'000;
  // Each socket read or write; bounds every call against a silent server.
  std::int64_t socket_timeout_ms = 15'000;
  // Server-side limit of each query (maxTimeMS).
  std::int64_t max_time_ms = 10'000;
  // Wait for a free pooled client, then kUnavailable.
  std::int64_t pool_wait_timeout_ms = 10'000;

  // --- behaviour
  int pool_size = 16;  // the most clients (connections per server) at once
  MongoTransactions transactions = MongoTransactions::kAuto;
  // No longer used: a transaction runs once and a conflict (a transient
  // transaction error, a duplicate (sender, cid) racing in) answers
  // kAborted; the engine's commit queue retries a Write batch
  // (EngineOptions::max_write_attempts, and WriteRetryingConflicts in
  // courier/message_store.h for a caller of Write without an engine).
  // Kept, and still validated (at least 1), so that code setting it builds.
  int max_batch_attempts = 10;
};

// Options from a URI as given to courier-server's --store flag:
// "mongodb://..." or "mongodb+srv://...". Courier-specific query parameters
// are taken out and the rest is passed to the driver unchanged:
//   courier_database=NAME, courier_w=majority|N, courier_journal=true|false,
//   courier_transactions=auto|required|off, courier_pool_size=N.
// The path of the URI ("mongodb://h/NAME") also names the database.
// kInvalidArgument for another scheme or a bad value.
COURIER_EXPORT absl::StatusOr<MongoOptions> MongoOptionsFromUrl(std::string_view url);

// Connects (a server must be selectable within the server selection
// timeout, else kUnavailable), creates the indexes and returns the store.
// kInvalidArgument for bad options.
COURIER_EXPORT absl::StatusOr<std::unique_ptr<MessageStore>> OpenMessageStore(const MongoOptions& options);
COURIER_EXPORT absl::StatusOr<std::unique_ptr<AccountStore>> OpenAccountStore(const MongoOptions& options);

}  // namespace courier::mongo

#endif  // COURIER_ADAPTERS_MONGO_MONGO_H_
