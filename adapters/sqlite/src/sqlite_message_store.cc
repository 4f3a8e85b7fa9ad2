// courier/message_store.h on SQLite: the inboxes in three tables, the
// groups in two more.
//
//   inboxes(inbox, head, max_cursor)  one row per inbox: the last seq given
//                                     out (O(1) seq assignment) and the
//                                     highest cursor of any device (below it
//                                     every message has its delivered receipt)
//   events(pos, inbox, seq, kind, id, peer, body, status, ts, cid, group_id)
//                                     the log, in append order (pos is an
//                                     AUTOINCREMENT rowid, never reused) with
//                                     one on-disk index, (inbox, seq); a
//                                     message row also keeps its current
//                                     status and its sender's cid (Fetch shows
//                                     events as appended: a message event's
//                                     status is always kSent). group_id is
//                                     Event::group (NULL for 1:1 messages and
//                                     receipts). Of a group send's copies only
//                                     the sender's own keeps the cid (so the
//                                     (sender, cid) record goes with that copy
//                                     alone), and it is stored as read: acks
//                                     and reads of it make no receipts.
//   cursors(inbox, device, acked)     one row per known device
//   group_records, group_members      the groups (group_tables.h)
//
// A group change reads the group's record, asks PlanGroupChange (the count
// of a user's groups is a count of group_members rows, which sees the
// batch's own earlier changes) and writes the plan and its events; a group
// send reads the record, asks GroupSendRecipients and appends one copy per
// recipient through the same append path as a 1:1 message.
//
// Every Write() batch runs in one BEGIN IMMEDIATE ... COMMIT on the writer
// connection; an op's own error (queue full, ack beyond the head, bad input)
// is found before the op writes anything, so only that op fails. Reads use a
// second, query-only connection that WAL lets run beside the writer.
//
// The writer keeps the inboxes and cursors rows it has read or written in
// memory (a write-through cache), and writes each changed row once per batch,
// just before COMMIT, so that an append is one INSERT and an ack one
// UPDATE ... RETURNING plus its receipts.
// The cache is dropped whenever it could be stale: after a rolled back batch,
// and when another connection has committed to the file since our last batch
// (PRAGMA data_version, read inside the write transaction).
//
// The two unique lookups, (sender, cid) for idempotent sends and (inbox,
// message id) for reads, live in memory (row_index.h), not in on-disk indexes,
// which each append would dirty a page of per distinct sender and inbox in
// the batch (the measurements are in bench/README.md, "Second session").
// The in-memory indexes are loaded from the log when the store
// opens (one scan of the message rows, about 60 bytes of memory per stored
// message) and follow other processes' appends: when data_version shows
// another connection's commit, the rows with pos above the highest one seen
// are read and indexed before the batch runs. Prune works through the log in
// pos windows (no ts index to use) and takes deleted rows out of the indexes.

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "courier/sync.h"
#include "connection.h"
#include "courier/message_store.h"
#include "courier/sqlite.h"
#include "courier/status.h"
#include "courier/types.h"
#include "group_tables.h"
#include "row_index.h"
#include "schema.h"

