#include "database.h"

#include <algorithm>
#include <cstdarg>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "courier/status.h"
#include "courier/sync.h"
#include "keys.h"
#include "rocksdb/cache.h"
#include "rocksdb/compaction_filter.h"
#include "rocksdb/env.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/sst_file_manager.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "rocksdb_error.h"

namespace courier::rocksdb {
namespace {

namespace fs = std::filesystem;

constexpr char kInboxFamily[] = "inbox";
constexpr char kAccountsFamily[] = "accounts";
constexpr char kSchemaKey[] = "courier.schema";
// 1: the first layout. 2: groups ('G' and 'U' keys, kGroupChange events and
// the group of an event, keys.h); a version 1 database needs no conversion
// (its values read as they are) and is marked 2 when opened, so that a build
// that knows only 1 refuses it instead of misreading a group event.
// 3: read marks ('R' keys, keys.h): a message read while no cursor had passed
// it has one, and an ack reads the marks instead of each message's 'M' key.
// A version 1 or 2 database gets the marks of its read-and-undelivered
// messages once, in one batch with the new version (MarkReadUndelivered);
// a build that knows only 2 refuses it, since it would write no marks.
constexpr std::uint64_t kSchemaVersion = 3;
constexpr std::uint64_t kFirstWithReadMarks = 3;

// Drops the index keys ('M', 'S') and read marks ('R') of messages that a
// finished Prune removed for their age (see Database::PublishPruneCutoff);
// keeps everything else.
class IndexExpiryFilter final : public ::rocksdb::CompactionFilter {
 public:
  explicit IndexExpiryFilter(std::shared_ptr<std::atomic<TimeMs>> cutoff)
      : cutoff_(std::move(cutoff)) {}
  bool Filter(int /*level*/, const ::rocksdb::Slice& key, const ::rocksdb::Slice& value,
              std::string* /*new_value*/, bool* /*value_changed*/) const override {
    if (key.empty() ||
        (key[0] != keys::kMessage && key[0] != keys::kSend && key[0] != keys::kReadMark)) {
      return false;
    }
    TimeMs expiry = 0;
    if (!keys::ExpiryOf(key[0], std::string_view(value.data(), value.size()), &expiry)) {
      return false;
    }
    return expiry < cutoff_->load(std::memory_order_acquire);
  }
  const char* Name() const override { return "courier.IndexExpiryFilter"; }

 private:
  std::shared_ptr<std::atomic<TimeMs>> cutoff_;
};

// Where the memtable remembers its last insert (see FamilyOptions): a key
// inserted after another of the same prefix goes in by a search from the
// previous one's place instead of from the skiplist's top. Events arrive in
// seq order per inbox ('E' inbox \0); message ids ('M' inbox \0) are
// time-ordered by the engine; a sender's client ids ('S' sender \0) often
// count up; even when they do not, the search spans only that one inbox's or
// sender's keys. A hint costs some 250 bytes of the memtable's own arena
// (RocksDB's Splice: two pointers per skiplist level) and a node of its hint
// map per prefix, so memory stays within write_buffer_bytes. The cursor keys
// share ONE hint ('C'): a batch writes its cursors in key order, each from
// the previous one's place. A hint per cursor key made every new device (a
// connect's only write to this family) cost some 280 bytes of memtable and
// hint map beside its 48-56-byte entry (bench/README, fifteenth session).
class InsertHintPrefix final : public ::rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "courier.InsertHintPrefix"; }
  ::rocksdb::Slice Transform(const ::rocksdb::Slice& key) const override {
    const std::string_view k(key.data(), key.size());
    if (k[0] == keys::kEvent) return ::rocksdb::Slice(key.data(), key.size() - 8);
    if (k[0] == keys::kCursor) return ::rocksdb::Slice(key.data(), 1);
    return ::rocksdb::Slice(key.data(), k.find('\0') + 1);  // 'M' or 'S'
  }
  bool InDomain(const ::rocksdb::Slice& key) const override {
    const std::string_view k(key.data(), key.size());
    if (k.empty()) return false;
    switch (k[0]) {
      case keys::kEvent:
        return !keys::EventKeyInbox(k).empty();
      case keys::kCursor:
        return true;
      case keys::kMessage:
      case keys::kSend:
        return k.find('\0') != std::string_view::npos;
      default:
        return false;
    }
  }
};

