// courier/rocksdb.h: the embedded default store, on RocksDB.
//
// courier::rocksdb keeps the inboxes (courier/message_store.h) and the
// accounts (courier/account_store.h) in one RocksDB database, a directory.
// Every MessageStore::Write() batch is ONE rocksdb::WriteBatch, applied
// atomically: after a crash either all of a batch's keys are there or none.
// At the default durability the write-ahead log is fsync'ed before Write()
// returns (WriteOptions::sync), and RocksDB's own group commit shares that
// fsync among concurrent writers, so the engine's commit queue (one batch of
// many sends per Write) pays one fsync per batch.
//
// Staged writes (MessageStore::WriteStaged, at kPowerLoss with
// RocksdbOptions::stage_writes, an opt-in): the batch
// goes to the WAL and the memtable unsynced, and its PendingSync::Sync makes
// it durable with one DB::SyncWAL, which covers every batch written before
// it (a batch whose WAL an earlier Sync covered waits for nothing). The
// writer's later batches see a staged batch at once; the readers (Fetch,
// Head, Cursor, Status, Group, GroupsOf) read a snapshot taken right after
// the newest synced batch while any batch waits for its sync, and the latest
// state otherwise, so nothing a power cut could take back is ever read. A
// synced Write (and Prune, DeleteInbox) syncs every staged batch before it.
// A failed sync fails its batch and every batch staged before it; the batch
// may still be in the memtable (and be stored by a later flush): as after a
// crash, a retried send is then answered as a duplicate.
//
//   courier::rocksdb::RocksdbOptions options;
//   options.path = "/var/lib/courier/rocksdb";
//   COURIER_ASSIGN_OR_RETURN(auto messages, courier::rocksdb::OpenMessageStore(options));
//   COURIER_ASSIGN_OR_RETURN(auto accounts, courier::rocksdb::OpenAccountStore(options));
//
// Both stores may be opened on the same path in one process: they share one
// open database (RocksDB lets one process hold a directory), which closes
// when the last store on it is destroyed. Another process holding the
// directory makes Open fail with kUnavailable ("lock held").
//
// Keys (column family "inbox"; user and device names never hold a NUL, so
// "<name>\0" is a prefix-free, ordered component; seqs are 8 big-endian bytes
// so that byte order is seq order):
//
//   'E' inbox \0 seq      an inbox event, exactly as appended (events never
//                         change); Fetch is one ordered scan from a seq. Its
//                         group (Event::group) is the value's optional last
//                         field, so values written before groups still read
//   'C' inbox \0 device   a device's cursor
//   'M' inbox \0 id       a message: its seq, sender, and whether it was read
//   'S' sender \0 cid     the first append of (sender, cid): idempotent sends
//   'F' inbox             what Prune removed: every seq <= floor is gone
//   'G' group             a group: the bytes of EncodeGroupRecord
//                         (courier/group.h)
//   'U' user \0 group     empty: `user` is a member of `group` (GroupsOf and
//                         the groups-per-user count are one scan of 'U' user)
//   'R' inbox \0 seq      a read mark: message `seq` was read while no cursor
//                         had passed it (value: its 'M' key's expiry). An
//                         ack that passes messages the cache does not hold
//                         scans the marks above the cursor (one scan, usually
//                         empty; none at all once a scan of the inbox found
//                         none, until a read writes one) and deletes those it
//                         passes, instead of reading each message's 'M' key;
//                         the sender's own copy of a group send, stored
//                         read, needs none (its event's group is set and its
//                         peer is the inbox's user).
//                         Bounded by the inbox's undelivered messages: the
//                         ack passing a mark deletes it, DeleteInbox deletes
//                         them all, and the marks of messages Prune removed
//                         undelivered go with their 'M' keys (compaction
//                         filter). A database written before the marks
//                         (schema 1, 2) gets them once, on its first open.
//
// Groups: a change reads the 'G' key, asks PlanGroupChange and writes the
// record, the 'U' keys of who joined or left and one kGroupChange event per
// told inbox (no 'M' key: it has no status). A group send writes, per
// recipient, the 'E' and 'M' keys of a 1:1 append; only the sender's own
// copy has the 'S' key (so the (sender, cid) record lives and dies with that
// copy) and its 'M' key is marked read (acks and reads of it make no
// receipts). Everything of one change or send is in the batch's WriteBatch.
// Group records and 'U' keys are never pruned, and DeleteInbox leaves them.
// A database written before groups opens as it is (nothing of it is
// converted for groups; its read marks, 'R', are written once) and is marked
// with the new schema version, which older builds refuse.
//
// No key holds a message's sent/delivered status: a message is delivered
// exactly when some device's cursor passed it (the highest cursor of the
// inbox), read when its 'M' key says so. An inbox's head is the seq of its
// last 'E' key (or, once Prune removed them all, the head kept in 'F'). So an
// append writes three keys ('E', 'M', 'S'), an ack one cursor per device per
// batch plus one receipt event per newly delivered message, a read of an
// undelivered message one more key ('R').
//
// What is cached in memory, and what bounds it: the writer keeps, for each
// inbox it has touched (except one that an attach of the batch touched and
// that has nothing to deliver at the batch's end, nothing above its highest
// cursor: an idle user's connect keeps nothing), its head, highest cursor, prune floor, the newest
// event time, its devices' cursors, and the messages above the highest cursor
// that an ack will turn into delivered receipts (seq, id, sender, read) so an
// ack reads nothing from the database. Rebuilt lazily: the first op on an
// inbox after open reads its last 'E' key, its 'C' keys and its 'F' key; the
// messages above the cursor that were appended before the open are read with
// one scan (of their events, plus one of their read marks) by the first ack
// that passes them. Bounded: at most
// cache_max_inboxes inboxes (the cache starts over at the start of a batch
// when it is full) and at most 4,096 pending messages per inbox (older ones
// are forgotten and read back by a scan when an ack reaches them, unless a
// Fetch read them lately: Fetch remembers the messages of each page of 32
// events or more (seq, id, sender, whether it is the sender's own group
// copy) for the next ack, at most 65,536 in all and 64 inboxes (a drain's
// Fetches may run far ahead of its acks' commits), forgotten by the ack
// that takes them, by DeleteInbox and by a failed batch; a page read again
// inside what is remembered adds only its newer messages). What one
// cached inbox costs: one block of about 150 bytes, its state (its first
// device's cursor inline, more devices in one sorted array) and its user
// name (inline up to 23 bytes), an 8-byte slot of the cache's map, and 80
// bytes per place of its pending list (one vector: up to
// about four places per pending message while the list is long) plus each
// message's id and sender; an inbox with nothing pending (an idle user's)
// holds no other heap block, and a list that grew past 16 places is given
// back when it empties. RocksDB's own memory: write_buffer_bytes of memtable
// (two may exist while one is flushed; the memtable's insert hints live
// inside it) and block_cache_bytes of block cache for data blocks (Prune
// reads around it: a pass over every inbox keeps none of its blocks), plus the
// index and filter blocks of the open table files (at most 256), which stay
// out of the cache so that a large table's filter is never read back per
// lookup: about 1.3 bytes per key on disk. RocksDB's own informational LOG
// is not written (errors reach the caller as statuses).
//
// Per Write(), the 'S' and 'M' keys of all its appends (and the 'S' and 'G'
// keys of its group ops) are read with one MultiGet before the ops run; a
// group send reads its recipients' 'M' keys with one more.
//
// Retention: Prune removes, per inbox, the longest run of oldest events that
// are all prunable (message_store.h's rules, judged on the newest time of any
// event up to that one, which only grows along the inbox, so that the run is
// found by a binary search of O(log n) point reads), with ONE range deletion
// per inbox, and records the new floor in 'F'. No event is read to be
// deleted. The 'M' and 'S' keys of removed messages are not deleted by
// Prune: a lookup ignores those whose seq is at or below their inbox's floor,
// and a compaction filter drops them for good once they are older than the
// TTL of a finished Prune. An event stays until every older event of its
// inbox may go too: with event times that go backwards inside an inbox
// (a clock step), an event may outlive its own retention, never the reverse.
//
// Bodies arrive sealed by courier/body_cipher.h's cipher when the caller
// wraps the store with OpenEncryptingStore, as for every store.
//
// Errors: RocksDB statuses map to absl codes in one place: I/O errors, a full
// disk, a busy or locked database are kUnavailable (nothing of the failed
// batch is stored); corruption is kDataLoss; a directory that holds another
// kind of data, or a database written by a newer Courier, is
// kFailedPrecondition. The RocksDB message is kept in the text.
//
// Ownership: the factories return stores owned by the caller. Destroying the
//   last store on a path closes the database; committed data stays in it.
// Thread-safety: both stores are safe for concurrent use by any number of
//   threads. MessageStore writes are serialized by the store; reads (Fetch,
//   Head, Cursor, Status, Group, GroupsOf) run beside them on RocksDB's own
//   snapshots.
// Blocking: every method may do file I/O; Write() waits for the WAL fsync at
//   kPowerLoss durability, and for RocksDB's write stall when compaction is
//   behind.
#ifndef COURIER_ADAPTERS_ROCKSDB_ROCKSDB_H_
#define COURIER_ADAPTERS_ROCKSDB_ROCKSDB_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "courier/account_store.h"
#include "courier/export.h"
#include "courier/message_store.h"

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace courier::rocksdb {

struct RocksdbOptions {
  // --- Location -------------------------------------------------------------

  // The database directory; created (with its parent) when missing. Required
  // (an empty path is kInvalidArgument). A directory that is not empty and
  // holds no RocksDB database is refused (kFailedPrecondition), so a typo
  // never turns another program's folder into a store.
  std::string path;

  // --- Durability -----------------------------------------------------------

  enum class Durability {
    // Default. The WAL is fsync'ed before Write() returns: an acknowledged
    // message survives a power cut or kernel crash.
    kPowerLoss,
    // The WAL is written (to the OS) before Write() returns, fsync'ed later:
    // survives a killed server process; a power cut may lose the newest
    // batches (never half of one). Opt-in, for benchmarks.
    kProcessCrash,
  };
  Durability durability = Durability::kPowerLoss;

  // At kPowerLoss: the message store stages writes (MessageStore::WriteStaged,
  // above), so that the engine's commit queue overlaps one batch's fsync with
  // the next batch's work on a second commit thread. Off by default: on the
  // 2-core machine of bench/README (twelfth session) it made W1 and W2 slower
  // (smaller batches, one more thread hand-off per batch); it may pay where
  // an fsync costs milliseconds and cores are free. Not part of the database:
  // stores on one path may differ in it.
  bool stage_writes = false;

  // --- Memory ---------------------------------------------------------------

  // Size of one memtable, in bytes (RocksDB's write_buffer_size); at most two
  // exist at a time. Default 16 MiB. Must be >= 1 MiB.
  std::size_t write_buffer_bytes = 16u << 20;
  // The block cache shared by both stores on this path. Default 8 MiB.
  // Must be >= 0 (0: no block cache, every read goes to the OS page cache).
  std::size_t block_cache_bytes = 8u << 20;
  // The writer's cache of inbox state (see the top). Default 100,000 inboxes
  // (for idle users about 200 bytes each, map slot and name included).
  // Must be >= 1.
  std::size_t cache_max_inboxes = 100'000;

  // --- Limits ---------------------------------------------------------------

  // The largest total size of the database's table files, in bytes; 0 (the
  // default) means no limit but the disk's. Past it, writes fail with
  // kUnavailable as on a full disk (RocksDB's SstFileManager).
  std::int64_t max_size_bytes = 0;

  // --- Testing and embedding ------------------------------------------------

  // The rocksdb::Env to run on; null (the default) is rocksdb::Env::Default().
  // The power-loss test passes one whose files lose what was never synced.
  // Must outlive every store opened with it.
  ::rocksdb::Env* env = nullptr;

  // --- Presets --------------------------------------------------------------

  static RocksdbOptions Durable(std::string path) {
    RocksdbOptions o;
    o.path = std::move(path);
    return o;
  }
  static RocksdbOptions Fast(std::string path) {
    RocksdbOptions o = Durable(std::move(path));
    o.durability = Durability::kProcessCrash;
    return o;
  }
};

// Opens (creating as needed) the inboxes in `options.path`.
// Errors: kInvalidArgument for bad options; kFailedPrecondition when the
// directory holds something else or a newer schema; kDataLoss when the
// database is damaged; kUnavailable when it cannot be opened or is locked by
// another process. Options must match those of a store already open on the
// same path in this process (kInvalidArgument otherwise).
COURIER_EXPORT absl::StatusOr<std::unique_ptr<MessageStore>> OpenMessageStore(const RocksdbOptions& options);

// Opens (creating as needed) the accounts in `options.path`, which may be the
// same directory as the message store's. Errors as above.
COURIER_EXPORT absl::StatusOr<std::unique_ptr<AccountStore>> OpenAccountStore(const RocksdbOptions& options);

// True when `path` is a directory that holds a RocksDB database (its CURRENT
// file); the server uses it to refuse a data dir of another store's kind.
COURIER_EXPORT bool LooksLikeRocksdb(const std::string& path);

}  // namespace courier::rocksdb

#endif  // COURIER_ADAPTERS_ROCKSDB_ROCKSDB_H_
