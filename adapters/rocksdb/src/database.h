// One open RocksDB database, shared by the message and account stores opened
// on the same path in this process (RocksDB lets one process hold a
// directory). Opened by the first Acquire() of a path, closed when the last
// shared_ptr to it goes.
//
// Column families: "inbox" (the message store's keys, keys.h), "accounts"
// (the account store's) and "default" (the schema versions). The inbox
// family runs a compaction filter that drops 'M' and 'S' keys whose expiry is
// below the TTL cutoff of a finished Prune (PublishPruneCutoff).
//
// Thread-safety: Acquire() is safe from any thread; a Database is used
// concurrently by its stores (RocksDB's DB is thread-safe; the cutoffs are
// atomics).
#ifndef COURIER_ADAPTERS_ROCKSDB_DATABASE_H_
#define COURIER_ADAPTERS_ROCKSDB_DATABASE_H_

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "courier/rocksdb.h"
#include "courier/types.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"

namespace courier::rocksdb {

class Database {
 public:
  // The open database at options.path, opening it (creating it when
  // missing) if no store of this process has it open. Errors: see
  // OpenMessageStore in rocksdb.h.
  static absl::StatusOr<std::shared_ptr<Database>> Acquire(const RocksdbOptions& options);

  ~Database();  // not copyable or movable: it owns the DB (db_, filter_)

  ::rocksdb::DB* db() const { return db_.get(); }
  ::rocksdb::ColumnFamilyHandle* inbox() const { return inbox_; }
  ::rocksdb::ColumnFamilyHandle* accounts() const { return accounts_; }
  // Write options of every write: sync at kPowerLoss durability.
  const ::rocksdb::WriteOptions& write_options() const { return write_options_; }
  const RocksdbOptions& options() const { return options_; }
  // The block cache of the families' data blocks (null when
  // block_cache_bytes is 0). For tests and figures: its GetUsage().
  const std::shared_ptr<::rocksdb::Cache>& block_cache() const { return cache_; }

  // Applies `batch`. After a failed write RocksDB refuses writes until it is
  // resumed (a full disk, an I/O error): the next Write first tries
  // DB::Resume(), so that writes work again once the cause is gone.
  absl::Status Write(::rocksdb::WriteBatch* batch);
  // As Write, never synced: the batch is in the WAL (the OS's cache of it)
  // and the memtable, durable once a later SyncWal (or synced Write)
  // returns OK.
  absl::Status WriteUnsynced(::rocksdb::WriteBatch* batch);
  // Syncs the WAL: every batch written before the call is durable when it
  // returns OK. Blocking: one fdatasync (or more, when the WAL switched files).
  absl::Status SyncWal();
  // OK when writes can be accepted: after a failed write, tries
  // DB::Resume() (kUnavailable while the cause, e.g. a full disk, lasts).
  absl::Status Recover();

  // Calls `each(second, value)` for every key (`space`, `first`, second)
  // (keys.h PairKey) of `cf`, in key order, read with `base` (its snapshot,
  // say). Returns the first error of `each`, or of the scan (named `what`).
  absl::Status ScanPairs(
      ::rocksdb::ColumnFamilyHandle* cf, const ::rocksdb::ReadOptions& base, char space,
      std::string_view first, std::string_view what,
      absl::FunctionRef<absl::Status(std::string_view second, std::string_view value)> each)
      const;

  // The TTL cutoff of the Prune under way: an index key written now gets an
  // expiry of at least this, so a compaction filter using this cutoff (once
  // published) never drops a key whose message that Prune did not remove.
  TimeMs pending_prune_cutoff() const { return pending_cutoff_.load(std::memory_order_acquire); }
  void BeginPrune(TimeMs ttl_cutoff);
  // After a Prune with `ttl_cutoff` finished: the compaction filter may drop
  // 'M'/'S' keys whose expiry is below it.
  void PublishPruneCutoff(TimeMs ttl_cutoff);

 private:
  Database() = default;
  static absl::StatusOr<std::unique_ptr<Database>> Open(const RocksdbOptions& options);

  RocksdbOptions options_;
  std::shared_ptr<std::atomic<TimeMs>> published_cutoff_;
  std::atomic<TimeMs> pending_cutoff_{0};
  std::unique_ptr<::rocksdb::CompactionFilter> filter_;
  std::shared_ptr<::rocksdb::Cache> cache_;
  std::unique_ptr<::rocksdb::DB> db_;
  ::rocksdb::ColumnFamilyHandle* inbox_ = nullptr;
  ::rocksdb::ColumnFamilyHandle* accounts_ = nullptr;
  ::rocksdb::ColumnFamilyHandle* default_ = nullptr;
  ::rocksdb::WriteOptions write_options_;
  std::atomic<bool> needs_resume_{false};
};

}  // namespace courier::rocksdb

#endif  // COURIER_ADAPTERS_ROCKSDB_DATABASE_H_