// RocksDB's own informational log, dropped. Its default, a LOG file in the
// database directory, aborted the server on a full disk: the file's writer
// asserts when a write after a failed one comes (the abuse test's full disk
// found it). What matters reaches callers as statuses.
class DiscardingLogger final : public ::rocksdb::Logger {
 public:
  DiscardingLogger() : ::rocksdb::Logger(::rocksdb::InfoLogLevel::HEADER_LEVEL) {}
  using ::rocksdb::Logger::Logv;
  void Logv(const char* /*format*/, va_list /*ap*/) override {}
};

bool SameOptions(const RocksdbOptions& a, const RocksdbOptions& b) {
  return a.durability == b.durability && a.write_buffer_bytes == b.write_buffer_bytes &&
         a.block_cache_bytes == b.block_cache_bytes && a.max_size_bytes == b.max_size_bytes &&
         a.env == b.env;
}

absl::Status ValidateOptions(const RocksdbOptions& o) {
  if (o.path.empty()) return absl::InvalidArgumentError("rocksdb: options.path is required");
  if (o.write_buffer_bytes < (1u << 20)) {
    return absl::InvalidArgumentError("rocksdb: write_buffer_bytes must be at least 1 MiB");
  }
  if (o.cache_max_inboxes < 1) {
    return absl::InvalidArgumentError("rocksdb: cache_max_inboxes must be at least 1");
  }
  if (o.max_size_bytes < 0) {
    return absl::InvalidArgumentError("rocksdb: max_size_bytes must be >= 0");
  }
  return absl::OkStatus();
}

// True when every entry of `path` is a file RocksDB makes while it creates a
// database (LOCK, LOG*, IDENTITY, MANIFEST-*, OPTIONS-*, *.dbtmp, *.log):
// what a first open that crashed before writing CURRENT leaves. Nothing was
// acknowledged from such a directory (OpenMessageStore had not returned), so
// creating the database over it loses nothing. Found by the power-loss test.
bool OnlyRocksdbLeftovers(const std::string& path) {
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(path, ec)) {
    const std::string name = entry.path().filename().string();
    const auto starts = [&](std::string_view p) { return name.rfind(p, 0) == 0; };
    const auto ends = [&](std::string_view s) {
      return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    const bool ours = name == "LOCK" || name == "IDENTITY" || starts("LOG") ||
                      starts("MANIFEST-") || starts("OPTIONS-") || ends(".dbtmp") ||
                      ends(".log");
    if (!ours || !entry.is_regular_file(ec)) return false;
  }
  return !ec;
}

// Refuses a path that is a file, or a directory with something in it that is
// not a RocksDB database; creates a missing directory.
absl::Status PrepareDirectory(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st)) {
      return absl::FailedPreconditionError(
          absl::StrCat("rocksdb: ", path, " is a file, not a database directory"));
    }
    if (!LooksLikeRocksdb(path) && !fs::is_empty(path, ec) && !OnlyRocksdbLeftovers(path)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "rocksdb: ", path, " is a directory that holds files but no RocksDB database; "
          "refusing to create a store in it"));
    }
    return absl::OkStatus();
  }
  fs::create_directories(path, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("rocksdb: cannot create ", path, ": ", ec.message()));
  }
  return absl::OkStatus();
}

::rocksdb::ColumnFamilyOptions FamilyOptions(const RocksdbOptions& o,
                                             const std::shared_ptr<::rocksdb::Cache>& cache) {
  ::rocksdb::ColumnFamilyOptions cf;
  cf.write_buffer_size = o.write_buffer_bytes;
  cf.max_write_buffer_number = 2;
  // Bodies are sealed by BodyCipher: compressing them only costs CPU.
  cf.compression = ::rocksdb::kNoCompression;
  // A point lookup that misses (a new cid, a new message id: every append)
  // is answered by bloom filters, in the memtable and in each table file.
  cf.memtable_whole_key_filtering = true;
  cf.memtable_prefix_bloom_size_ratio = 0.02;
  // The profile of a W1-like mix showed 65 % of the store's CPU inserting
  // into the memtable's skiplist (a search from the top per key); hints
  // skip most of that (InsertHintPrefix; needs single-writer inserts).
  cf.memtable_insert_with_hint_prefix_extractor = std::make_shared<InsertHintPrefix>();
  ::rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.no_block_cache = cache == nullptr;
  table.filter_policy.reset(::rocksdb::NewBloomFilterPolicy(10));
  table.whole_key_filtering = true;
  // 16 KiB data blocks, not RocksDB's 4 KiB: a drain's Fetch walks an
  // inbox's events in key order (about 130 bytes each, 100 per block
  // instead of 25), and each block it enters costs a read, a checksum
  // and a cache insert (a third of Fetch in W2's profile, bench/README,
  // sixteenth session). Point lookups of new keys stop at the filters;
  // table files of either size stay readable (no format change).
  table.block_size = 16u << 10;
  // Index and filter blocks live with each open table file, not in the
  // block cache: a compaction's table of 725,000 keys had an 884 KiB filter
  // that never fit one 512 KiB shard of the 8 MiB cache, and every append's
  // lookup read it back from the file (20x slower after ~200,000 appends,
  // found by a long core_bench run). Their memory grows with the keys on
  // disk: about 1.3 bytes per key for the filters (10 bits), less for the
  // index, within max_open_files tables.
  table.cache_index_and_filter_blocks = false;
  cf.table_factory.reset(::rocksdb::NewBlockBasedTableFactory(table));
  return cf;
}

