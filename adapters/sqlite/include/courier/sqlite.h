// courier/sqlite.h: the embedded, durable stores, on one SQLite file.
//
// courier::sqlite keeps the inboxes (courier/message_store.h) and the
// accounts (courier/account_store.h) in a SQLite database in WAL mode. Both
// stores may share one file: each opens its own connections and owns its own
// tables, and SQLite's locking orders their transactions. Every
// MessageStore::Write() batch is ONE transaction (BEGIN IMMEDIATE ... COMMIT),
// so the engine's group commit turns many sends into one fsync.
//
//   courier::sqlite::SqliteOptions options;
//   options.path = "/var/lib/courier/courier.db";
//   COURIER_ASSIGN_OR_RETURN(auto messages, courier::sqlite::OpenMessageStore(options));
//   COURIER_ASSIGN_OR_RETURN(auto accounts, courier::sqlite::OpenAccountStore(options));
//
// Schema: a table `courier_schema(component, version)` records the schema
// version of each store ("messages", "accounts"); opening a database migrates
// it forward in one transaction, and refuses (kFailedPrecondition) a database
// written by a newer Courier. Messages schema 3 (this build) keeps one index
// on disk, (inbox, seq); the (sender, cid) and (inbox, message id) lookups
// are in-memory hash indexes that OpenMessageStore loads with one scan of the
// stored messages (about 60 bytes of memory per stored message; the scan
// reads every message row once, so opening takes longer as the file grows)
// and that follow other connections' appends. Upgrading from schema 1 copies
// the events table once.
//
// Groups (courier/group.h; schema 3, added to an older file in place: its
// events become 1:1 events): the table `group_records(id, record)` keeps one
// row per group, the bytes of EncodeGroupRecord; `group_members(member,
// group_id)` one row per member of each group (GroupsOf and the groups-per-
// user count read its (member, ...) range); each event row keeps its
// Event::group in `group_id` (NULL for 1:1 messages and receipts). A group
// send appends one row per recipient in the batch's transaction; only the
// sender's own copy keeps the client id, so the (sender, cid) record lives
// and dies with that copy. Group() and GroupsOf() read on the reader
// connection, like Fetch.
//
// Memory: besides those indexes, each connection holds a page cache of up to
// cache_size_kib, and the message store's writer caches the inboxes and
// cursors rows it touched (up to 100,000 rows, then it starts over).
//
// Errors: SQLite result codes map to absl codes in one place: busy/locked,
// I/O errors, a full disk and a read-only database are kUnavailable (retry
// later; nothing of the failed batch is stored); a damaged file or one that
// is not a database is kDataLoss; the SQLite message is kept in the text.
//
// Ownership: the factories return stores owned by the caller. Closing a store
//   (destroying it) closes its connections; committed data stays in the file.
// Thread-safety: both stores are safe for concurrent use by any number of
//   threads. Writes are serialized on one connection; MessageStore reads
//   (Fetch, Head, Cursor, Group, GroupsOf) use a second connection and run
//   beside them.
// Blocking: every method does file I/O; Write() waits for the commit (and its
//   fsync when durability is kPowerLoss), and any call may wait up to
//   busy_timeout_ms for another process's lock before kUnavailable.
#ifndef COURIER_ADAPTERS_SQLITE_SQLITE_H_
#define COURIER_ADAPTERS_SQLITE_SQLITE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "courier/account_store.h"
#include "courier/export.h"
#include "courier/message_store.h"

namespace courier::sqlite {

struct SqliteOptions {
  // --- Location -------------------------------------------------------------

  // The database file; created (with its directory's permissions) when
  // missing. Its directory must exist and be writable: SQLite puts the WAL
  // (`<path>-wal`) and shared-memory (`<path>-shm`) files beside it. Required
  // (an empty path is kInvalidArgument). ":memory:" and temporary databases
  // are refused: use courier::memory for stores without a file.
  std::string path;

  // --- Durability -------------------------------------------------------------

  // What a successful Write() survives.
  enum class Durability {
    // Default. PRAGMA synchronous=FULL: every commit is on disk (the WAL is
    // fsync'ed) before Write() returns, so an acknowledged message survives a
    // power cut or kernel crash. The cost is one fsync per batch, which the
    // engine's group commit shares among all the sends in the batch.
    kPowerLoss,
    // PRAGMA synchronous=NORMAL in WAL mode: a commit is in the OS page cache
    // when Write() returns and is fsync'ed at the next checkpoint. Survives a
    // killed or crashed server process; a power cut may lose the most recent
    // commits (the database itself stays consistent). Opt-in, for benchmarks
    // and deployments that accept that.
    kProcessCrash,
  };
  Durability durability = Durability::kPowerLoss;

  // --- Concurrency ------------------------------------------------------------

  // How long a statement waits for a lock held by another connection (the
  // other store on the same file, another process, a checkpoint) before the
  // call fails with kUnavailable. Default 5 s. Must be >= 0.
  int busy_timeout_ms = 5'000;

  // --- Performance ------------------------------------------------------------

  // Page cache per connection, in KiB (PRAGMA cache_size=-N). Default 8 MiB.
  // Must be >= 0; 0 keeps SQLite's default (2 MiB).
  int cache_size_kib = 8 * 1024;

  // The WAL is checkpointed into the database file when it grows past this
  // many pages (PRAGMA wal_autocheckpoint; 4 KiB pages). Default 1000 (about
  // 4 MiB, SQLite's default). Must be >= 0; 0 disables automatic checkpoints.
  // After a checkpoint the `-wal` file is cut back to at most 64 MiB.
  int wal_autocheckpoint_pages = 1'000;

  // --- Limits -------------------------------------------------------------------

  // The largest size the database file may reach, in bytes (PRAGMA
  // max_page_count, rounded down to whole pages). 0 (the default) means no
  // limit but the disk's. When a write would pass the limit it fails exactly
  // as on a full disk: kUnavailable, nothing of the batch is stored, earlier
  // commits are intact. Must be >= 0.
  std::int64_t max_size_bytes = 0;

  // --- Presets --------------------------------------------------------------------

  // The defaults above at `path`: durable across power loss.
  static SqliteOptions Durable(std::string path) {
    SqliteOptions o;
    o.path = std::move(path);
    return o;
  }
  // kProcessCrash durability at `path`: faster commits, survives a killed
  // process but not a power cut.
  static SqliteOptions Fast(std::string path) {
    SqliteOptions o = Durable(std::move(path));
    o.durability = Durability::kProcessCrash;
    return o;
  }
};

// Opens (creating or migrating as needed) the inboxes in `options.path`.
// Errors: kInvalidArgument for bad options; kDataLoss when the file is not a
// SQLite database or is damaged; kFailedPrecondition when its schema is newer
// than this build; kUnavailable when the file cannot be opened or locked.
COURIER_EXPORT absl::StatusOr<std::unique_ptr<MessageStore>> OpenMessageStore(const SqliteOptions& options);

// Opens (creating or migrating as needed) the accounts in `options.path`,
// which may be the same file as the message store's. Errors as above.
COURIER_EXPORT absl::StatusOr<std::unique_ptr<AccountStore>> OpenAccountStore(const SqliteOptions& options);

}  // namespace courier::sqlite

#endif  // COURIER_ADAPTERS_SQLITE_SQLITE_H_