namespace courier::sqlite {
namespace {

// The events table's columns as schema 1 created them. Version 2 rebuilds the
// table with the same columns under a new key, so both spell them from here;
// like every migration's text, they never change (an old file is the test:
// sqlite_store_test writes a version-1 file with its own copy and opens it).
#define COURIER_SQLITE_EVENTS_V1_COLUMNS                                      \
  "inbox TEXT NOT NULL, seq INTEGER NOT NULL, kind INTEGER NOT NULL, "        \
  "id TEXT NOT NULL, peer TEXT NOT NULL, body BLOB, status INTEGER NOT NULL, " \
  "ts INTEGER NOT NULL, cid BLOB"

constexpr Migration kMessageMigrations[] = {
    {1, R"sql(
CREATE TABLE inboxes (
  inbox TEXT PRIMARY KEY,
  head INTEGER NOT NULL,
  max_cursor INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE events ()sql" COURIER_SQLITE_EVENTS_V1_COLUMNS R"sql(,
  PRIMARY KEY (inbox, seq)
);
CREATE UNIQUE INDEX events_by_sender_cid ON events (peer, cid) WHERE kind = 1;
CREATE UNIQUE INDEX events_by_message_id ON events (inbox, id) WHERE kind = 1;
CREATE INDEX events_by_ts ON events (ts);
CREATE TABLE cursors (
  inbox TEXT NOT NULL,
  device TEXT NOT NULL,
  acked INTEGER NOT NULL,
  PRIMARY KEY (inbox, device)
) WITHOUT ROWID;
)sql"},
    // Version 2: pos (AUTOINCREMENT: never reused, so rows above the highest
    // pos seen are exactly the new ones) and only the (inbox, seq) index on
    // disk; (sender, cid) and (inbox, id) are kept in memory (see the top).
    {2, R"sql(
CREATE TABLE events_v2 (
  pos INTEGER PRIMARY KEY AUTOINCREMENT,
  )sql" COURIER_SQLITE_EVENTS_V1_COLUMNS R"sql(,
  UNIQUE (inbox, seq)
);
INSERT INTO events_v2 (inbox, seq, kind, id, peer, body, status, ts, cid)
  SELECT inbox, seq, kind, id, peer, body, status, ts, cid FROM events ORDER BY rowid;
DROP TABLE events;
ALTER TABLE events_v2 RENAME TO events;
)sql"},
    // Version 3: groups (issue 17). Existing rows get group_id NULL (1:1).
    {3, R"sql(
ALTER TABLE events ADD COLUMN group_id TEXT;
CREATE TABLE group_records (
  id TEXT PRIMARY KEY,
  record BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE group_members (
  member TEXT NOT NULL,
  group_id TEXT NOT NULL,
  PRIMARY KEY (member, group_id)
) WITHOUT ROWID;
)sql"},
};
#undef COURIER_SQLITE_EVENTS_V1_COLUMNS

using OpResult = absl::StatusOr<WriteResult>;

constexpr std::int64_t kMessageKind = static_cast<std::int64_t>(EventKind::kMessage);
constexpr std::int64_t kReceiptKind = static_cast<std::int64_t>(EventKind::kReceipt);
constexpr std::int64_t kGroupChangeKind = static_cast<std::int64_t>(EventKind::kGroupChange);

// The message rows the in-memory indexes lead to (FindIndexed): ?1 is the
// indexed pos, ?2 and ?3 the key's two parts.
constexpr const char* kMessageByInboxAndId =
    "SELECT peer, status FROM events WHERE pos = ?1 AND kind = 1 AND inbox = ?2 AND id = ?3";
constexpr const char* kSendBySenderAndCid =
    "SELECT seq, id, ts FROM events WHERE pos = ?1 AND kind = 1 AND peer = ?2 AND cid = ?3";

// The writes of a batch: an appended event, and the inbox and cursor rows it
// changed (FlushDirtyRows writes each once, at the end of the batch).
constexpr const char* kInsertEvent =
    "INSERT INTO events (inbox, seq, kind, id, peer, body, status, ts, cid, group_id) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
constexpr const char* kUpsertInbox =
    "INSERT INTO inboxes (inbox, head, max_cursor) VALUES (?1, ?2, ?3) ON CONFLICT (inbox) "
    "DO UPDATE SET head = excluded.head, max_cursor = excluded.max_cursor";
constexpr const char* kUpsertCursor =
    "INSERT INTO cursors (inbox, device, acked) VALUES (?1, ?2, ?3) ON CONFLICT (inbox, device) "
    "DO UPDATE SET acked = excluded.acked";

std::int64_t StatusValue(MessageStatus s) { return static_cast<std::int64_t>(s); }

absl::StatusOr<MessageStatus> ToStatus(std::int64_t v) {
  if (v < 0 || v > 2) return absl::DataLossError(absl::StrCat("stored status ", v, " is invalid"));
  return static_cast<MessageStatus>(v);
}

// Reads the event in the current row of a query selecting
// seq, kind, id, peer, body, status, ts, group_id.
absl::StatusOr<Event> RowToEvent(const Query& q) {
  Event e;
  e.seq = static_cast<Seq>(q.Int(0));
  const std::int64_t kind = q.Int(1);
  if (kind != kMessageKind && kind != kReceiptKind && kind != kGroupChangeKind) {
    return absl::DataLossError(absl::StrCat("stored event kind ", kind, " is invalid"));
  }
  e.kind = static_cast<EventKind>(kind);
  e.id = q.Text(2);
  e.peer = q.Text(3);
  e.body = q.Text(4);
  COURIER_ASSIGN_OR_RETURN(e.status, ToStatus(q.Int(5)));
  e.ts = q.Int(6);
  e.group = q.Text(7);  // NULL (1:1, receipts) reads as empty
  return e;
}

class SqliteMessageStore final : public MessageStore {
 public:
  SqliteMessageStore(std::unique_ptr<Connection> writer, std::unique_ptr<Connection> reader)
      : writer_(std::move(writer)), reader_(std::move(reader)) {}

  std::vector<absl::StatusOr<WriteResult>> Write(absl::Span<const WriteOp> ops) override {
    std::vector<absl::StatusOr<WriteResult>> results;
    if (ops.empty()) return results;
    results.reserve(ops.size());
    MutexLock lock(&write_mu_);
    absl::Status status = writer_->Begin();
    if (status.ok()) status = RevalidateCache();
    undo_.clear();
    const std::int64_t indexed_before = indexed_pos_;
    for (std::size_t i = 0; status.ok() && i < ops.size(); ++i) {
      OpResult result = absl::InternalError("op not applied");
      status = ApplyOp(ops[i], result);
      results.push_back(std::move(result));
    }
    if (status.ok()) status = FlushDirtyRows();
    if (status.ok()) status = writer_->Commit();
    if (!status.ok()) {
      writer_->Rollback();
      // Take the rolled back rows out of the in-memory indexes, newest first.
      for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) it->index->Remove(it->key, it->pos);
      indexed_pos_ = indexed_before;
      DropCache();  // it holds the rolled back batch's heads and cursors
      undo_.clear();
      return std::vector<absl::StatusOr<WriteResult>>(ops.size(), status);
    }
    undo_.clear();
    return results;
  }

  absl::StatusOr<std::vector<Event>> Fetch(const UserId& user, Seq after,
                                           std::size_t limit) override {
    COURIER_RETURN_IF_ERROR(ValidateFetch(user, limit));
    std::vector<Event> out;
    constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (after >= kMax) return out;
    const auto bounded = static_cast<std::int64_t>(std::min<std::uint64_t>(limit, kMax));
    MutexLock lock(&read_mu_);
    COURIER_ASSIGN_OR_RETURN(
        Query q, reader_->Prepare("SELECT seq, kind, id, peer, body, "
                                  "CASE kind WHEN 1 THEN 0 ELSE status END, ts, group_id "
                                  "FROM events "
                                  "WHERE inbox = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"));
    q.BindText(1, user).Bind(2, static_cast<std::int64_t>(after)).Bind(3, bounded);
    while (true) {
      COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      COURIER_ASSIGN_OR_RETURN(Event e, RowToEvent(q));
      out.push_back(std::move(e));
    }
    return out;
  }

  absl::StatusOr<Seq> Head(const UserId& user) override {
    MutexLock lock(&read_mu_);
    COURIER_ASSIGN_OR_RETURN(Query q,
                             reader_->Prepare("SELECT head FROM inboxes WHERE inbox = ?1"));
    q.BindText(1, user);
    COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
    return row ? static_cast<Seq>(q.Int(0)) : 0;
  }

  absl::StatusOr<Seq> Cursor(const UserId& user, const DeviceId& device) override {
    MutexLock lock(&read_mu_);
    COURIER_ASSIGN_OR_RETURN(
        Query q, reader_->Prepare("SELECT acked FROM cursors WHERE inbox = ?1 AND device = ?2"));
    q.BindText(1, user).BindText(2, device);
    COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
    return row ? static_cast<Seq>(q.Int(0)) : 0;
  }

  // Through the writer: the message id lookup is the writer's in-memory
  // index. Nothing calls this on a hot path (the engine never does).
  absl::StatusOr<MessageStatus> Status(const UserId& recipient, const MessageId& id) override {
    MutexLock lock(&write_mu_);
    COURIER_RETURN_IF_ERROR(writer_->Begin());
    absl::StatusOr<std::optional<StoredMessage>> found = std::nullopt;
    if (absl::Status s = RevalidateCache(); !s.ok()) found = s;
    if (found.ok()) found = FindMessage(recipient, id);
    writer_->Rollback();  // read only; the index keeps what it caught up on
    if (!found.ok()) {
      DropCache();
      return found.status();
    }
    if (!found->has_value()) {
      return absl::NotFoundError(absl::StrCat("no message ", id, " for ", recipient));
    }
    return (*found)->status;
  }

  // Goes through the log in windows of kPruneWindow positions, one
  // transaction each, so that a large first prune never holds up sends for
  // long (there is no ts index: a window is a range of the rowid).
  absl::StatusOr<std::size_t> Prune(const PruneOptions& options) override {
    std::size_t removed = 0;
    std::int64_t lo = 0;
    while (true) {
      // The next window starts at the next stored pos: gaps left by earlier
      // prunes cost one lookup, not one transaction per empty window.
      {
        MutexLock lock(&write_mu_);
        COURIER_ASSIGN_OR_RETURN(
            Query q,
            writer_->Prepare("SELECT pos FROM events WHERE pos >= ?1 ORDER BY pos LIMIT 1"));
        q.Bind(1, lo);
        COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) break;
        lo = q.Int(0);
      }
      COURIER_ASSIGN_OR_RETURN(std::size_t n, PruneWindow(options, lo, lo + kPruneWindow));
      removed += n;
      lo += kPruneWindow;
    }
    return removed;
  }

  // One transaction under the writer's lock: a concurrent Write runs wholly
  // before or after it. The in-memory indexes lose the deleted messages'
  // keys only once the deletion has committed.
  absl::StatusOr<std::size_t> DeleteInbox(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    MutexLock lock(&write_mu_);
    COURIER_RETURN_IF_ERROR(writer_->Begin());
    // (send, id) of messages; send nullopt for a group copy without a cid.
    std::vector<std::pair<std::optional<RowIndex::Key>, RowIndex::Key>> keys;
    std::vector<std::int64_t> positions;
    absl::Status status = RevalidateCache();
    if (status.ok()) {
      auto q = writer_->Prepare(
          "DELETE FROM events WHERE inbox = ?1 RETURNING pos, kind, peer, id, cid");
      status = q.status();
      if (status.ok()) q->BindText(1, user);
      while (status.ok()) {
        absl::StatusOr<bool> row = q->Step();
        status = row.status();
        if (!status.ok() || !*row) break;
        if (q->Int(1) != kMessageKind) {
          positions.push_back(-1);
          continue;
        }
        positions.push_back(q->Int(0));
        std::optional<RowIndex::Key> send;
        if (!q->IsNull(4)) send = RowIndex::KeyOf(q->Text(2), q->Text(4));
        keys.emplace_back(send, RowIndex::KeyOf(user, q->Text(3)));
      }
    }
    for (const char* sql : {"DELETE FROM cursors WHERE inbox = ?1",
                            "DELETE FROM inboxes WHERE inbox = ?1"}) {
      if (!status.ok()) break;
      auto q = writer_->Prepare(sql);
      status = q.status();
      if (status.ok()) status = q->BindText(1, user).Run();
    }
    if (status.ok()) status = writer_->Commit();
    DropCache();  // it may hold the inbox's head and cursors
    if (!status.ok()) {
      writer_->Rollback();
      return status;
    }
    std::size_t k = 0;
    for (std::int64_t pos : positions) {
      if (pos < 0) continue;
      if (keys[k].first.has_value()) sends_.Remove(*keys[k].first, pos);
      ids_.Remove(keys[k].second, pos);
      ++k;
    }
    return positions.size();
  }

  // Group records are read on the reader connection, as Fetch: committed
  // state, beside the writer.
  absl::StatusOr<GroupRecord> Group(const GroupId& id) override {
    std::optional<GroupRecord> found;
    if (ValidateGroupId(id).ok()) {  // else it names no group
      MutexLock lock(&read_mu_);
      COURIER_ASSIGN_OR_RETURN(found, ReadGroup(*reader_, id));
    }
    if (!found.has_value()) {
      return MakeGroupError(GroupError::kUnknownGroup, absl::StrCat("no group ", id));
    }
    return *std::move(found);
  }

  absl::StatusOr<std::vector<GroupRecord>> GroupsOf(const UserId& user) override {
    MutexLock lock(&read_mu_);
    return ReadGroupsOf(*reader_, user);
  }

  absl::Status Ping() override {
    // Taking the write lock proves the file is there and writable now.
    MutexLock lock(&write_mu_);
    absl::Status status = writer_->Begin();
    writer_->Rollback();
    return status;
  }

 private:
  static constexpr std::int64_t kPruneWindow = 5'000;

  // One transaction of Prune: deletes the prunable events with pos in
  // [lo, hi): older than the TTL whatever their state, or older than the
  // acked retention and acked by every known device of their inbox (with no
  // device MIN() is NULL, so nothing in such an inbox counts as acked).
  absl::StatusOr<std::size_t> PruneWindow(const PruneOptions& options, std::int64_t lo,
                                          std::int64_t hi) {
    MutexLock lock(&write_mu_);
    COURIER_RETURN_IF_ERROR(writer_->Begin());
    struct Deleted {
      std::int64_t pos;
      bool message;
      std::optional<RowIndex::Key> send_key;  // none: a group copy without a cid
      RowIndex::Key id_key;
    };
    std::vector<Deleted> deleted;
    absl::Status status;
    {
      auto q = writer_->Prepare(
          "DELETE FROM events WHERE pos >= ?1 AND pos < ?2 AND (ts < ?3 OR (ts < ?4 AND "
          "seq <= (SELECT MIN(acked) FROM cursors WHERE cursors.inbox = events.inbox))) "
          "RETURNING pos, kind, inbox, peer, id, cid");
      status = q.status();
      if (status.ok()) {
        q->Bind(1, lo).Bind(2, hi).Bind(3, TimeBefore(options.now, options.ttl_ms))
            .Bind(4, TimeBefore(options.now, options.acked_retention_ms));
        while (status.ok()) {
          absl::StatusOr<bool> row = q->Step();
          status = row.status();
          if (!status.ok() || !*row) break;
          if (q->Int(1) != kMessageKind) {
            deleted.push_back({q->Int(0), false, std::nullopt, 0});
            continue;
          }
          const std::string inbox = q->Text(2);
          std::optional<RowIndex::Key> send_key;
          if (!q->IsNull(5)) send_key = RowIndex::KeyOf(q->Text(3), q->Text(5));
          deleted.push_back({q->Int(0), true, send_key, RowIndex::KeyOf(inbox, q->Text(4))});
        }
      }
    }
    if (status.ok()) status = writer_->Commit();
    if (!status.ok()) {
      writer_->Rollback();
      return status;
    }
    for (const Deleted& d : deleted) {
      if (!d.message) continue;
      if (d.send_key.has_value()) sends_.Remove(*d.send_key, d.pos);
      ids_.Remove(d.id_key, d.pos);
    }
    return deleted.size();
  }

  // The cached state of one inbox row; `stored` is false while the row does
  // not exist in the file (head 0, no device ever acked).
  struct InboxRow {
    Seq head = 0;
    Seq max_cursor = 0;
  };
  struct CursorKey {
    UserId user;
    DeviceId device;
    template <typename H>
    friend H AbslHashValue(H h, const CursorKey& k) {
      return H::combine(std::move(h), k.user, k.device);
    }
    friend bool operator==(const CursorKey& a, const CursorKey& b) {
      return a.user == b.user && a.device == b.device;
    }
  };
  // Above this many cached rows the cache starts over (at a batch's start).
  static constexpr std::size_t kMaxCachedRows = 100'000;

  void DropCache() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    inboxes_.clear();
    cursors_.clear();
    dirty_inboxes_.clear();
    dirty_cursors_.clear();
  }