Mutex& RegistryMutex() {
  static Mutex* mu = new Mutex();
  return *mu;
}
absl::flat_hash_map<std::string, std::weak_ptr<Database>>& Registry() {
  static auto* map = new absl::flat_hash_map<std::string, std::weak_ptr<Database>>();
  return *map;
}

// The inbox of a key `space` inbox \0 ... (empty if it is not one).
std::string_view InboxOf(std::string_view key) {
  const std::size_t nul = key.find('\0');
  return nul == std::string_view::npos ? std::string_view() : key.substr(1, nul - 1);
}

// Puts into `batch` the read mark of every message that is read and above
// its inbox's highest cursor: one scan of the 'M' keys, and per inbox one
// scan of its 'C' keys. (Marks of pruned messages may be among them: no
// event is there for an ack to pass, and the compaction filter drops them
// with their 'M' keys.)
absl::Status MarkReadUndelivered(::rocksdb::DB& db, ::rocksdb::ColumnFamilyHandle* inbox_cf,
                                 ::rocksdb::WriteBatch& batch) {
  const std::string first(1, keys::kMessage);
  const std::string end(1, static_cast<char>(keys::kMessage + 1));
  ::rocksdb::Slice upper(end);
  ::rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<::rocksdb::Iterator> it(db.NewIterator(ro, inbox_cf));
  std::unique_ptr<::rocksdb::Iterator> cursors(db.NewIterator(::rocksdb::ReadOptions(), inbox_cf));
  std::string inbox;
  Seq max_cursor = 0;
  for (it->Seek(first); it->Valid(); it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    const std::string_view name = InboxOf(key);
    if (name.empty()) continue;
    if (name != inbox) {
      inbox = std::string(name);
      max_cursor = 0;
      const std::string prefix = keys::PairPrefix(keys::kCursor, inbox);
      for (cursors->Seek(prefix); cursors->Valid() && cursors->key().starts_with(prefix);
           cursors->Next()) {
        const ::rocksdb::Slice value = cursors->value();
        COURIER_ASSIGN_OR_RETURN(
            Seq c, keys::DecodeU64(std::string_view(value.data(), value.size()), "cursor"));
        max_cursor = std::max(max_cursor, c);
      }
      COURIER_RETURN_IF_ERROR(ToStatus(cursors->status(), "read cursors"));
    }
    COURIER_ASSIGN_OR_RETURN(
        keys::MessageRecord m,
        keys::DecodeMessage(std::string_view(it->value().data(), it->value().size())));
    if (!m.read || m.seq <= max_cursor) continue;
    const std::string expiry = keys::EncodeU64(static_cast<std::uint64_t>(m.expiry));
    COURIER_RETURN_IF_ERROR(
        ToStatus(batch.Put(inbox_cf, keys::ReadMarkKey(inbox, m.seq), expiry), "batch put"));
  }
  return ToStatus(it->status(), "mark read undelivered messages");
}

}  // namespace

bool LooksLikeRocksdb(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) && fs::is_regular_file(fs::path(path) / "CURRENT", ec);
}

