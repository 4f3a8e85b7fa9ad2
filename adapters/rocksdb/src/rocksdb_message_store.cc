// courier/message_store.h on RocksDB (the key layout and the cache are
// described in courier/rocksdb.h).
//
// Write() applies its ops in order against the writer's cache of inbox state
// and collects their keys in one WriteBatch, then writes it (one WAL record,
// fsync'ed at kPowerLoss). The 'M' and 'S' keys a batch reads and writes
// are kept in one map, the batch's view, so that later ops of the same batch
// see them (a duplicate cid inside one batch). If the write fails, nothing of the batch is stored and
// the cache, which already holds the batch's effects, is dropped.
//
// An op's own error (queue full, ack beyond the head, bad input) is found
// before the op adds any key, so only that op fails; a read error aborts the
// whole batch (every result carries it).
//
// Reads (Fetch, Head, Cursor, Status) do not take the writer's lock: they
// read committed keys, several at a time from one snapshot.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "courier/message_store.h"
#include "courier/name_key.h"
#include "courier/rocksdb.h"
#include "courier/status.h"
#include "courier/sync.h"
#include "courier/types.h"
#include "cache_probe.h"
#include "database.h"
#include "front_queue.h"
#include "keys.h"
#include "rocksdb/db.h"
#include "rocksdb/snapshot.h"
#include "rocksdb/write_batch.h"
#include "rocksdb_error.h"