  // Inside the write transaction: drops the cache if another connection has
  // committed since our last batch, or if it has grown past its bound.
  absl::Status RevalidateCache() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(Query q, writer_->Prepare("PRAGMA data_version"));
    COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return absl::InternalError("PRAGMA data_version returned no row");
    const std::int64_t version = q.Int(0);
    if (version != data_version_) {
      DropCache();
      // Another connection committed: index the messages it appended.
      COURIER_RETURN_IF_ERROR(IndexNewRows());
      data_version_ = version;
    } else if (inboxes_.size() + cursors_.size() > kMaxCachedRows) {
      DropCache();
    }
    dirty_inboxes_.clear();
    dirty_cursors_.clear();
    return absl::OkStatus();
  }

 public:
  // Adds the message rows with pos above indexed_pos_ to the in-memory
  // indexes: all of them when the store opens, then whatever other
  // connections appended.
  absl::Status IndexNewRows() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(
        Query q, writer_->Prepare("SELECT pos, kind, inbox, peer, id, cid FROM events "
                                  "WHERE pos > ?1 ORDER BY pos"));
    q.Bind(1, indexed_pos_);
    while (true) {
      COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      const std::int64_t pos = q.Int(0);
      indexed_pos_ = std::max(indexed_pos_, pos);
      if (q.Int(1) != kMessageKind) continue;
      const std::string inbox = q.Text(2);
      const std::string peer = q.Text(3);
      // A group copy other than the sender's own has no cid.
      if (!q.IsNull(5)) sends_.Add(RowIndex::KeyOf(peer, q.Text(5)), pos);
      ids_.Add(RowIndex::KeyOf(inbox, q.Text(4)), pos);
    }
    return absl::OkStatus();
  }
  Mutex& write_mu() ABSL_LOCK_RETURNED(write_mu_) { return write_mu_; }

 private:
  // A message found through the in-memory indexes, read back from its row.
  struct StoredMessage {
    std::int64_t pos = 0;
    UserId sender;
    MessageStatus status = MessageStatus::kSent;
  };

  // A message row found through one of the in-memory indexes: its pos and
  // the query stepped onto it.
  struct IndexedRow {
    std::int64_t pos;
    Query row;
  };

  // The message row (kind 1) at one of the positions `index` holds for
  // `key` that `sql` (kMessageByInboxAndId, kSendBySenderAndCid) selects,
  // if any; `bind` binds its ?2 and ?3 (the key's two parts). A position
  // that `sql` does not select holds another key with the same hash, or a
  // pruned row, and is passed over.
  absl::StatusOr<std::optional<IndexedRow>> FindIndexed(const RowIndex& index,
                                                        RowIndex::Key key, const char* sql,
                                                        absl::FunctionRef<void(Query&)> bind)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    const RowIndex::Positions* candidates = index.Find(key);
    if (candidates == nullptr) return std::nullopt;
    for (std::int64_t pos : *candidates) {
      COURIER_ASSIGN_OR_RETURN(Query q, writer_->Prepare(sql));
      q.Bind(1, pos);
      bind(q);
      COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
      if (row) return std::optional<IndexedRow>(IndexedRow{pos, std::move(q)});
    }
    return std::nullopt;
  }

  // The message in `inbox` with message id `id`, if any.
  absl::StatusOr<std::optional<StoredMessage>> FindMessage(const UserId& inbox,
                                                           const MessageId& id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(std::optional<IndexedRow> found,
                             FindIndexed(ids_, RowIndex::KeyOf(inbox, id), kMessageByInboxAndId,
                                         [&](Query& q) { q.BindText(2, inbox).BindText(3, id); }));
    if (!found.has_value()) return std::nullopt;
    StoredMessage m;
    m.pos = found->pos;
    m.sender = found->row.Text(0);
    COURIER_ASSIGN_OR_RETURN(m.status, ToStatus(found->row.Int(1)));
    return std::optional<StoredMessage>(std::move(m));
  }

  // Writes every inbox and cursor row the batch changed, once each.
  absl::Status FlushDirtyRows() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    for (const UserId& user : dirty_inboxes_) {
      const InboxRow& row = inboxes_.at(user);
      COURIER_ASSIGN_OR_RETURN(Query q, writer_->Prepare(kUpsertInbox));
      q.BindText(1, user)
          .Bind(2, static_cast<std::int64_t>(row.head))
          .Bind(3, static_cast<std::int64_t>(row.max_cursor));
      COURIER_RETURN_IF_ERROR(q.Run());
    }
    for (const CursorKey& key : dirty_cursors_) {
      COURIER_ASSIGN_OR_RETURN(Query q, writer_->Prepare(kUpsertCursor));
      q.BindText(1, key.user)
          .BindText(2, key.device)
          .Bind(3, static_cast<std::int64_t>(cursors_.at(key)));
      COURIER_RETURN_IF_ERROR(q.Run());
    }
    dirty_inboxes_.clear();
    dirty_cursors_.clear();
    return absl::OkStatus();
  }

  // The inbox row of `user` (from the cache, else the file). The reference
  // stays valid until the next cache insertion.
  absl::StatusOr<InboxRow*> ReadInbox(const UserId& user) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    if (auto it = inboxes_.find(user); it != inboxes_.end()) return &it->second;
    COURIER_ASSIGN_OR_RETURN(
        Query q, writer_->Prepare("SELECT head, max_cursor FROM inboxes WHERE inbox = ?1"));
    q.BindText(1, user);
    COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
    InboxRow value;
    if (row) value = InboxRow{static_cast<Seq>(q.Int(0)), static_cast<Seq>(q.Int(1))};
    return &inboxes_.emplace(user, value).first->second;
  }

  // Appends an event to `inbox`, giving it seq = head + 1, with `stored` in
  // its status column (nullopt: the event's own status). A message is
  // indexed by (inbox, id), and with `cid` also by (sender, cid) (the sender
  // is e.peer); the caller has checked that both are free.
  absl::StatusOr<Event> AppendEvent(const UserId& inbox, Event e, const std::string* cid,
                                    std::optional<MessageStatus> stored = std::nullopt)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(InboxRow * row, ReadInbox(inbox));
    e.seq = row->head + 1;
    COURIER_ASSIGN_OR_RETURN(Query q, writer_->Prepare(kInsertEvent));
    q.BindText(1, inbox)
        .Bind(2, static_cast<std::int64_t>(e.seq))
        .Bind(3, static_cast<std::int64_t>(e.kind))
        .BindText(4, e.id)
        .BindText(5, e.peer)
        .BindBlob(6, e.body)
        .Bind(7, StatusValue(stored.value_or(e.status)))
        .Bind(8, e.ts);
    if (cid != nullptr) q.BindBlob(9, *cid);
    if (!e.group.empty()) q.BindText(10, e.group);
    COURIER_RETURN_IF_ERROR(q.Run());
    const std::int64_t pos = sqlite3_last_insert_rowid(writer_->handle());
    indexed_pos_ = std::max(indexed_pos_, pos);
    if (e.kind == EventKind::kMessage) {
      const RowIndex::Key id_key = RowIndex::KeyOf(inbox, e.id);
      ids_.Add(id_key, pos);
      undo_.push_back({&ids_, id_key, pos});
    }
    if (cid != nullptr) {
      const RowIndex::Key send_key = RowIndex::KeyOf(e.peer, *cid);
      sends_.Add(send_key, pos);
      undo_.push_back({&sends_, send_key, pos});
    }
    row->head = e.seq;
    dirty_inboxes_.insert(inbox);
    return e;
  }

  // Appends the receipt "`by` moved message `id` to `status`" to `sender`'s inbox.
  absl::Status AppendReceipt(const UserId& sender, const MessageId& id, const UserId& by,
                             MessageStatus status, TimeMs ts, std::vector<Appended>& appended)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(Event e,
                             AppendEvent(sender, ReceiptEventOf(id, by, status, ts), nullptr));
    appended.push_back(Appended{sender, std::move(e)});
    return absl::OkStatus();
  }

  absl::Status SetMessageStatus(std::int64_t pos, MessageStatus status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(Query q,
                             writer_->Prepare("UPDATE events SET status = ?2 WHERE pos = ?1"));
    q.Bind(1, pos).Bind(2, StatusValue(status));
    return q.Run();
  }

  absl::Status ApplyOp(const WriteOp& op, OpResult& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    return ApplyValidOp(op, out, [&](const auto& valid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
      return Apply(valid, out);
    });
  }

  // The first append of (sender, cid), if there was one, as the duplicate
  // result (AppendResult or GroupSendResult) of a send that repeats it.
  template <class Result>
  absl::StatusOr<std::optional<Result>> FindSend(const UserId& sender, const std::string& cid)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    const RowIndex::Key key = RowIndex::KeyOf(sender, cid);
    COURIER_ASSIGN_OR_RETURN(std::optional<IndexedRow> found,
                             FindIndexed(sends_, key, kSendBySenderAndCid, [&](Query& q) {
                               q.BindText(2, sender).BindBlob(3, cid);
                             }));
    if (!found.has_value()) return std::nullopt;
    Result dup;
    dup.seq = static_cast<Seq>(found->row.Int(0));
    dup.id = found->row.Text(1);
    dup.ts = found->row.Int(2);
    dup.duplicate = true;
    return std::optional<Result>(std::move(dup));
  }

  // kInvalidArgument when `body` is longer than SQLite stores.
  absl::Status BodyFits(const std::string& body) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    if (static_cast<std::int64_t>(body.size()) <= writer_->max_length()) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("body of ", body.size(), " bytes is over SQLite's limit"));
  }

  // The first steps of a send (AppendOp, GroupSendOp, whose result is
  // `Result`): a body longer than SQLite stores is refused, and a repeat of
  // an earlier (sender, cid) gets that send's result as a duplicate. True
  // when one of them set `out` (the op is done, nothing written).
  template <class Result, class Op>
  absl::StatusOr<bool> AnsweredBeforeSending(const Op& op, OpResult& out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    if (absl::Status fits = BodyFits(op.body); !fits.ok()) {
      out = fits;
      return true;
    }
    COURIER_ASSIGN_OR_RETURN(std::optional<Result> dup, FindSend<Result>(op.sender, op.cid));
    if (!dup.has_value()) return false;
    out = *std::move(dup);
    return true;
  }

  // Each Apply returns the batch's fate (a backend error aborts it) and sets
  // `out` to the op's own result.
  absl::Status Apply(const AppendOp& op, OpResult& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(bool answered, AnsweredBeforeSending<AppendResult>(op, out));
    if (answered) return absl::OkStatus();
    COURIER_ASSIGN_OR_RETURN(InboxRow * inbox, ReadInbox(op.recipient));
    COURIER_ASSIGN_OR_RETURN(std::optional<StoredMessage> taken, FindMessage(op.recipient, op.id));
    if (absl::Status s = CheckAppend(op, inbox->head, inbox->max_cursor, taken.has_value());
        !s.ok()) {
      out = std::move(s);
      return absl::OkStatus();
    }
    COURIER_ASSIGN_OR_RETURN(Event e, AppendEvent(op.recipient, MessageEventOf(op), &op.cid));
    AppendResult result;
    result.id = op.id;
    result.seq = e.seq;
    result.ts = op.ts;
    result.duplicate = false;
    result.appended.push_back(Appended{op.recipient, std::move(e)});
    out = std::move(result);
    return absl::OkStatus();
  }

  absl::Status Apply(const AttachOp& op, OpResult& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(Seq * cursor, EnsureCursor(op.user, op.device));
    const Seq acked = *cursor;
    COURIER_ASSIGN_OR_RETURN(InboxRow * inbox, ReadInbox(op.user));
    out = AttachResult{acked, inbox->head};
    return absl::OkStatus();
  }

  // Makes (user, device) known (its row is written with the batch); returns
  // its cached cursor, valid until the next cache insertion.
  absl::StatusOr<Seq*> EnsureCursor(const UserId& user, const DeviceId& device)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    CursorKey key{user, device};
    if (auto it = cursors_.find(key); it != cursors_.end()) return &it->second;
    COURIER_ASSIGN_OR_RETURN(
        Query q, writer_->Prepare("SELECT acked FROM cursors WHERE inbox = ?1 AND device = ?2"));
    q.BindText(1, user).BindText(2, device);
    COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
    const Seq acked = row ? static_cast<Seq>(q.Int(0)) : 0;
    if (!row) dirty_cursors_.insert(key);
    return &cursors_.emplace(std::move(key), acked).first->second;
  }

  absl::Status Apply(const AckOp& op, OpResult& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(InboxRow * inbox, ReadInbox(op.user));
    if (op.seq > inbox->head) {
      out = AckBeyondHeadError(op, inbox->head);
      return absl::OkStatus();
    }
    const Seq max_cursor = inbox->max_cursor;
    COURIER_ASSIGN_OR_RETURN(Seq * cursor, EnsureCursor(op.user, op.device));
    AckResult result;
    result.cursor = std::max(*cursor, op.seq);
    if (result.cursor > *cursor) {
      *cursor = result.cursor;
      dirty_cursors_.insert(CursorKey{op.user, op.device});
    }
    if (result.cursor > max_cursor) {
      struct Delivered {
        Seq seq;
        MessageId id;
        UserId sender;
      };
      std::vector<Delivered> delivered;
      {
        COURIER_ASSIGN_OR_RETURN(
            Query q, writer_->Prepare("UPDATE events SET status = 1 "
                                      "WHERE inbox = ?1 AND seq > ?2 AND seq <= ?3 "
                                      "AND kind = 1 AND status = 0 RETURNING seq, id, peer"));
        q.BindText(1, op.user)
            .Bind(2, static_cast<std::int64_t>(max_cursor))
            .Bind(3, static_cast<std::int64_t>(result.cursor));
        while (true) {
          COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
          if (!row) break;
          delivered.push_back({static_cast<Seq>(q.Int(0)), q.Text(1), q.Text(2)});
        }
      }
      // RETURNING gives no order; receipts go out in the inbox's order.
      std::sort(delivered.begin(), delivered.end(),
                [](const Delivered& a, const Delivered& b) { return a.seq < b.seq; });
      inbox->max_cursor = result.cursor;
      dirty_inboxes_.insert(op.user);
      for (const Delivered& d : delivered) {
        COURIER_RETURN_IF_ERROR(AppendReceipt(d.sender, d.id, op.user, MessageStatus::kDelivered,
                                              op.ts, result.appended));
      }
    }
    out = std::move(result);
    return absl::OkStatus();
  }

  absl::Status Apply(const ReadOp& op, OpResult& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    ReadResult result;
    for (const MessageId& id : op.ids) {
      COURIER_ASSIGN_OR_RETURN(std::optional<StoredMessage> found, FindMessage(op.user, id));
      if (!found.has_value()) continue;  // unknown, or not addressed to op.user
      const UserId sender = found->sender;
      const MessageStatus status = found->status;
      if (status == MessageStatus::kRead) continue;
      COURIER_RETURN_IF_ERROR(SetMessageStatus(found->pos, MessageStatus::kRead));
      if (status == MessageStatus::kSent) {
        COURIER_RETURN_IF_ERROR(AppendReceipt(sender, id, op.user, MessageStatus::kDelivered, op.ts,
                                              result.appended));
      }
      COURIER_RETURN_IF_ERROR(AppendReceipt(sender, id, op.user, MessageStatus::kRead, op.ts,
                                            result.appended));
    }
    out = std::move(result);
    return absl::OkStatus();
  }

  // A group send: (sender, cid) first (shared with AppendOp), then one copy
  // per recipient GroupSendRecipients names, each through AppendEvent as a
  // 1:1 append: the sender's copy always, stored as read and carrying the
  // cid; a member whose inbox is full is skipped.
  absl::Status Apply(const GroupSendOp& op, OpResult& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(bool answered, AnsweredBeforeSending<GroupSendResult>(op, out));
    if (answered) return absl::OkStatus();
    COURIER_ASSIGN_OR_RETURN(std::optional<GroupRecord> group, ReadGroup(*writer_, op.group));
    absl::StatusOr<std::vector<UserId>> recipients = GroupSendRecipients(group, op.sender);
    if (!recipients.ok()) {
      out = recipients.status();
      return absl::OkStatus();
    }
    for (const UserId& user : *recipients) {
      COURIER_ASSIGN_OR_RETURN(std::optional<StoredMessage> taken, FindMessage(user, op.id));
      if (taken.has_value()) {
        out = MessageIdTakenError(user, op.id);
        return absl::OkStatus();
      }
    }
    absl::StatusOr<GroupSendResult> result = FanOutGroupSend(
        op, *recipients,
        [&](std::size_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
            write_mu_) -> absl::StatusOr<std::uint64_t> {
          COURIER_ASSIGN_OR_RETURN(InboxRow * inbox, ReadInbox((*recipients)[i]));
          return inbox->head - inbox->max_cursor;
        },
        [&](std::size_t i, const Event& event,
            bool own) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) -> absl::StatusOr<Event> {
          return AppendEvent((*recipients)[i], event, own ? &op.cid : nullptr,
                             own ? std::optional(MessageStatus::kRead) : std::nullopt);
        });
    if (!result.ok()) return result.status();
    out = *std::move(result);
    return absl::OkStatus();
  }

  // A group change: the record as stored, then PlanAndWriteGroupChange
  // (courier/message_store.h), writing the plan's rows and one change event
  // per told inbox (never refused).
  absl::Status Apply(const GroupChangeOp& op, OpResult& out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(std::optional<GroupRecord> before, ReadGroup(*writer_, op.group));
    return PlanAndWriteGroupChange(
        before, op,
        [&](const UserId& user) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
          return CountGroupsOf(*writer_, user);
        },
        [&](const GroupChangePlan& plan) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
            write_mu_) -> absl::StatusOr<std::vector<Appended>> {
          COURIER_RETURN_IF_ERROR(StoreGroupChange(*writer_, op.group, plan));
          std::vector<Appended> appended;
          for (const UserId& user : plan.told) {
            COURIER_ASSIGN_OR_RETURN(Event e, AppendEvent(user, plan.event, nullptr));
            appended.push_back(Appended{user, std::move(e)});
          }
          return appended;
        },
        out);
  }

  // The store's two connections to the file: Write's, and a read-only one
  // for Fetch and the other reads, which WAL lets run beside a commit.
  Mutex write_mu_;
  const std::unique_ptr<Connection> writer_ ABSL_PT_GUARDED_BY(write_mu_);
  Mutex read_mu_;
  const std::unique_ptr<Connection> reader_ ABSL_PT_GUARDED_BY(read_mu_);
  // The write-through cache of inboxes and cursors rows (see the top of the
  // file), the rows the current batch changed, and the data_version it is
  // valid for.
  absl::flat_hash_map<UserId, InboxRow> inboxes_ ABSL_GUARDED_BY(write_mu_);
  absl::flat_hash_map<CursorKey, Seq> cursors_ ABSL_GUARDED_BY(write_mu_);
  absl::flat_hash_set<UserId> dirty_inboxes_ ABSL_GUARDED_BY(write_mu_);
  absl::flat_hash_set<CursorKey> dirty_cursors_ ABSL_GUARDED_BY(write_mu_);
  std::int64_t data_version_ ABSL_GUARDED_BY(write_mu_) = -1;
  // The in-memory unique indexes (row_index.h): (sender, cid) and (inbox,
  // message id) to pos. indexed_pos_ is the highest pos they have seen.
  RowIndex sends_ ABSL_GUARDED_BY(write_mu_);
  RowIndex ids_ ABSL_GUARDED_BY(write_mu_);
  std::int64_t indexed_pos_ ABSL_GUARDED_BY(write_mu_) = 0;
  // What the current batch added to them, taken out again if it rolls back.
  struct Undo {
    RowIndex* index;
    RowIndex::Key key;
    std::int64_t pos;
  };
  std::vector<Undo> undo_ ABSL_GUARDED_BY(write_mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<MessageStore>> OpenMessageStore(const SqliteOptions& options) {
  COURIER_ASSIGN_OR_RETURN(std::unique_ptr<Connection> writer,
                           OpenMigrated(options, "messages", kMessageMigrations));
  COURIER_ASSIGN_OR_RETURN(std::unique_ptr<Connection> reader,
                           Connection::Open(options, /*read_only=*/true));
  auto store = std::make_unique<SqliteMessageStore>(std::move(writer), std::move(reader));
  {
    MutexLock lock(&store->write_mu());
    COURIER_RETURN_IF_ERROR(store->IndexNewRows());
  }
  return std::unique_ptr<MessageStore>(std::move(store));
}

}  // namespace courier::sqlite