absl::StatusOr<std::shared_ptr<Database>> Database::Acquire(const RocksdbOptions& options) {
  COURIER_RETURN_IF_ERROR(ValidateOptions(options));
  std::error_code ec;
  std::string key = fs::weakly_canonical(fs::absolute(options.path, ec), ec).string();
  if (key.empty()) key = options.path;
  MutexLock lock(&RegistryMutex());
  auto& registry = Registry();
  if (auto it = registry.find(key); it != registry.end()) {
    if (std::shared_ptr<Database> open = it->second.lock()) {
      if (!SameOptions(open->options(), options)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "rocksdb: ", options.path, " is already open in this process with other options"));
      }
      return open;
    }
  }
  COURIER_ASSIGN_OR_RETURN(std::unique_ptr<Database> opened, Open(options));
  std::shared_ptr<Database> shared(std::move(opened));
  registry[key] = shared;
  return shared;
}

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const RocksdbOptions& o) {
  COURIER_RETURN_IF_ERROR(PrepareDirectory(o.path));
  const bool existed = LooksLikeRocksdb(o.path);
  std::unique_ptr<Database> d(new Database());
  d->options_ = o;
  d->published_cutoff_ = std::make_shared<std::atomic<TimeMs>>(
      std::numeric_limits<TimeMs>::min());
  d->filter_ = std::make_unique<IndexExpiryFilter>(d->published_cutoff_);

  ::rocksdb::DBOptions db;
  db.create_if_missing = true;
  db.create_missing_column_families = true;
  if (o.env != nullptr) db.env = o.env;
  db.max_background_jobs = 2;
  // One writer at a time (the store's lock): the memtable's insert hints
  // (FamilyOptions) work only with single-threaded inserts.
  db.allow_concurrent_memtable_write = false;
  db.max_open_files = 256;
  db.info_log = std::make_shared<DiscardingLogger>();
  // Opening replays the WAL into the memtable and keeps it (no table file
  // per open): a restart costs a read of the log, not a flush.
  db.avoid_flush_during_recovery = true;
  // Two memtables per family at most, then flush: bounds the WAL as well.
  db.max_total_wal_size = 4 * o.write_buffer_bytes;
  if (o.max_size_bytes > 0) {
    db.sst_file_manager.reset(::rocksdb::NewSstFileManager(db.env));
    db.sst_file_manager->SetMaxAllowedSpaceUsage(static_cast<std::uint64_t>(o.max_size_bytes));
  }
  if (o.block_cache_bytes > 0) d->cache_ = ::rocksdb::NewLRUCache(o.block_cache_bytes);
  ::rocksdb::ColumnFamilyOptions family = FamilyOptions(o, d->cache_);
  ::rocksdb::ColumnFamilyOptions inbox_family = family;
  inbox_family.compaction_filter = d->filter_.get();

  if (existed) {
    std::vector<std::string> names;
    ::rocksdb::Status listed = ::rocksdb::DB::ListColumnFamilies(db, o.path, &names);
    if (!listed.ok()) return ToStatus(listed, absl::StrCat("list column families of ", o.path));
    for (const std::string& name : names) {
      if (name != ::rocksdb::kDefaultColumnFamilyName && name != kInboxFamily &&
          name != kAccountsFamily) {
        return absl::FailedPreconditionError(absl::StrCat(
            "rocksdb: ", o.path, " holds a RocksDB database that is not Courier's (column family \"",
            name, "\")"));
      }
    }
  }
  std::vector<::rocksdb::ColumnFamilyDescriptor> families = {
      {::rocksdb::kDefaultColumnFamilyName, family},
      {kInboxFamily, inbox_family},
      {kAccountsFamily, family},
  };
  std::vector<::rocksdb::ColumnFamilyHandle*> handles;
  ::rocksdb::DB* raw = nullptr;
  ::rocksdb::Status opened = ::rocksdb::DB::Open(db, o.path, families, &handles, &raw);
  if (!opened.ok()) return ToStatus(opened, absl::StrCat("open ", o.path));
  d->db_.reset(raw);
  d->default_ = handles[0];
  d->inbox_ = handles[1];
  d->accounts_ = handles[2];
  d->write_options_.sync = o.durability == RocksdbOptions::Durability::kPowerLoss;

  std::string version;
  ::rocksdb::Status got = raw->Get(::rocksdb::ReadOptions(), d->default_, kSchemaKey, &version);
  if (got.IsNotFound()) {
    if (existed) {
      // An existing database without Courier's schema key: empty only if a
      // first open crashed before writing it; anything else is not ours.
      std::unique_ptr<::rocksdb::Iterator> it(raw->NewIterator(::rocksdb::ReadOptions(), d->inbox_));
      it->SeekToFirst();
      if (it->Valid()) {
        return absl::FailedPreconditionError(
            absl::StrCat("rocksdb: ", o.path, " holds data without Courier's schema version"));
      }
    }
    ::rocksdb::WriteOptions sync;
    sync.sync = true;
    COURIER_RETURN_IF_ERROR(ToStatus(
        raw->Put(sync, d->default_, kSchemaKey, keys::EncodeU64(kSchemaVersion)),
        "write the schema version"));
  } else if (!got.ok()) {
    return ToStatus(got, "read the schema version");
  } else {
    COURIER_ASSIGN_OR_RETURN(std::uint64_t v, keys::DecodeU64(version, "schema version"));
    if (v > kSchemaVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          "rocksdb: ", o.path, " was written by a newer Courier (schema ", v,
          "; this build reads up to ", kSchemaVersion, ")"));
    }
    if (v < kSchemaVersion) {
      // The conversion and the new version in one batch: a crash leaves
      // either the old database (converted again by the next open) or both.
      ::rocksdb::WriteBatch upgrade;
      if (v < kFirstWithReadMarks) {
        COURIER_RETURN_IF_ERROR(MarkReadUndelivered(*raw, d->inbox_, upgrade));
      }
      COURIER_RETURN_IF_ERROR(ToStatus(
          upgrade.Put(d->default_, kSchemaKey, keys::EncodeU64(kSchemaVersion)), "batch put"));
      ::rocksdb::WriteOptions sync;
      sync.sync = true;
      COURIER_RETURN_IF_ERROR(ToStatus(raw->Write(sync, &upgrade), "upgrade the schema version"));
    }
  }
  return d;
}