namespace courier::rocksdb {
namespace {

using OpResult = absl::StatusOr<WriteResult>;

// Messages above the highest cursor remembered per inbox (rocksdb.h).
constexpr std::size_t kMaxPendingPerInbox = 4'096;
// What Fetch remembers for the acks (FetchedRun): pages of at least this
// many events (a drain's; a reconnect's few events are still remembered by
// the writer), up to this many messages per inbox, this many inboxes.
constexpr std::size_t kMinRememberedPage = 32;
// A drain's Fetches run ahead of its acks' commits (the window opens when
// an ack arrives, its store write follows: by 2,048 held acks and the
// commit queue); with 4,096 per inbox a slow commit left the acks behind
// what was remembered, and each then read its 2,048 messages back
// (bench/README, eighteenth session). At most this many in all.
constexpr std::size_t kMaxFetchedMessages = 65'536;
constexpr std::size_t kMaxFetchedInboxes = 64;
// Inboxes looked at per Prune step (one lock hold, one WriteBatch).
constexpr std::size_t kPruneStepInboxes = 256;

std::string_view View(const ::rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

// The result of a send (AppendResult or GroupSendResult) whose (sender, cid)
// was first appended as `first`.
template <class Result>
Result DuplicateOf(keys::SendRecord first) {
  Result dup;
  dup.id = std::move(first.id);
  dup.seq = first.seq;
  dup.ts = first.ts;
  dup.duplicate = true;
  return dup;
}

class RocksdbMessageStore final : public MessageStore {
 public:
  RocksdbMessageStore(std::shared_ptr<Database> db, std::size_t cache_max_inboxes,
                      bool stage_writes)
      : db_(std::move(db)),
        cf_(db_->inbox()),
        cache_max_inboxes_(cache_max_inboxes),
        stages_(stage_writes &&
                db_->options().durability == RocksdbOptions::Durability::kPowerLoss) {}

  std::vector<absl::StatusOr<WriteResult>> Write(absl::Span<const WriteOp> ops) override {
    std::vector<absl::StatusOr<WriteResult>> results;
    if (ops.empty()) return results;
    MutexLock lock(&write_mu_);
    absl::Status status = ApplyBatch(ops, results);
    if (status.ok() && batch_.Count() > 0) {
      status = db_->Write(&batch_);
      // Synced (at kPowerLoss): so is every batch staged before it.
      if (status.ok()) MarkAllSynced();
    }
    return Finished(status, ops.size(), std::move(results));
  }

  // internal::CachedInboxes.
  std::size_t CachedInboxCount() {
    MutexLock lock(&write_mu_);
    return cache_.size();
  }

  // internal::FetchedMessages.
  std::size_t FetchedCount() ABSL_LOCKS_EXCLUDED(fetched_mu_) {
    MutexLock lock(&fetched_mu_);
    return fetched_count_;
  }

  // RocksdbOptions::stage_writes, at kPowerLoss only (at kProcessCrash,
  // Write waits for no fsync).
  bool StagesWrites() const override { return stages_; }

  // Write's batch, written to the WAL and the memtable unsynced; readers
  // keep the snapshot of before it (durable_) until its Sync.
  StagedWrite WriteStaged(absl::Span<const WriteOp> ops) override {
    if (!StagesWrites()) return MessageStore::WriteStaged(ops);  // Write, nothing to wait for
    StagedWrite out;
    if (ops.empty()) return out;
    MutexLock lock(&write_mu_);
    absl::Status status = ApplyBatch(ops, out.results);
    if (status.ok() && batch_.Count() > 0) {
      const std::uint64_t number = ++staged_batches_;
      {
        MutexLock view(&read_mu_);
        // Everything written so far is durable: readers keep this state.
        if (durable_ == nullptr) durable_ = TakeSnapshot();
        written_through_ = number;
      }
      status = db_->WriteUnsynced(&batch_);
      if (status.ok()) out.sync = std::make_unique<StagedSync>(*this, number, TakeSnapshot());
    } else if (status.ok() && staged_batches_ > 0) {
      // Nothing to write (say, only duplicates), but its answers may rest on
      // batches staged before it: it waits for their sync.
      out.sync = std::make_unique<StagedSync>(*this, staged_batches_, nullptr);
    }
    out.results = Finished(status, ops.size(), std::move(out.results));
    return out;
  }

  absl::StatusOr<std::vector<Event>> Fetch(const UserId& user, Seq after,
                                           std::size_t limit) override {
    COURIER_RETURN_IF_ERROR(ValidateFetch(user, limit));
    std::vector<Event> out;
    if (after == std::numeric_limits<Seq>::max()) return out;
    out.reserve(std::min<std::size_t>(limit, 512));  // a drain's page: no regrowth
    const std::string end = keys::EventEnd(user);
    ::rocksdb::Slice upper(end);
    // Before the read: a DeleteInbox or failed batch after it bumps it.
    const std::uint64_t generation = fetched_generation_.load(std::memory_order_acquire);
    ReadView view = Reader(/*consistent=*/false);
    ::rocksdb::ReadOptions& ro = view.ro;
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<::rocksdb::Iterator> it(db_->db()->NewIterator(ro, cf_));
    for (it->Seek(keys::EventKey(user, after + 1)); it->Valid() && out.size() < limit;
         it->Next()) {
      Seq seq = 0;
      if (!keys::ParseEventKey(View(it->key()), user, &seq)) break;
      COURIER_ASSIGN_OR_RETURN(keys::StoredEvent e, keys::DecodeEvent(View(it->value()), seq,
                                                                      keys::EventFields::kNoCid));
      out.push_back(std::move(e.event));
    }
    COURIER_RETURN_IF_ERROR(ToStatus(it->status(), "fetch"));
    if (out.size() >= kMinRememberedPage) RememberFetched(user, after, out, generation);
    return out;
  }

  absl::StatusOr<Seq> Head(const UserId& user) override {
    const ReadView view = Reader(/*consistent=*/true);
    COURIER_ASSIGN_OR_RETURN(StoredHead head, ReadHead(view.ro, user));
    return head.head;
  }

  absl::StatusOr<Seq> Cursor(const UserId& user, const DeviceId& device) override {
    std::string value;
    const ReadView view = Reader(/*consistent=*/false);
    ::rocksdb::Status s =
        db_->db()->Get(view.ro, cf_, keys::PairKey(keys::kCursor, user, device), &value);
    if (s.IsNotFound()) return 0;
    COURIER_RETURN_IF_ERROR(ToStatus(s, "read a cursor"));
    return keys::DecodeU64(value, "cursor");
  }

  absl::StatusOr<MessageStatus> Status(const UserId& recipient, const MessageId& id) override {
    const ReadView view = Reader(/*consistent=*/true);
    const ::rocksdb::ReadOptions& ro = view.ro;
    std::string value;
    ::rocksdb::Status s =
        db_->db()->Get(ro, cf_, keys::PairKey(keys::kMessage, recipient, id), &value);
    const absl::Status not_found =
        absl::NotFoundError(absl::StrCat("no message ", id, " for ", recipient));
    if (s.IsNotFound()) return not_found;
    COURIER_RETURN_IF_ERROR(ToStatus(s, "read a message"));
    COURIER_ASSIGN_OR_RETURN(keys::MessageRecord m, keys::DecodeMessage(value));
    COURIER_ASSIGN_OR_RETURN(std::optional<keys::FloorRecord> floor, ReadFloor(ro, recipient));
    if (floor.has_value() && m.seq <= floor->floor) return not_found;  // pruned
    if (m.read) return MessageStatus::kRead;
    COURIER_ASSIGN_OR_RETURN(auto cursors, ReadCursors(ro, recipient));
    Seq max_cursor = 0;
    for (const auto& [device, cursor] : cursors) max_cursor = std::max(max_cursor, cursor);
    return m.seq <= max_cursor ? MessageStatus::kDelivered : MessageStatus::kSent;
  }

  // Steps through the inboxes in name order, kPruneStepInboxes at a time:
  // each step holds the writer's lock for its inboxes and writes one batch
  // (a range deletion and a floor key per inbox that has something to go).
  absl::StatusOr<std::size_t> Prune(const PruneOptions& options) override {
    const TimeMs ttl_cutoff = TimeBefore(options.now, options.ttl_ms);
    const TimeMs acked_cutoff = TimeBefore(options.now, options.acked_retention_ms);
    db_->BeginPrune(ttl_cutoff);
    std::size_t removed = 0;
    std::string from(1, keys::kEvent);
    while (true) {
      COURIER_ASSIGN_OR_RETURN(std::vector<UserId> inboxes, InboxesFrom(from));
      if (inboxes.empty()) break;
      from = keys::EventEnd(inboxes.back());
      MutexLock lock(&write_mu_);
      ::rocksdb::WriteBatch batch;
      absl::Status status;
      for (const UserId& inbox : inboxes) {
        absl::StatusOr<std::size_t> n = PruneInbox(inbox, ttl_cutoff, acked_cutoff, batch);
        status = n.status();
        if (!status.ok()) break;
        removed += *n;
      }
      if (status.ok() && batch.Count() > 0) {
        status = db_->Write(&batch);
        if (status.ok()) MarkAllSynced();
      }
      if (!status.ok()) {
        cache_.clear();
        ForgetFetched();
        return status;
      }
    }
    db_->PublishPruneCutoff(ttl_cutoff);
    return removed;
  }

  // Under the writer's lock, one WriteBatch of point deletes: the events,
  // the 'M' keys of the inbox (also those of pruned messages, which the
  // floor key hid), the 'S' keys of its live messages, the cursors, the
  // read marks (seqs start again at 1) and the floor. An 'S' key of a
  // message pruned earlier may stay behind (its event, which named the cid,
  // is gone); Apply(AppendOp) does not take it for a duplicate because its
  // 'M' key no longer matches.
  absl::StatusOr<std::size_t> DeleteInbox(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    MutexLock lock(&write_mu_);
    ::rocksdb::WriteBatch batch;
    std::size_t removed = 0;
    auto delete_range = [&](const std::string& from, const std::string& to,
                            const std::function<absl::Status(std::string_view, std::string_view)>&
                                each) -> absl::Status {
      ::rocksdb::Slice upper(to);
      ::rocksdb::ReadOptions ro;
      ro.iterate_upper_bound = &upper;
      std::unique_ptr<::rocksdb::Iterator> it(db_->db()->NewIterator(ro, cf_));
      for (it->Seek(from); it->Valid(); it->Next()) {
        COURIER_RETURN_IF_ERROR(ToStatus(batch.Delete(cf_, it->key()), "batch delete"));
        if (each) COURIER_RETURN_IF_ERROR(each(View(it->key()), View(it->value())));
      }
      return ToStatus(it->status(), "delete an inbox");
    };
    COURIER_RETURN_IF_ERROR(delete_range(
        keys::EventKey(user, 0), keys::EventEnd(user),
        [&](std::string_view key, std::string_view value) -> absl::Status {
          ++removed;
          Seq seq = 0;
          if (!keys::ParseEventKey(key, user, &seq)) return absl::OkStatus();
          COURIER_ASSIGN_OR_RETURN(keys::StoredEvent e, keys::DecodeEvent(value, seq));
          // A group copy other than the sender's own has no cid: the
          // (sender, cid) record belongs to the sender's copy.
          if (e.event.kind != EventKind::kMessage || e.cid.empty()) return absl::OkStatus();
          return ToStatus(batch.Delete(cf_, keys::PairKey(keys::kSend, e.event.peer, e.cid)),
                          "batch delete");
        }));
    for (char space : {keys::kMessage, keys::kCursor, keys::kReadMark}) {
      COURIER_RETURN_IF_ERROR(delete_range(keys::PairPrefix(space, user),
                                           keys::PairPrefixEnd(space, user), nullptr));
    }
    COURIER_RETURN_IF_ERROR(
        ToStatus(batch.Delete(cf_, keys::NameKey(keys::kFloor, user)), "batch delete"));
    COURIER_RETURN_IF_ERROR(db_->Write(&batch));
    MarkAllSynced();
    cache_.erase(user);
    ForgetFetched();  // its seqs start again at 1
    return removed;
  }

  absl::StatusOr<GroupRecord> Group(const GroupId& id) override {
    std::string value;
    ::rocksdb::Status s = ::rocksdb::Status::NotFound();
    if (ValidateGroupId(id).ok()) {  // else it names no group
      const ReadView view = Reader(/*consistent=*/false);
      s = db_->db()->Get(view.ro, cf_, keys::NameKey(keys::kGroup, id), &value);
    }
    if (s.IsNotFound()) {
      return MakeGroupError(GroupError::kUnknownGroup, absl::StrCat("no group ", id));
    }
    COURIER_RETURN_IF_ERROR(ToStatus(s, "read a group"));
    return DecodeGroupRecord(value);
  }

  // The 'U' keys of `user` and then their 'G' keys, from one snapshot.
  absl::StatusOr<std::vector<GroupRecord>> GroupsOf(const UserId& user) override {
    const ReadView view = Reader(/*consistent=*/true);
    const ::rocksdb::ReadOptions& ro = view.ro;
    COURIER_ASSIGN_OR_RETURN(std::vector<GroupId> ids, GroupIdsOf(ro, user));
    std::vector<std::string> group_keys;
    group_keys.reserve(ids.size());
    for (const GroupId& id : ids) group_keys.push_back(keys::NameKey(keys::kGroup, id));
    std::vector<GroupRecord> out;
    if (group_keys.empty()) return out;
    // 'U' user \0 id and 'G' id sort alike by id.
    std::vector<::rocksdb::Slice> slices(group_keys.begin(), group_keys.end());
    std::vector<::rocksdb::PinnableSlice> values(group_keys.size());
    std::vector<::rocksdb::Status> statuses(group_keys.size());
    db_->db()->MultiGet(ro, cf_, slices.size(), slices.data(), values.data(), statuses.data(),
                        /*sorted_input=*/true);
    for (std::size_t i = 0; i < group_keys.size(); ++i) {
      if (statuses[i].IsNotFound()) {
        return absl::DataLossError(absl::StrCat("rocksdb: ", user, " is a member of group ",
                                                group_keys[i].substr(1), ", which has no record"));
      }
      COURIER_RETURN_IF_ERROR(ToStatus(statuses[i], "read a group"));
      COURIER_ASSIGN_OR_RETURN(GroupRecord record, DecodeGroupRecord(View(values[i])));
      out.push_back(std::move(record));
    }
    return out;
  }

  absl::Status Ping() override {
    std::string value;
    ::rocksdb::Status s =
        db_->db()->Get(::rocksdb::ReadOptions(), cf_, keys::NameKey(keys::kFloor, ""), &value);
    if (!s.ok() && !s.IsNotFound()) return ToStatus(s, "ping");
    return db_->Recover();
  }

 private:
  // A message above the highest cursor whose delivery an ack will record.
  struct Pending {
    Seq seq = 0;
    MessageId id;
    UserId sender;
    bool read = false;
    bool marked = false;  // a ReadOp wrote its read mark ('R' key)
  };

  // The writer's view of one inbox (rocksdb.h, "What is cached").
  struct InboxState {
    Seq head = 0;
    Seq max_cursor = 0;
    Seq floor = 0;
    TimeMs max_ts = std::numeric_limits<TimeMs>::min();
    // Every known device's cursor, sorted by device: a user has a few, and
    // the first is inline (a one-device inbox holds no map of its own).
    absl::InlinedVector<std::pair<DeviceId, Seq>, 1> cursors;
    // The messages with seq in (unknown_through, head] and above max_cursor,
    // in seq order; those in (max_cursor, unknown_through] were appended
    // before this state was loaded (or were forgotten) and are read back
    // from the database when an ack passes them.
    // (A FrontQueue, not a deque: an idle inbox's queue holds no heap block.)
    internal::FrontQueue<Pending> pending;
    Seq unknown_through = 0;
    // True once a scan found no read mark above max_cursor (none committed,
    // none in the batch); a read that writes a mark clears it. While true,
    // an ack passing forgotten messages scans no marks.
    bool no_marks = false;

    void TrimPending() {
      while (pending.size() > kMaxPendingPerInbox) {
        unknown_through = pending.front().seq;
        pending.pop_front();
      }
    }
    Pending* FindPending(Seq seq) {
      auto it = std::lower_bound(pending.begin(), pending.end(), seq,
                                 [](const Pending& p, Seq s) { return p.seq < s; });
      return it != pending.end() && it->seq == seq ? &*it : nullptr;
    }
  };
  // rocksdb.h gives what a cached idle inbox costs.
  static_assert(sizeof(InboxState) <= 128, "rocksdb.h: about 120 bytes per cached inbox");
  static_assert(sizeof(Pending) <= 80, "rocksdb.h: 80 bytes per pending message");

  struct StoredHead {
    Seq head = 0;
    TimeMs max_ts = std::numeric_limits<TimeMs>::min();
    std::optional<keys::FloorRecord> floor;
  };

  // --- Reads of committed keys (no lock needed) ------------------------------

  absl::StatusOr<std::optional<keys::FloorRecord>> ReadFloor(const ::rocksdb::ReadOptions& ro,
                                                             const UserId& inbox) {
    std::string value;
    ::rocksdb::Status s = db_->db()->Get(ro, cf_, keys::NameKey(keys::kFloor, inbox), &value);
    if (s.IsNotFound()) return std::optional<keys::FloorRecord>();
    COURIER_RETURN_IF_ERROR(ToStatus(s, "read a floor"));
    COURIER_ASSIGN_OR_RETURN(keys::FloorRecord f, keys::DecodeFloor(value));
    return std::optional<keys::FloorRecord>(f);
  }

  // The head of `inbox`: its last event's seq, or the head kept by Prune.
  absl::StatusOr<StoredHead> ReadHead(const ::rocksdb::ReadOptions& base, const UserId& inbox) {
    StoredHead out;
    COURIER_ASSIGN_OR_RETURN(out.floor, ReadFloor(base, inbox));
    if (out.floor.has_value()) {
      out.head = std::max(out.floor->head, out.floor->floor);
      out.max_ts = out.floor->max_ts;
    }
    const std::string lower = keys::EventKey(inbox, 0);
    ::rocksdb::Slice lower_slice(lower);
    ::rocksdb::ReadOptions ro = base;
    ro.iterate_lower_bound = &lower_slice;
    std::unique_ptr<::rocksdb::Iterator> it(db_->db()->NewIterator(ro, cf_));
    it->SeekForPrev(keys::EventKey(inbox, std::numeric_limits<Seq>::max()));
    Seq last = 0;
    if (it->Valid() && keys::ParseEventKey(View(it->key()), inbox, &last)) {
      COURIER_ASSIGN_OR_RETURN(TimeMs max_ts, keys::DecodeEventMaxTs(View(it->value())));
      out.head = std::max(out.head, last);
      out.max_ts = std::max(out.max_ts, max_ts);
    }
    COURIER_RETURN_IF_ERROR(ToStatus(it->status(), "read an inbox head"));
    return out;
  }

  absl::StatusOr<std::vector<std::pair<DeviceId, Seq>>> ReadCursors(
      const ::rocksdb::ReadOptions& base, const UserId& inbox) {
    std::vector<std::pair<DeviceId, Seq>> out;
    COURIER_RETURN_IF_ERROR(db_->ScanPairs(
        cf_, base, keys::kCursor, inbox, "read cursors",
        [&](std::string_view device, std::string_view value) -> absl::Status {
          COURIER_ASSIGN_OR_RETURN(Seq cursor, keys::DecodeU64(value, "cursor"));
          out.emplace_back(DeviceId(device), cursor);
          return absl::OkStatus();
        }));
    return out;
  }

  // What Prune reads, read with these options: a pass reads every inbox's
  // head, cursors and oldest events once, and keeps none of their data
  // blocks in the block cache (blocks already there are used). The engine
  // prunes at its first tick after a start: on a store that W1 had filled,
  // that pass filled the 8 MiB cache while W4's connections came in (about
  // 1,300 bytes of W4's figure per connection at C = 5,000, bench/README,
  // twentieth session), and in a server it would push the connected users'
  // blocks out.
  static ::rocksdb::ReadOptions PruneReads() {
    ::rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    return ro;
  }

  // Up to kPruneStepInboxes inboxes that have events, from key `from` on
  // (Prune's walk: read as PruneReads).
  absl::StatusOr<std::vector<UserId>> InboxesFrom(const std::string& from) {
    std::vector<UserId> out;
    std::unique_ptr<::rocksdb::Iterator> it(db_->db()->NewIterator(PruneReads(), cf_));
    it->Seek(from);
    while (it->Valid() && out.size() < kPruneStepInboxes) {
      const std::string_view inbox = keys::EventKeyInbox(View(it->key()));
      if (inbox.empty()) break;  // past the event keys
      out.emplace_back(inbox);
      it->Seek(keys::EventEnd(inbox));
    }
    COURIER_RETURN_IF_ERROR(ToStatus(it->status(), "list inboxes"));
    return out;
  }

  // --- Staged writes: what readers see ------------------------------------------

  // A batch written by WriteStaged, waiting for its sync.
  class StagedSync final : public PendingSync {
   public:
    StagedSync(RocksdbMessageStore& store, std::uint64_t number,
               std::shared_ptr<const ::rocksdb::Snapshot> after)
        : store_(store), number_(number), after_(std::move(after)) {}
    absl::Status Sync() override { return store_.SyncThrough(number_, std::move(after_)); }

   private:
    RocksdbMessageStore& store_;
    const std::uint64_t number_;
    std::shared_ptr<const ::rocksdb::Snapshot> after_;  // the state right after the batch
  };

  std::shared_ptr<const ::rocksdb::Snapshot> TakeSnapshot() {
    return std::shared_ptr<const ::rocksdb::Snapshot>(
        db_->db()->GetSnapshot(),
        [db = db_](const ::rocksdb::Snapshot* s) { db->db()->ReleaseSnapshot(s); });
  }

  // Makes staged batch `number` durable (one fsync of the WAL for every
  // batch written before it, unless an earlier call covered it) and shows
  // readers the state right after it (`after`), or the latest state when no
  // batch was staged since.
  absl::Status SyncThrough(std::uint64_t number, std::shared_ptr<const ::rocksdb::Snapshot> after) {
    std::uint64_t target = 0;
    {
      MutexLock view(&read_mu_);
      if (synced_through_ < number) target = written_through_;
    }
    if (target != 0) {
      COURIER_RETURN_IF_ERROR(db_->SyncWal());
    }
    MutexLock view(&read_mu_);
    synced_through_ = std::max(synced_through_, target);
    if (number >= written_through_) {
      durable_ = nullptr;  // nothing staged after it: the latest state is durable
    } else if (number > shown_through_ && after != nullptr) {
      durable_ = std::move(after);
    }
    if (after != nullptr || number >= written_through_) {
      shown_through_ = std::max(shown_through_, number);
    }
    return absl::OkStatus();
  }

  // After a synced write (Write, Prune, DeleteInbox; under the writer's
  // lock): every batch staged before it is durable too.
  void MarkAllSynced() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    MutexLock view(&read_mu_);
    synced_through_ = written_through_;
    shown_through_ = written_through_;
    durable_ = nullptr;
  }

  // What a reader reads: the durable snapshot while a staged batch waits
  // for its sync (in `keep`), else the latest state, from a snapshot of its
  // own when `consistent` (several reads that must agree).
  struct ReadView {
    std::shared_ptr<const ::rocksdb::Snapshot> keep;
    ::rocksdb::ReadOptions ro;
  };
  ReadView Reader(bool consistent) {
    ReadView v;
    if (stages_) {  // else durable_ stays null: no lock to take
      // The snapshot is taken under read_mu_: a batch staged after this
      // point sets durable_ (under the same lock) before it writes, so the
      // snapshot cannot see it. Reading the latest state after the unlock
      // could (a reader that found no staged batch saw the next one before
      // its sync: rocksdb_store_test's three-thread case, under ASan).
      MutexLock view(&read_mu_);
      v.keep = durable_ != nullptr ? durable_ : TakeSnapshot();
    }
    if (v.keep == nullptr && consistent) v.keep = TakeSnapshot();
    if (v.keep != nullptr) v.ro.snapshot = v.keep.get();
    return v;
  }

  // --- Write's steps -----------------------------------------------------------

  // Applies `ops` against the writer's cache into batch_ (not written yet),
  // one result per op into `results`: the batch's fate (a read error aborts it).
  absl::Status ApplyBatch(absl::Span<const WriteOp> ops,
                          std::vector<absl::StatusOr<WriteResult>>& results)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    results.reserve(ops.size());
    if (cache_.size() >= cache_max_inboxes_) cache_.clear();
    batch_.Clear();
    dirty_cursors_.clear();
    touched_.clear();
    attached_.clear();
    view_.clear();  // frees a large table: grown once below, not step by step
    view_.reserve(2 * ops.size());
    marks_.clear();
    group_counts_.clear();
    absl::Status status = PrefetchIndexKeys(ops);
    for (std::size_t i = 0; status.ok() && i < ops.size(); ++i) {
      OpResult result;  // ApplyOp sets it whenever it returns OK
      status = ApplyOp(ops[i], result);
      results.push_back(std::move(result));
    }
    if (status.ok()) {
      // In key order: the cursor keys share one memtable insert hint
      // (database.cc, InsertHintPrefix), which pays when each goes in
      // after the one before.
      cursor_order_.clear();
      for (const auto& entry : dirty_cursors_) cursor_order_.push_back(&entry);
      std::sort(cursor_order_.begin(), cursor_order_.end(),
                [](const auto* a, const auto* b) { return a->first < b->first; });
      for (const auto* entry : cursor_order_) {
        status = ToStatus(batch_.Put(cf_, entry->first, keys::EncodeU64(entry->second)),
                          "batch put");
        if (!status.ok()) break;
      }
    }
    return status;
  }

  // The results of a batch whose write ended with `status`.
  std::vector<absl::StatusOr<WriteResult>> Finished(
      const absl::Status& status, std::size_t ops, std::vector<absl::StatusOr<WriteResult>> results)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    if (!status.ok()) {
      cache_.clear();  // it holds the failed batch's effects
      ForgetFetched();  // its seqs may be taken again
      attached_.clear();
      return std::vector<absl::StatusOr<WriteResult>>(ops, status);
    }
    for (InboxState* inbox : touched_) inbox->TrimPending();
    DropQuietAttached();
    return results;
  }

  // An inbox an attach of this batch loaded or touched, that nobody has
  // anything to be delivered from (nothing above its highest cursor, nothing
  // pending) leaves the cache: an idle user's connect keeps no InboxState
  // (about 150 bytes of a block and a slot; rocksdb.h). Its next op reads it
  // back as after a restart (its cursors included: the batch that wrote a
  // new device's cursor was applied before this runs), once per connect at
  // most. Those with something to deliver stay: their acks follow.
  void DropQuietAttached() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    for (const UserId* user : attached_) {
      auto it = cache_.find(*user);
      if (it == cache_.end()) continue;  // already dropped (two attaches)
      const InboxState& state = it->second;
      if (!state.pending.empty() || state.max_cursor != state.head) continue;
      touched_.erase(&it->second);
      cache_.erase(it);
    }
    attached_.clear();
  }

  // --- The writer's state (under write_mu_) -------------------------------------

  // The cached state of `user`'s inbox, loaded on first use.
  absl::StatusOr<InboxState*> Inbox(const UserId& user) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    if (auto it = cache_.find(user); it != cache_.end()) return &it->second;
    COURIER_ASSIGN_OR_RETURN(std::unique_ptr<InboxState> state,
                             LoadInbox(user, ::rocksdb::ReadOptions()));
    return &cache_.try_emplace(NameKey(user), std::move(*state)).first->second;
  }

  // The state of `user`'s inbox as the database has it (not cached), read
  // with `ro`.
  absl::StatusOr<std::unique_ptr<InboxState>> LoadInbox(const UserId& user,
                                                        const ::rocksdb::ReadOptions& ro)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(StoredHead head, ReadHead(ro, user));
    COURIER_ASSIGN_OR_RETURN(auto cursors, ReadCursors(ro, user));
    auto state = std::make_unique<InboxState>();
    state->head = head.head;
    state->max_ts = head.max_ts;
    if (head.floor.has_value()) state->floor = head.floor->floor;
    std::sort(cursors.begin(), cursors.end());  // (a scan gives them in key order already)
    for (auto& [device, cursor] : cursors) {
      state->max_cursor = std::max(state->max_cursor, cursor);
      state->cursors.emplace_back(std::move(device), cursor);
    }
    state->unknown_through = state->head;
    return state;
  }

  // Reads the 'S' and 'M' keys every append of the batch will look up (and
  // the 'S' and 'G' keys of its group ops), with one MultiGet (sorted, one
  // pass through memtables and table files) instead of two Gets per append:
  // the W2 profile had 23 % of the commit thread in DB::Get.
  absl::Status PrefetchIndexKeys(absl::Span<const WriteOp> ops)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    std::vector<std::string> wanted;
    for (const WriteOp& op : ops) {
      if (const auto* append = std::get_if<AppendOp>(&op)) {
        wanted.push_back(keys::PairKey(keys::kSend, append->sender, append->cid));
        wanted.push_back(keys::PairKey(keys::kMessage, append->recipient, append->id));
      } else if (const auto* send = std::get_if<GroupSendOp>(&op)) {
        wanted.push_back(keys::PairKey(keys::kSend, send->sender, send->cid));
        wanted.push_back(keys::NameKey(keys::kGroup, send->group));
      } else if (const auto* change = std::get_if<GroupChangeOp>(&op)) {
        wanted.push_back(keys::NameKey(keys::kGroup, change->group));
      }
    }
    return ReadIntoView(std::move(wanted));
  }

  // Reads the keys of `wanted` that the batch's view does not hold yet with
  // one MultiGet, into the view.
  absl::Status ReadIntoView(std::vector<std::string> wanted)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    wanted.erase(std::remove_if(wanted.begin(), wanted.end(),
                                [&](const std::string& k) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                                    write_mu_) { return view_.contains(k); }),
                 wanted.end());
    if (wanted.empty()) return absl::OkStatus();
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    std::vector<::rocksdb::Slice> slices(wanted.begin(), wanted.end());
    std::vector<::rocksdb::PinnableSlice> values(wanted.size());
    std::vector<::rocksdb::Status> statuses(wanted.size());
    db_->db()->MultiGet(::rocksdb::ReadOptions(), cf_, slices.size(), slices.data(), values.data(),
                        statuses.data(), /*sorted_input=*/true);
    for (std::size_t i = 0; i < wanted.size(); ++i) {
      std::optional<std::string> value;
      if (statuses[i].ok()) {
        value = values[i].ToString();
      } else if (!statuses[i].IsNotFound()) {
        return ToStatus(statuses[i], "read index keys");
      }
      view_.emplace(std::move(wanted[i]), std::move(value));
    }
    return absl::OkStatus();
  }

  // The value of an 'M', 'S' or 'G' key as the current batch sees it.
  absl::StatusOr<std::optional<std::string>> Lookup(const std::string& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    if (auto it = view_.find(key); it != view_.end()) return it->second;
    std::string value;
    ::rocksdb::Status s = db_->db()->Get(::rocksdb::ReadOptions(), cf_, key, &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    COURIER_RETURN_IF_ERROR(ToStatus(s, "read an index key"));
    return std::optional<std::string>(std::move(value));
  }

  // The live 'M' record of message `id` in `inbox` (none once pruned).
  absl::StatusOr<std::optional<keys::MessageRecord>> FindMessage(const UserId& inbox,
                                                                 const MessageId& id,
                                                                 const InboxState& state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    return FindMessageAt(keys::PairKey(keys::kMessage, inbox, id), state);
  }
  // The same, by its 'M' key.
  absl::StatusOr<std::optional<keys::MessageRecord>> FindMessageAt(const std::string& key,
                                                                   const InboxState& state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(std::optional<std::string> value, Lookup(key));
    if (!value.has_value()) return std::optional<keys::MessageRecord>();
    COURIER_ASSIGN_OR_RETURN(keys::MessageRecord m, keys::DecodeMessage(*value));
    if (m.seq <= state.floor) return std::optional<keys::MessageRecord>();
    return std::optional<keys::MessageRecord>(std::move(m));
  }

  // The first append of the 'S' key `send_key` if it still stands (else it
  // was pruned, or its inbox was deleted since: the cid is free again).
  absl::StatusOr<std::optional<keys::SendRecord>> FindSend(const std::string& send_key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(std::optional<std::string> sent, Lookup(send_key));
    if (!sent.has_value()) return std::optional<keys::SendRecord>();
    COURIER_ASSIGN_OR_RETURN(keys::SendRecord first, keys::DecodeSend(*sent));
    COURIER_ASSIGN_OR_RETURN(InboxState * where, Inbox(first.recipient));
    COURIER_ASSIGN_OR_RETURN(bool live, SendIsLive(first, *where));
    if (!live) return std::optional<keys::SendRecord>();
    return std::optional<keys::SendRecord>(std::move(first));
  }

  // The first step of a send (AppendOp, GroupSendOp, whose result is
  // `Result`): a repeat of the (sender, cid) of `send_key` gets the first
  // send's result as a duplicate. True when it set `out` (the op is done,
  // nothing written).
  template <class Result>
  absl::StatusOr<bool> AnsweredBeforeSending(const std::string& send_key, OpResult& out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(std::optional<keys::SendRecord> first, FindSend(send_key));
    if (!first.has_value()) return false;
    out = DuplicateOf<Result>(*std::move(first));
    return true;
  }

  // Whether the first append `first` still stands: above its inbox's floor
  // and still the message its 'M' key names (DeleteInbox leaves the 'S'
  // keys of pruned messages behind, and seqs start again at 1 after it).
  absl::StatusOr<bool> SendIsLive(const keys::SendRecord& first, const InboxState& where)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    if (first.seq <= where.floor || first.seq > where.head) return false;
    COURIER_ASSIGN_OR_RETURN(std::optional<keys::MessageRecord> m,
                             FindMessage(first.recipient, first.id, where));
    return m.has_value() && m->seq == first.seq;
  }

  absl::Status Put(const std::string& key, const std::string& value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    return ToStatus(batch_.Put(cf_, key, value), "batch put");
  }
  // Puts an index key and lets later ops of this batch see it.
  absl::Status PutIndex(std::string key, std::string value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_RETURN_IF_ERROR(Put(key, value));
    if (auto it = view_.find(key); it != view_.end()) {
      it->second = std::move(value);  // the usual case: the batch looked it up first
    } else {
      view_.emplace(std::move(key), std::optional<std::string>(std::move(value)));
    }
    return absl::OkStatus();
  }
  // Deletes an index key and lets later ops of this batch see it gone.
  absl::Status DeleteIndex(std::string key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_RETURN_IF_ERROR(ToStatus(batch_.Delete(cf_, key), "batch delete"));
    view_.insert_or_assign(std::move(key), std::optional<std::string>());
    return absl::OkStatus();
  }

  // --- Groups -------------------------------------------------------------------

  // The record of group `id` as the batch sees it.
  absl::StatusOr<std::optional<GroupRecord>> FindGroup(const GroupId& id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(std::optional<std::string> value,
                             Lookup(keys::NameKey(keys::kGroup, id)));
    if (!value.has_value()) return std::optional<GroupRecord>();
    COURIER_ASSIGN_OR_RETURN(GroupRecord record, DecodeGroupRecord(*value));
    return std::optional<GroupRecord>(std::move(record));
  }

  // How many groups `user` is in, as the batch sees it: counted from the
  // committed 'U' keys on first use in the batch, then kept up to date by
  // StoreGroupChange (which counts a user before it changes their keys).
  absl::StatusOr<std::size_t*> GroupCount(const UserId& user)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    if (auto it = group_counts_.find(user); it != group_counts_.end()) return &it->second;
    COURIER_ASSIGN_OR_RETURN(std::vector<GroupId> ids, GroupIdsOf(::rocksdb::ReadOptions(), user));
    return &group_counts_.emplace(user, ids.size()).first->second;
  }

  // The ids of the groups of `user` (its 'U' keys) that `ro` sees, in id
  // order.
  absl::StatusOr<std::vector<GroupId>> GroupIdsOf(::rocksdb::ReadOptions ro, const UserId& user) {
    const std::string prefix = keys::PairPrefix(keys::kMember, user);
    const std::string end = keys::PairPrefixEnd(keys::kMember, user);
    ::rocksdb::Slice upper(end);
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<::rocksdb::Iterator> it(db_->db()->NewIterator(ro, cf_));
    std::vector<GroupId> ids;
    for (it->Seek(prefix); it->Valid(); it->Next()) {
      ids.emplace_back(View(it->key()).substr(prefix.size()));
    }
    COURIER_RETURN_IF_ERROR(ToStatus(it->status(), "list a user's groups"));
    return ids;
  }

  // The keys of `plan` for group `id`: its record (or its deletion) and the
  // 'U' keys of the members who joined or left.
  absl::Status StoreGroupChange(const GroupId& id, const GroupChangePlan& plan)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    if (plan.after.has_value()) {
      COURIER_RETURN_IF_ERROR(
          PutIndex(keys::NameKey(keys::kGroup, id), EncodeGroupRecord(*plan.after)));
    } else {
      COURIER_RETURN_IF_ERROR(DeleteIndex(keys::NameKey(keys::kGroup, id)));
    }
    for (const UserId& user : plan.joined) {
      COURIER_ASSIGN_OR_RETURN(std::size_t * count, GroupCount(user));
      ++*count;
      COURIER_RETURN_IF_ERROR(Put(keys::PairKey(keys::kMember, user, id), std::string()));
    }
    for (const UserId& user : plan.left) {
      COURIER_ASSIGN_OR_RETURN(std::size_t * count, GroupCount(user));
      if (*count > 0) --*count;
      COURIER_RETURN_IF_ERROR(
          ToStatus(batch_.Delete(cf_, keys::PairKey(keys::kMember, user, id)), "batch delete"));
    }
    return absl::OkStatus();
  }

  // Appends `e` (seq assigned here) to `inbox`, whose state is `state`.
  absl::StatusOr<Event> AppendEvent(const UserId& inbox, InboxState& state, Event e,
                                    const std::string& cid)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_RETURN_IF_ERROR(AppendEventInPlace(inbox, state, e, cid));
    return e;
  }
  // The same for an event the caller keeps (its seq is set here).
  absl::Status AppendEventInPlace(std::string_view inbox, InboxState& state, Event& e,
                                  std::string_view cid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    e.seq = state.head + 1;
    const TimeMs max_ts = std::max(state.max_ts, e.ts);
    keys::EventKeyTo(inbox, e.seq, key_scratch_);
    keys::EncodeEventTo(e, max_ts, cid, value_scratch_);
    COURIER_RETURN_IF_ERROR(Put(key_scratch_, value_scratch_));
    state.head = e.seq;
    state.max_ts = max_ts;
    touched_.insert(&state);
    return absl::OkStatus();
  }

  // A receipt of message `id` into `sender`'s inbox, built in place at the
  // end of `appended` (an ack's thousands of receipts: no Event built,
  // copied and moved per receipt; `sender` and `id` are moved in).
  absl::Status AppendReceipt(UserId sender, MessageId id, const UserId& by,
                             MessageStatus status, TimeMs ts, std::vector<Appended>& appended)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(InboxState * state, Inbox(sender));
    Appended& a = appended.emplace_back();
    Event& e = a.event;  // as ReceiptEventOf(id, by, status, ts)
    e.kind = EventKind::kReceipt;
    e.id = std::move(id);
    e.peer = by;
    e.status = status;
    e.ts = ts;
    if (absl::Status s = AppendEventInPlace(sender, *state, e, {}); !s.ok()) {
      appended.pop_back();
      return s;
    }
    a.user = std::move(sender);
    return absl::OkStatus();
  }

  // The device's cursor (a new device starts at 0 and is written with the
  // batch: an attached device holds back pruning).
  Seq& CursorOf(const UserId& user, InboxState& state, const DeviceId& device)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    auto& cursors = state.cursors;
    auto it = std::lower_bound(
        cursors.begin(), cursors.end(), device,
        [](const std::pair<DeviceId, Seq>& c, const DeviceId& d) { return c.first < d; });
    if (it == cursors.end() || it->first != device) {
      it = cursors.insert(it, std::make_pair(device, Seq{0}));
      dirty_cursors_[keys::PairKey(keys::kCursor, user, device)] = 0;
    }
    return it->second;
  }

  absl::Status ApplyOp(const WriteOp& op, OpResult& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    return ApplyValidOp(op, out, [&](const auto& valid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
      return Apply(valid, out);
    });
  }

  // Each Apply returns the batch's fate (a read error aborts it) and sets
  // `out` to the op's own result.
  absl::Status Apply(const AppendOp& op, OpResult& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    std::string send_key = keys::PairKey(keys::kSend, op.sender, op.cid);
    COURIER_ASSIGN_OR_RETURN(bool answered, AnsweredBeforeSending<AppendResult>(send_key, out));
    if (answered) return absl::OkStatus();
    COURIER_ASSIGN_OR_RETURN(InboxState * inbox, Inbox(op.recipient));
    std::string message_key = keys::PairKey(keys::kMessage, op.recipient, op.id);  // built once
    COURIER_ASSIGN_OR_RETURN(std::optional<keys::MessageRecord> taken,
                             FindMessageAt(message_key, *inbox));
    if (absl::Status s = CheckAppend(op, inbox->head, inbox->max_cursor, taken.has_value());
        !s.ok()) {
      out = std::move(s);
      return absl::OkStatus();
    }
    COURIER_ASSIGN_OR_RETURN(Event e,
                             AppendEvent(op.recipient, *inbox, MessageEventOf(op), op.cid));
    // Never below the TTL cutoff of a Prune under way (Database::BeginPrune).
    const TimeMs expiry = std::max(inbox->max_ts, db_->pending_prune_cutoff());
    COURIER_RETURN_IF_ERROR(
        PutIndex(std::move(message_key), keys::EncodeMessage({e.seq, false, expiry, op.sender})));
    COURIER_RETURN_IF_ERROR(PutIndex(std::move(send_key),
                                     keys::EncodeSend({e.seq, op.ts, expiry, op.recipient, op.id})));
    inbox->pending.push_back(Pending{e.seq, op.id, op.sender, false});
    AppendResult result;
    result.id = op.id;
    result.seq = e.seq;
    result.ts = op.ts;
    result.appended.push_back(Appended{op.recipient, std::move(e)});
    out = std::move(result);
    return absl::OkStatus();
  }

  absl::Status Apply(const AttachOp& op, OpResult& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(InboxState * inbox, Inbox(op.user));
    const Seq cursor = CursorOf(op.user, *inbox, op.device);
    out = AttachResult{cursor, inbox->head};
    attached_.push_back(&op.user);  // the op outlives the batch (Finished)
    return absl::OkStatus();
  }

  absl::Status Apply(const AckOp& op, OpResult& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(InboxState * inbox, Inbox(op.user));
    if (op.seq > inbox->head) {
      out = AckBeyondHeadError(op, inbox->head);
      return absl::OkStatus();
    }
    Seq& cursor = CursorOf(op.user, *inbox, op.device);
    AckResult result;
    result.cursor = std::max(cursor, op.seq);
    if (result.cursor > cursor) {
      cursor = result.cursor;
      dirty_cursors_[keys::PairKey(keys::kCursor, op.user, op.device)] = cursor;
    }
    if (result.cursor > inbox->max_cursor) {
      // Collect first: a message to oneself puts its receipt into this inbox.
      COURIER_ASSIGN_OR_RETURN(std::vector<Pending> delivered,
                               TakeDelivered(op.user, *inbox, result.cursor));
      result.appended.reserve(delivered.size());
      for (Pending& d : delivered) {
        if (d.read) continue;  // its delivered receipt came with the read
        COURIER_RETURN_IF_ERROR(AppendReceipt(std::move(d.sender), std::move(d.id), op.user,
                                              MessageStatus::kDelivered, op.ts, result.appended));
      }
    }
    out = std::move(result);
    return absl::OkStatus();
  }

  // Moves the inbox's highest cursor up to `cursor` and returns the messages
  // it passed, in seq order: the forgotten ones read back from the database,
  // then the remembered ones.
  absl::StatusOr<std::vector<Pending>> TakeDelivered(const UserId& user, InboxState& inbox,
                                                     Seq cursor)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    std::vector<Pending> out;
    if (inbox.unknown_through > inbox.max_cursor) {
      const Seq last = std::min(cursor, inbox.unknown_through);
      COURIER_RETURN_IF_ERROR(ReadMessages(user, inbox, last, out));
      if (inbox.unknown_through <= cursor) inbox.unknown_through = 0;
    }
    while (!inbox.pending.empty() && inbox.pending.front().seq <= cursor) {
      const Pending& p = inbox.pending.front();
      if (p.marked) COURIER_RETURN_IF_ERROR(DeleteReadMark(keys::ReadMarkKey(user, p.seq)));
      out.push_back(std::move(inbox.pending.front()));
      inbox.pending.pop_front();
    }
    inbox.max_cursor = cursor;
    return out;
  }

  // Deletes a read mark the highest cursor passed (no ack reads it again).
  absl::Status DeleteReadMark(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    marks_.erase(key);
    return ToStatus(batch_.Delete(cf_, key), "batch delete");
  }

  // The messages of `user`'s inbox with seq in (inbox.max_cursor, last],
  // from the database (they were committed before this batch). Which of
  // them were read: the sender's own copy of a group send (its event says
  // so: its group is set and its peer, the sender, is the inbox's user) and
  // those with a read mark (TakeReadMarks). No message's 'M' key is read:
  // one Get per message was a quarter of W2's drain (bench/README, the
  // thirteenth and fourteenth sessions).
  absl::Status ReadMessages(const UserId& user, InboxState& inbox, Seq last,
                            std::vector<Pending>& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    const Seq after = inbox.max_cursor;
    std::vector<Seq> marked;
    if (!inbox.no_marks) {
      COURIER_ASSIGN_OR_RETURN(marked, TakeReadMarks(user, after, last, inbox.no_marks));
    }
    auto next_mark = marked.begin();
    auto add = [&](Seq seq, MessageId id, UserId sender, bool own_group_copy) {
      while (next_mark != marked.end() && *next_mark < seq) ++next_mark;
      const bool read = own_group_copy || (next_mark != marked.end() && *next_mark == seq);
      out.push_back(Pending{seq, std::move(id), std::move(sender), read});
    };
    // What a Fetch read of (after, last] first, then the database's rest.
    const Seq from = TakeFetched(user, inbox, after, last, add);
    if (from >= last) return absl::OkStatus();
    const std::string end = last == std::numeric_limits<Seq>::max()
                                ? keys::EventEnd(user)
                                : keys::EventKey(user, last + 1);
    ::rocksdb::Slice upper(end);
    ::rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<::rocksdb::Iterator> it(db_->db()->NewIterator(ro, cf_));
    for (it->Seek(keys::EventKey(user, from + 1)); it->Valid(); it->Next()) {
      Seq seq = 0;
      if (!keys::ParseEventKey(View(it->key()), user, &seq)) break;
      COURIER_ASSIGN_OR_RETURN(
          keys::StoredEvent e,
          keys::DecodeEvent(View(it->value()), seq, keys::EventFields::kNoBodyNoCid));
      if (e.event.kind != EventKind::kMessage) continue;
      const bool own_group_copy = !e.event.group.empty() && e.event.peer == user;
      add(seq, std::move(e.event.id), std::move(e.event.peer), own_group_copy);
    }
    return ToStatus(it->status(), "read undelivered messages");
  }

  // --- What Fetch read, for the acks ---------------------------------------------

  // Remembers the message events of a page Fetch read from (after, ...]
  // (`page`, in seq order, not empty), unless a DeleteInbox or a failed
  // batch came after `generation` (read before the page). A page that
  // starts inside what the inbox's run covers (a page read again after the
  // stream dropped it) extends the run by its newer events; one that
  // leaves a gap starts the run over. Beyond kMaxFetchedMessages in all,
  // the other inboxes' runs go first, then this one's oldest messages.
  void RememberFetched(const UserId& user, Seq after, const std::vector<Event>& page,
                       std::uint64_t generation) ABSL_LOCKS_EXCLUDED(fetched_mu_) {
    MutexLock lock(&fetched_mu_);
    if (generation != fetched_generation_.load(std::memory_order_relaxed)) return;
    auto it = fetched_.find(user);
    if (it == fetched_.end()) {
      if (fetched_.size() >= kMaxFetchedInboxes) {
        fetched_.clear();
        fetched_count_ = 0;
      }
      it = fetched_.try_emplace(NameKey(user)).first;
    }
    FetchedRun& run = it->second;
    if (after > run.through || after < run.after || run.messages.empty()) {
      // Not within or right after the run (another device, a reconnect):
      // start over from this page.
      fetched_count_ -= run.messages.size();
      run.messages.clear();
      run.after = after;
      run.through = after;
    }
    for (const Event& e : page) {
      if (e.kind != EventKind::kMessage || e.seq <= run.through) continue;
      run.messages.push_back(
          FetchedMessage{e.seq, e.id, e.peer, !e.group.empty() && e.peer == user});
      ++fetched_count_;
    }
    run.through = std::max(run.through, page.back().seq);
    if (fetched_count_ > kMaxFetchedMessages) {
      for (auto other = fetched_.begin(); other != fetched_.end();) {
        if (other == it) {
          ++other;
          continue;
        }
        fetched_count_ -= other->second.messages.size();
        fetched_.erase(other++);
      }
    }
    while (run.messages.size() > kMaxFetchedMessages) {
      run.after = run.messages.front().seq;
      run.messages.pop_front();
      --fetched_count_;
    }
  }

  // Hands `add` the messages a Fetch remembered in (after, last] of `user`,
  // in seq order, but none at or below the inbox's floor (Prune removed
  // them: no receipt), and forgets them. Returns the seq through which
  // everything was handed (`after` when Fetch remembered nothing from
  // after + 1 on): the database has the rest.
  template <class Add>
  Seq TakeFetched(const UserId& user, const InboxState& inbox, Seq after, Seq last, Add& add)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) ABSL_LOCKS_EXCLUDED(fetched_mu_) {
    MutexLock lock(&fetched_mu_);
    auto it = fetched_.find(user);
    if (it == fetched_.end()) return after;
    FetchedRun& run = it->second;
    if (run.after > after || run.through <= after) return after;  // a gap, or nothing new
    const Seq through = std::min(run.through, last);
    while (!run.messages.empty() && run.messages.front().seq <= through) {
      FetchedMessage& m = run.messages.front();
      if (m.seq > after && m.seq > inbox.floor) {
        add(m.seq, std::move(m.id), std::move(m.sender), m.own_group_copy);
      }
      run.messages.pop_front();
      --fetched_count_;
    }
    run.after = through;
    if (run.through <= through) {  // all handed out
      fetched_count_ -= run.messages.size();  // (none left)
      fetched_.erase(it);
    }
    return through;
  }

  // Forgets everything Fetch remembered, and makes Fetches under way
  // remember nothing: seqs of an inbox may name other events from now on.
  void ForgetFetched() ABSL_LOCKS_EXCLUDED(fetched_mu_) {
    MutexLock lock(&fetched_mu_);
    fetched_generation_.fetch_add(1, std::memory_order_release);
    fetched_.clear();
    fetched_count_ = 0;
  }

  // The seqs in (after, last] of `user`'s read marks, committed or written by
  // this batch, in order; deletes them (the highest cursor is passing them).
  // One scan of the marks above `after` (usually none), which stops at the
  // first mark above `last`; `no_marks` is set when there is none.
  absl::StatusOr<std::vector<Seq>> TakeReadMarks(const UserId& user, Seq after, Seq last,
                                                 bool& no_marks)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    std::vector<Seq> out;
    const std::string end = keys::PairPrefixEnd(keys::kReadMark, user);
    ::rocksdb::Slice upper(end);
    ::rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<::rocksdb::Iterator> it(db_->db()->NewIterator(ro, cf_));
    bool beyond = false;  // a mark above `last`
    for (it->Seek(keys::ReadMarkKey(user, after + 1)); it->Valid(); it->Next()) {
      Seq seq = 0;
      if (!keys::ParseReadMarkKey(View(it->key()), user, &seq)) break;
      if (seq > last) {
        beyond = true;
        break;
      }
      out.push_back(seq);
      COURIER_RETURN_IF_ERROR(ToStatus(batch_.Delete(cf_, it->key()), "batch delete"));
    }
    COURIER_RETURN_IF_ERROR(ToStatus(it->status(), "read the read marks"));
    if (!marks_.empty()) {  // rare: a read of a forgotten message in this batch
      const std::string from = keys::ReadMarkKey(user, after + 1);
      std::vector<std::string> passed;
      for (const std::string& key : marks_) {
        Seq seq = 0;
        if (key < from || !keys::ParseReadMarkKey(key, user, &seq)) continue;
        if (seq > last) {
          beyond = true;
        } else {
          passed.push_back(key);
        }
      }
      for (const std::string& key : passed) {
        Seq seq = 0;
        if (keys::ParseReadMarkKey(key, user, &seq)) out.push_back(seq);
        COURIER_RETURN_IF_ERROR(DeleteReadMark(key));
      }
      std::sort(out.begin(), out.end());
    }
    no_marks = !beyond;
    return out;
  }

  absl::Status Apply(const ReadOp& op, OpResult& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(InboxState * inbox, Inbox(op.user));
    ReadResult result;
    for (const MessageId& id : op.ids) {
      if (!ValidateMessageId(id).ok()) continue;  // cannot name a message
      COURIER_ASSIGN_OR_RETURN(std::optional<keys::MessageRecord> found,
                               FindMessage(op.user, id, *inbox));
      if (!found.has_value() || found->read) continue;
      const bool delivered = found->seq <= inbox->max_cursor;
      found->read = true;
      COURIER_RETURN_IF_ERROR(
          PutIndex(keys::PairKey(keys::kMessage, op.user, id), keys::EncodeMessage(*found)));
      Pending* p = inbox->FindPending(found->seq);
      if (p != nullptr) p->read = true;
      if (!delivered) {
        // Read while undelivered: the ack that passes it must know, and may
        // find it forgotten (or the cache started over) by then.
        std::string mark = keys::ReadMarkKey(op.user, found->seq);
        COURIER_RETURN_IF_ERROR(
            Put(mark, keys::EncodeU64(static_cast<std::uint64_t>(found->expiry))));
        marks_.insert(std::move(mark));
        inbox->no_marks = false;
        if (p != nullptr) p->marked = true;
        COURIER_RETURN_IF_ERROR(AppendReceipt(found->sender, id, op.user, MessageStatus::kDelivered,
                                              op.ts, result.appended));
      }
      COURIER_RETURN_IF_ERROR(AppendReceipt(found->sender, id, op.user, MessageStatus::kRead, op.ts,
                                            result.appended));
    }
    out = std::move(result);
    return absl::OkStatus();
  }

  // A group send: (sender, cid) first (shared with AppendOp), then one copy
  // per recipient GroupSendRecipients names, each written as a 1:1 append
  // ('E' and 'M' keys): the sender's copy always, with the 'S' key and its
  // 'M' key marked read (acks and reads of it make no receipts); a member
  // whose inbox is full is skipped. The recipients' 'M' keys are read with
  // one MultiGet.
  absl::Status Apply(const GroupSendOp& op, OpResult& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    std::string send_key = keys::PairKey(keys::kSend, op.sender, op.cid);
    COURIER_ASSIGN_OR_RETURN(bool answered, AnsweredBeforeSending<GroupSendResult>(send_key, out));
    if (answered) return absl::OkStatus();
    COURIER_ASSIGN_OR_RETURN(std::optional<GroupRecord> group, FindGroup(op.group));
    absl::StatusOr<std::vector<UserId>> recipients = GroupSendRecipients(group, op.sender);
    if (!recipients.ok()) {
      out = recipients.status();
      return absl::OkStatus();
    }
    std::vector<std::string> message_keys;
    message_keys.reserve(recipients->size());
    for (const UserId& user : *recipients) {
      message_keys.push_back(keys::PairKey(keys::kMessage, user, op.id));
    }
    COURIER_RETURN_IF_ERROR(ReadIntoView(message_keys));
    std::vector<InboxState*> inboxes;
    inboxes.reserve(recipients->size());
    for (const UserId& user : *recipients) {
      COURIER_ASSIGN_OR_RETURN(InboxState * inbox, Inbox(user));
      COURIER_ASSIGN_OR_RETURN(std::optional<keys::MessageRecord> taken,
                               FindMessage(user, op.id, *inbox));
      if (taken.has_value()) {
        out = MessageIdTakenError(user, op.id);
        return absl::OkStatus();
      }
      inboxes.push_back(inbox);
    }
    absl::StatusOr<GroupSendResult> result = FanOutGroupSend(
        op, *recipients,
        [&](std::size_t i) -> absl::StatusOr<std::uint64_t> {
          return inboxes[i]->head - inboxes[i]->max_cursor;
        },
        [&](std::size_t i, const Event& event,
            bool own) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) -> absl::StatusOr<Event> {
          InboxState& inbox = *inboxes[i];
          COURIER_ASSIGN_OR_RETURN(
              Event e, AppendEvent((*recipients)[i], inbox, event, own ? op.cid : std::string()));
          const TimeMs expiry = std::max(inbox.max_ts, db_->pending_prune_cutoff());
          COURIER_RETURN_IF_ERROR(PutIndex(std::move(message_keys[i]),
                                           keys::EncodeMessage({e.seq, own, expiry, op.sender})));
          inbox.pending.push_back(Pending{e.seq, op.id, op.sender, own});
          if (own) {
            COURIER_RETURN_IF_ERROR(
                PutIndex(send_key, keys::EncodeSend({e.seq, op.ts, expiry, op.sender, op.id})));
          }
          return e;
        });
    if (!result.ok()) return result.status();
    out = *std::move(result);
    return absl::OkStatus();
  }

  // A group change: the record as the batch sees it, then
  // PlanAndWriteGroupChange (courier/message_store.h), writing the plan's
  // keys and one change event per told inbox (never refused; no 'M' key:
  // it has no status).
  absl::Status Apply(const GroupChangeOp& op, OpResult& out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(std::optional<GroupRecord> before, FindGroup(op.group));
    return PlanAndWriteGroupChange(
        before, op,
        [&](const UserId& user) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
            write_mu_) -> absl::StatusOr<std::size_t> {
          COURIER_ASSIGN_OR_RETURN(std::size_t * count, GroupCount(user));
          return *count;
        },
        [&](const GroupChangePlan& plan) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
            write_mu_) -> absl::StatusOr<std::vector<Appended>> {
          COURIER_RETURN_IF_ERROR(StoreGroupChange(op.group, plan));
          std::vector<Appended> appended;
          for (const UserId& user : plan.told) {
            COURIER_ASSIGN_OR_RETURN(InboxState * inbox, Inbox(user));
            COURIER_ASSIGN_OR_RETURN(Event e,
                                     AppendEvent(user, *inbox, plan.event, std::string()));
            appended.push_back(Appended{user, std::move(e)});
          }
          return appended;
        },
        out);
  }

  // --- Prune --------------------------------------------------------------------------

  // The max_ts of event `seq` of `inbox` (it must exist: live events are
  // exactly (floor, head]).
  absl::StatusOr<TimeMs> MaxTsAt(const UserId& inbox, Seq seq) {
    std::string value;
    ::rocksdb::Status s = db_->db()->Get(PruneReads(), cf_, keys::EventKey(inbox, seq), &value);
    if (s.IsNotFound()) {
      return absl::DataLossError(absl::StrCat("rocksdb: event ", seq, " of ", inbox,
                                              " is missing below the inbox head"));
    }
    COURIER_RETURN_IF_ERROR(ToStatus(s, "read an event"));
    return keys::DecodeEventMaxTs(value);
  }

  // The largest seq s in [lo, hi] whose max_ts is below `cutoff` (lo: none),
  // by binary search: max_ts never decreases along an inbox.
  absl::StatusOr<Seq> LastBefore(const UserId& inbox, Seq lo, Seq hi, TimeMs cutoff) {
    if (hi <= lo) return lo;
    COURIER_ASSIGN_OR_RETURN(TimeMs first, MaxTsAt(inbox, lo + 1));
    if (first >= cutoff) return lo;  // the common case: nothing old enough
    Seq good = lo + 1;
    Seq bad = hi + 1;  // exclusive; never read
    while (bad - good > 1) {
      const Seq mid = good + (bad - good) / 2;
      COURIER_ASSIGN_OR_RETURN(TimeMs t, MaxTsAt(inbox, mid));
      (t < cutoff ? good : bad) = mid;
    }
    return good;
  }

  // Uses the cached state of the inbox when there is one, else a state read
  // for this call only: a Prune over every inbox must not fill the cache.
  absl::StatusOr<std::size_t> PruneInbox(const UserId& user, TimeMs ttl_cutoff,
                                         TimeMs acked_cutoff, ::rocksdb::WriteBatch& batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    std::unique_ptr<InboxState> uncached;
    InboxState* inbox = nullptr;
    if (auto it = cache_.find(user); it != cache_.end()) {
      inbox = &it->second;
    } else {
      COURIER_ASSIGN_OR_RETURN(uncached, LoadInbox(user, PruneReads()));
      inbox = uncached.get();
    }
    const Seq floor = inbox->floor;
    COURIER_ASSIGN_OR_RETURN(Seq last, LastBefore(user, floor, inbox->head, ttl_cutoff));
    if (!inbox->cursors.empty()) {
      Seq acked_by_all = std::numeric_limits<Seq>::max();
      for (const auto& [device, cursor] : inbox->cursors) acked_by_all = std::min(acked_by_all, cursor);
      acked_by_all = std::min(acked_by_all, inbox->head);
      COURIER_ASSIGN_OR_RETURN(Seq acked_last, LastBefore(user, floor, acked_by_all, acked_cutoff));
      last = std::max(last, acked_last);
    }
    if (last <= floor) return 0;
    const std::string end = last == std::numeric_limits<Seq>::max() ? keys::EventEnd(user)
                                                                    : keys::EventKey(user, last + 1);
    // The range starts at 'E' inbox, before seq 0, not at seq floor + 1
    // (already deleted or never there): RocksDB 7.8 keeps one memtable
    // insert hint per prefix for point keys and range tombstones alike, and a
    // tombstone whose begin key had the events' hint prefix corrupted the
    // skiplist (an assertion in RocksDB's debug build; the conformance test
    // "prune removes acked events after retention" found it). 'E' inbox is
    // outside the hint's domain.
    COURIER_RETURN_IF_ERROR(
        ToStatus(batch.DeleteRange(cf_, keys::NameKey(keys::kEvent, user), end), "batch delete"));
    COURIER_RETURN_IF_ERROR(ToStatus(
        batch.Put(cf_, keys::NameKey(keys::kFloor, user),
                  keys::EncodeFloor({last, inbox->head, inbox->max_ts})),
        "batch put"));
    inbox->floor = last;
    // Pruned messages are gone: an ack passing their seqs writes no receipt.
    while (!inbox->pending.empty() && inbox->pending.front().seq <= last) inbox->pending.pop_front();
    if (inbox->unknown_through <= last) inbox->unknown_through = 0;
    return static_cast<std::size_t>(last - floor);
  }

  const std::shared_ptr<Database> db_;
  ::rocksdb::ColumnFamilyHandle* const cf_;
  const std::size_t cache_max_inboxes_;
  const bool stages_;  // StagesWrites()

  Mutex write_mu_;
  // One block per inbox (its name inline when it has up to 23 bytes, and its
  // state): the state's address stays put while the map grows (touched_).
  absl::node_hash_map<NameKey, InboxState, NameHash, NameEq> cache_ ABSL_GUARDED_BY(write_mu_);
  // The current batch: its keys, the index keys it wrote (for later ops of
  // the batch), the cursors it moved (written once, at the end) and the
  // inboxes it appended to.
  ::rocksdb::WriteBatch batch_ ABSL_GUARDED_BY(write_mu_);
  // Reused for each event's key and value (WriteBatch::Put copies them).
  std::string key_scratch_ ABSL_GUARDED_BY(write_mu_);
  std::string value_scratch_ ABSL_GUARDED_BY(write_mu_);
  // 'S' and 'M' keys as the batch sees them (nullopt: absent): the appends'
  // keys as one MultiGet found them, then whatever the batch itself wrote.
  absl::flat_hash_map<std::string, std::optional<std::string>> view_
      ABSL_GUARDED_BY(write_mu_);
  absl::flat_hash_map<std::string, Seq> dirty_cursors_ ABSL_GUARDED_BY(write_mu_);
  std::vector<const std::pair<const std::string, Seq>*> cursor_order_ ABSL_GUARDED_BY(write_mu_);
  // The read marks this batch wrote and no ack of it passed yet (rare).
  absl::flat_hash_set<std::string> marks_ ABSL_GUARDED_BY(write_mu_);
  // The number of groups of each user a group change of the batch asked about.
  absl::flat_hash_map<UserId, std::size_t> group_counts_ ABSL_GUARDED_BY(write_mu_);
  absl::flat_hash_set<InboxState*> touched_ ABSL_GUARDED_BY(write_mu_);
  // The users the batch's attaches named (DropQuietAttached), pointing into
  // the batch's ops.
  std::vector<const UserId*> attached_ ABSL_GUARDED_BY(write_mu_);
  std::uint64_t staged_batches_ ABSL_GUARDED_BY(write_mu_) = 0;

  // What Fetch read lately, per inbox, so that an ack passing messages the
  // writer forgot (beyond kMaxPendingPerInbox) need not read them back: a
  // drain's acks pass exactly the pages its Fetches just read. Events never
  // change under a seq while their inbox lives (an ack skips the ones
  // Prune removed by the floor); a DeleteInbox, after which seqs start
  // again at 1, or a failed batch forgets everything and bumps
  // fetched_generation_, and a Fetch that read before a bump remembers
  // nothing. Bounded by kMaxFetchedMessages in all, in at most
  // kMaxFetchedInboxes inboxes.
  struct FetchedMessage {
    Seq seq = 0;
    MessageId id;
    UserId sender;
    bool own_group_copy = false;  // stored read: its ack makes no receipt
  };
  struct FetchedRun {
    // Every event in (after, through] was read; `messages` holds the
    // message events among them, in seq order.
    Seq after = 0;
    Seq through = 0;
    std::deque<FetchedMessage> messages;
  };
  Mutex fetched_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  absl::node_hash_map<NameKey, FetchedRun, NameHash, NameEq> fetched_ ABSL_GUARDED_BY(fetched_mu_);
  std::size_t fetched_count_ ABSL_GUARDED_BY(fetched_mu_) = 0;  // messages in fetched_
  // Bumped (under fetched_mu_) by ForgetFetched; Fetch reads it before it
  // reads the database.
  std::atomic<std::uint64_t> fetched_generation_{0};

  // Staged writes (WriteStaged): batches are numbered 1, 2, ... as staged.
  Mutex read_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  // What readers read while a staged batch waits for its sync: the state
  // after the newest synced batch; null when the latest state is durable.
  std::shared_ptr<const ::rocksdb::Snapshot> durable_ ABSL_GUARDED_BY(read_mu_);
  std::uint64_t written_through_ ABSL_GUARDED_BY(read_mu_) = 0;  // the last staged
  std::uint64_t synced_through_ ABSL_GUARDED_BY(read_mu_) = 0;   // its WAL synced
  std::uint64_t shown_through_ ABSL_GUARDED_BY(read_mu_) = 0;    // readers see it
};

}  // namespace

absl::StatusOr<std::unique_ptr<MessageStore>> OpenMessageStore(const RocksdbOptions& options) {
  COURIER_ASSIGN_OR_RETURN(std::shared_ptr<Database> db, Database::Acquire(options));
  return std::unique_ptr<MessageStore>(
      std::make_unique<RocksdbMessageStore>(std::move(db), options.cache_max_inboxes,
                                            options.stage_writes));
}

namespace internal {

std::optional<std::size_t> CachedInboxes(MessageStore& store) {
  auto* rocks = dynamic_cast<RocksdbMessageStore*>(&store);
  if (rocks == nullptr) return std::nullopt;
  return rocks->CachedInboxCount();
}

std::optional<std::size_t> FetchedMessages(MessageStore& store) {
  auto* rocks = dynamic_cast<RocksdbMessageStore*>(&store);
  if (rocks == nullptr) return std::nullopt;
  return rocks->FetchedCount();
}

}  // namespace internal
}  // namespace courier::rocksdb