Database::~Database() {
  if (db_ == nullptr) return;
  for (auto* h : {inbox_, accounts_, default_}) {
    if (h != nullptr) db_->DestroyColumnFamilyHandle(h);
  }
  db_->Close().PermitUncheckedError();
  db_.reset();
}

absl::Status Database::ScanPairs(
    ::rocksdb::ColumnFamilyHandle* cf, const ::rocksdb::ReadOptions& base, char space,
    std::string_view first, std::string_view what,
    absl::FunctionRef<absl::Status(std::string_view second, std::string_view value)> each)
    const {
  const std::string prefix = keys::PairPrefix(space, first);
  const std::string end = keys::PairPrefixEnd(space, first);
  ::rocksdb::Slice upper(end);
  ::rocksdb::ReadOptions ro = base;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<::rocksdb::Iterator> it(db_->NewIterator(ro, cf));
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    COURIER_RETURN_IF_ERROR(each(key.substr(prefix.size()),
                                 std::string_view(it->value().data(), it->value().size())));
  }
  return ToStatus(it->status(), what);
}

absl::Status Database::Recover() {
  if (!needs_resume_.load(std::memory_order_acquire)) return absl::OkStatus();
  ::rocksdb::Status resumed = db_->Resume();
  if (resumed.IsBusy()) {
    // RocksDB is recovering by itself (its SstFileManager polls the disk
    // every few seconds and resumes once write_buffer_bytes are free).
    return absl::UnavailableError(absl::StrCat(
        "rocksdb: recovering from a failed write (after a full disk, writes resume once ",
        options_.write_buffer_bytes, " bytes are free)"));
  }
  if (!resumed.ok()) return ToStatus(resumed, "resume after a failed write");
  needs_resume_.store(false, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status Database::Write(::rocksdb::WriteBatch* batch) {
  COURIER_RETURN_IF_ERROR(Recover());
  ::rocksdb::Status s = db_->Write(write_options_, batch);
  if (!s.ok()) {
    needs_resume_.store(true, std::memory_order_release);
    return ToStatus(s, "write");
  }
  return absl::OkStatus();
}

absl::Status Database::WriteUnsynced(::rocksdb::WriteBatch* batch) {
  COURIER_RETURN_IF_ERROR(Recover());
  ::rocksdb::WriteOptions unsynced = write_options_;
  unsynced.sync = false;
  ::rocksdb::Status s = db_->Write(unsynced, batch);
  if (!s.ok()) {
    needs_resume_.store(true, std::memory_order_release);
    return ToStatus(s, "write");
  }
  return absl::OkStatus();
}

absl::Status Database::SyncWal() {
  ::rocksdb::Status s = db_->SyncWAL();
  if (!s.ok()) {
    needs_resume_.store(true, std::memory_order_release);
    return ToStatus(s, "sync the WAL");
  }
  return absl::OkStatus();
}

void Database::BeginPrune(TimeMs ttl_cutoff) {
  TimeMs seen = pending_cutoff_.load(std::memory_order_acquire);
  while (ttl_cutoff > seen &&
         !pending_cutoff_.compare_exchange_weak(seen, ttl_cutoff, std::memory_order_acq_rel)) {
  }
}

void Database::PublishPruneCutoff(TimeMs ttl_cutoff) {
  TimeMs seen = published_cutoff_->load(std::memory_order_acquire);
  while (ttl_cutoff > seen &&
         !published_cutoff_->compare_exchange_weak(seen, ttl_cutoff, std::memory_order_acq_rel)) {
  }
}

}  // namespace courier::rocksdb
