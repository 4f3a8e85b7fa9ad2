// courier/message_store.h on SQLite: the inboxes in three tables.
//
//   inboxes(inbox, head, max_cursor)  one row per inbox: the last seq given
//                                     out (O(1) seq assignment) and the
//                                     highest cursor of any device (below it
//                                     every message has its delivered receipt)
//   events(inbox, seq, kind, id, peer, body, status, ts, cid)
//                                     the log; a message row also keeps its
//                                     current status and its sender's cid
//                                     (Fetch shows events as appended: a
//                                     message event's status is always kSent)
//   cursors(inbox, device, acked)     one row per known device
//
// Every Write() batch runs in one BEGIN IMMEDIATE ... COMMIT on the writer
// connection; an op's own error (queue full, ack beyond the head, bad input)
// is found before the op writes anything, so only that op fails. Reads use a
// second, query-only connection that WAL lets run beside the writer.
//
// The writer keeps the inboxes and cursors rows it has read or written in
// memory (a write-through cache), and writes each changed row once per batch,
// just before COMMIT. The profile of benchmark W1 showed the commit thread
// spending ~55 us per op, most of it in the 6-9 statements an append or ack
// ran (reading a head, upserting it, reading a cursor, ...); with the cache an
// append is one INSERT and an ack one UPDATE ... RETURNING plus its receipts.
// The cache is dropped whenever it could be stale: after a rolled back batch,
// and when another connection has committed to the file since our last batch
// (PRAGMA data_version, read inside the write transaction).

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
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "courier/sync.h"
#include "connection.h"
#include "courier/message_store.h"
#include "courier/sqlite.h"
#include "courier/status.h"
#include "courier/types.h"
#include "schema.h"

namespace courier::sqlite {
namespace {

constexpr Migration kMessageMigrations[] = {
    {1, R"sql(
CREATE TABLE inboxes (
  inbox TEXT PRIMARY KEY,
  head INTEGER NOT NULL,
  max_cursor INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE events (
  inbox TEXT NOT NULL,
  seq INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  id TEXT NOT NULL,
  peer TEXT NOT NULL,
  body BLOB,
  status INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  cid BLOB,
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
};

using OpResult = absl::StatusOr<WriteResult>;

constexpr std::int64_t kMessageKind = static_cast<std::int64_t>(EventKind::kMessage);
constexpr std::int64_t kReceiptKind = static_cast<std::int64_t>(EventKind::kReceipt);

std::int64_t StatusValue(MessageStatus s) { return static_cast<std::int64_t>(s); }

absl::StatusOr<MessageStatus> ToStatus(std::int64_t v) {
  if (v < 0 || v > 2) return absl::DataLossError(absl::StrCat("stored status ", v, " is invalid"));
  return static_cast<MessageStatus>(v);
}

absl::Status ValidateMessageId(const MessageId& id) {
  if (id.empty() || id.size() > kMaxIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("message id must be 1-", kMaxIdBytes, " bytes"));
  }
  return absl::OkStatus();
}

// a - b, saturating at the int64 range (a time cutoff far in the past).
TimeMs Before(TimeMs now, TimeMs span) {
  TimeMs out = 0;
  if (__builtin_sub_overflow(now, span, &out)) {
    return span > 0 ? std::numeric_limits<TimeMs>::min() : std::numeric_limits<TimeMs>::max();
  }
  return out;
}

// Reads the event in the current row of a query selecting
// seq, kind, id, peer, body, status, ts.
absl::StatusOr<Event> RowToEvent(const Query& q) {
  Event e;
  e.seq = static_cast<Seq>(q.Int(0));
  const std::int64_t kind = q.Int(1);
  if (kind != kMessageKind && kind != kReceiptKind) {
    return absl::DataLossError(absl::StrCat("stored event kind ", kind, " is invalid"));
  }
  e.kind = static_cast<EventKind>(kind);
  e.id = q.Text(2);
  e.peer = q.Text(3);
  e.body = q.Text(4);
  COURIER_ASSIGN_OR_RETURN(e.status, ToStatus(q.Int(5)));
  e.ts = q.Int(6);
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
    for (std::size_t i = 0; status.ok() && i < ops.size(); ++i) {
      OpResult result = absl::InternalError("op not applied");
      status = ApplyOp(ops[i], result);
      results.push_back(std::move(result));
    }
    if (status.ok()) status = FlushDirtyRows();
    if (status.ok()) status = writer_->Commit();
    if (!status.ok()) {
      writer_->Rollback();
      DropCache();  // it holds the rolled back batch's heads and cursors
      return std::vector<absl::StatusOr<WriteResult>>(ops.size(), status);
    }
    return results;
  }

  absl::StatusOr<std::vector<Event>> Fetch(const UserId& user, Seq after,
                                           std::size_t limit) override {
    if (limit < 1) return absl::InvalidArgumentError("Fetch limit must be >= 1");
    std::vector<Event> out;
    constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (after >= kMax) return out;
    const auto bounded = static_cast<std::int64_t>(std::min<std::uint64_t>(limit, kMax));
    MutexLock lock(&read_mu_);
    COURIER_ASSIGN_OR_RETURN(
        Query q, reader_->Prepare("SELECT seq, kind, id, peer, body, "
                                  "CASE kind WHEN 1 THEN 0 ELSE status END, ts FROM events "
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

  absl::StatusOr<MessageStatus> Status(const UserId& recipient, const MessageId& id) override {
    MutexLock lock(&read_mu_);
    COURIER_ASSIGN_OR_RETURN(
        Query q, reader_->Prepare("SELECT status FROM events "
                                  "WHERE kind = 1 AND inbox = ?1 AND id = ?2"));
    q.BindText(1, recipient).BindText(2, id);
    COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return absl::NotFoundError(absl::StrCat("no message ", id, " for ", recipient));
    return ToStatus(q.Int(0));
  }

  // Deletes in chunks of kPruneChunk rows, one transaction each, so that a
  // large first prune never holds up sends for long.
  absl::StatusOr<std::size_t> Prune(const PruneOptions& options) override {
    std::size_t removed = 0;
    // TTL: whatever the state. With no device MIN() is NULL, so nothing in
    // such an inbox counts as acked.
    const std::pair<absl::string_view, TimeMs> passes[] = {
        {"DELETE FROM events WHERE rowid IN (SELECT rowid FROM events "
         "WHERE ts < ?1 LIMIT ?2)",
         Before(options.now, options.ttl_ms)},
        {"DELETE FROM events WHERE rowid IN (SELECT rowid FROM events "
         "WHERE ts < ?1 AND seq <= (SELECT MIN(acked) FROM cursors "
         "WHERE cursors.inbox = events.inbox) LIMIT ?2)",
         Before(options.now, options.acked_retention_ms)},
    };
    for (const auto& [sql, cutoff] : passes) {
      while (true) {
        COURIER_ASSIGN_OR_RETURN(std::size_t n, PruneChunk(sql, cutoff));
        removed += n;
        if (n < kPruneChunk) break;
      }
    }
    return removed;
  }

  absl::Status Ping() override {
    // Taking the write lock proves the file is there and writable now.
    MutexLock lock(&write_mu_);
    absl::Status status = writer_->Begin();
    writer_->Rollback();
    return status;
  }

 private:
  static constexpr std::size_t kPruneChunk = 5'000;

  // One transaction of a prune pass: deletes up to kPruneChunk rows.
  absl::StatusOr<std::size_t> PruneChunk(absl::string_view sql, TimeMs cutoff) {
    MutexLock lock(&write_mu_);
    COURIER_RETURN_IF_ERROR(writer_->Begin());
    absl::Status status;
    std::size_t n = 0;
    {
      auto q = writer_->Prepare(sql);
      status = q.status();
      if (status.ok()) {
        q->Bind(1, cutoff).Bind(2, static_cast<std::int64_t>(kPruneChunk));
        status = q->Run();
        n = static_cast<std::size_t>(sqlite3_changes64(writer_->handle()));
      }
    }
    if (status.ok()) status = writer_->Commit();
    if (!status.ok()) {
      writer_->Rollback();
      return status;
    }
    return n;
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
    if (version != data_version_ || inboxes_.size() + cursors_.size() > kMaxCachedRows) {
      DropCache();
      data_version_ = version;
    }
    dirty_inboxes_.clear();
    dirty_cursors_.clear();
    return absl::OkStatus();
  }

  // Writes every inbox and cursor row the batch changed, once each.
  absl::Status FlushDirtyRows() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    for (const UserId& user : dirty_inboxes_) {
      const InboxRow& row = inboxes_.at(user);
      COURIER_ASSIGN_OR_RETURN(
          Query q, writer_->Prepare("INSERT INTO inboxes (inbox, head, max_cursor) "
                                    "VALUES (?1, ?2, ?3) ON CONFLICT (inbox) DO UPDATE "
                                    "SET head = excluded.head, max_cursor = excluded.max_cursor"));
      q.BindText(1, user)
          .Bind(2, static_cast<std::int64_t>(row.head))
          .Bind(3, static_cast<std::int64_t>(row.max_cursor));
      COURIER_RETURN_IF_ERROR(q.Run());
    }
    for (const CursorKey& key : dirty_cursors_) {
      COURIER_ASSIGN_OR_RETURN(
          Query q, writer_->Prepare("INSERT INTO cursors (inbox, device, acked) "
                                    "VALUES (?1, ?2, ?3) ON CONFLICT (inbox, device) "
                                    "DO UPDATE SET acked = excluded.acked"));
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

  // Appends an event to `inbox`, giving it seq = head + 1. With `cid` (a
  // message), the insert is skipped when it would break a unique index (the
  // sender's cid or the inbox's message id already taken): returns nullopt
  // then, and nothing is written.
  absl::StatusOr<std::optional<Event>> AppendEvent(const UserId& inbox, Event e,
                                                   const std::string* cid)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(InboxRow * row, ReadInbox(inbox));
    e.seq = row->head + 1;
    COURIER_ASSIGN_OR_RETURN(
        Query q, writer_->Prepare("INSERT OR IGNORE INTO events "
                                  "(inbox, seq, kind, id, peer, body, status, ts, cid) "
                                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
    q.BindText(1, inbox)
        .Bind(2, static_cast<std::int64_t>(e.seq))
        .Bind(3, static_cast<std::int64_t>(e.kind))
        .BindText(4, e.id)
        .BindText(5, e.peer)
        .BindBlob(6, e.body)
        .Bind(7, StatusValue(e.status))
        .Bind(8, e.ts);
    if (cid != nullptr) q.BindBlob(9, *cid);
    COURIER_RETURN_IF_ERROR(q.Run());
    if (sqlite3_changes64(writer_->handle()) != 1) {
      if (cid != nullptr) return std::nullopt;
      // A receipt has no unique key but (inbox, seq): the cached head is wrong.
      return absl::InternalError(absl::StrCat("seq ", e.seq, " of ", inbox, " is taken"));
    }
    row->head = e.seq;
    dirty_inboxes_.insert(inbox);
    return std::optional<Event>(std::move(e));
  }

  // Appends the receipt "`by` moved message `id` to `status`" to `sender`'s inbox.
  absl::StatusOr<Appended> AppendReceipt(const UserId& sender, const MessageId& id,
                                         const UserId& by, MessageStatus status, TimeMs ts)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    Event e;
    e.kind = EventKind::kReceipt;
    e.id = id;
    e.peer = by;
    e.status = status;
    e.ts = ts;
    COURIER_ASSIGN_OR_RETURN(std::optional<Event> stored, AppendEvent(sender, std::move(e), nullptr));
    return Appended{sender, *std::move(stored)};
  }

  absl::Status SetMessageStatus(const UserId& inbox, Seq seq, MessageStatus status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(
        Query q, writer_->Prepare("UPDATE events SET status = ?3 WHERE inbox = ?1 AND seq = ?2"));
    q.BindText(1, inbox).Bind(2, static_cast<std::int64_t>(seq)).Bind(3, StatusValue(status));
    return q.Run();
  }

  absl::Status ApplyOp(const WriteOp& op, OpResult& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    if (const auto* append = std::get_if<AppendOp>(&op)) return Apply(*append, out);
    if (const auto* attach = std::get_if<AttachOp>(&op)) return Apply(*attach, out);
    if (const auto* ack = std::get_if<AckOp>(&op)) return Apply(*ack, out);
    return Apply(std::get<ReadOp>(op), out);
  }

  // The first append of (sender, cid), if there was one.
  absl::StatusOr<std::optional<AppendResult>> FindSend(const UserId& sender,
                                                       const std::string& cid)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    COURIER_ASSIGN_OR_RETURN(
        Query q, writer_->Prepare("SELECT seq, id, ts FROM events "
                                  "WHERE kind = 1 AND peer = ?1 AND cid = ?2"));
    q.BindText(1, sender).BindBlob(2, cid);
    COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return std::nullopt;
    AppendResult dup;
    dup.seq = static_cast<Seq>(q.Int(0));
    dup.id = q.Text(1);
    dup.ts = q.Int(2);
    dup.duplicate = true;
    return std::optional<AppendResult>(std::move(dup));
  }

  // Each Apply returns the batch's fate (a backend error aborts it) and sets
  // `out` to the op's own result.
  absl::Status Apply(const AppendOp& op, OpResult& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    for (absl::Status s : {ValidateName("sender", op.sender),
                           ValidateName("recipient", op.recipient), ValidateClientId(op.cid),
                           ValidateMessageId(op.id)}) {
      if (!s.ok()) {
        out = s;
        return absl::OkStatus();
      }
    }
    if (static_cast<std::int64_t>(op.body.size()) > writer_->max_length()) {
      out = absl::InvalidArgumentError(absl::StrCat("body of ", op.body.size(),
                                                    " bytes is over SQLite's limit"));
      return absl::OkStatus();
    }
    COURIER_ASSIGN_OR_RETURN(InboxRow * inbox, ReadInbox(op.recipient));
    const Seq undelivered = inbox->head - inbox->max_cursor;
    if (undelivered >= op.max_undelivered) {
      // A repeated send is answered even when the queue is full.
      COURIER_ASSIGN_OR_RETURN(std::optional<AppendResult> dup, FindSend(op.sender, op.cid));
      if (dup.has_value()) {
        out = *std::move(dup);
      } else {
        out = absl::ResourceExhaustedError(
            absl::StrCat("queue_full: ", op.recipient, " has ", undelivered,
                         " undelivered events (limit ", op.max_undelivered, ")"));
      }
      return absl::OkStatus();
    }
    Event e;
    e.kind = EventKind::kMessage;
    e.id = op.id;
    e.peer = op.sender;
    e.body = op.body;
    e.status = MessageStatus::kSent;
    e.ts = op.ts;
    // One INSERT OR IGNORE: the unique indexes on (sender, cid) and (inbox,
    // id) turn a repeat into "nothing written"; only then is the cause read.
    COURIER_ASSIGN_OR_RETURN(std::optional<Event> stored,
                             AppendEvent(op.recipient, std::move(e), &op.cid));
    if (!stored.has_value()) {
      COURIER_ASSIGN_OR_RETURN(std::optional<AppendResult> dup, FindSend(op.sender, op.cid));
      if (dup.has_value()) {
        out = *std::move(dup);
        return absl::OkStatus();
      }
      COURIER_ASSIGN_OR_RETURN(
          Query q,
          writer_->Prepare("SELECT 1 FROM events WHERE kind = 1 AND inbox = ?1 AND id = ?2"));
      q.BindText(1, op.recipient).BindText(2, op.id);
      COURIER_ASSIGN_OR_RETURN(bool taken, q.Step());
      if (!taken) {
        return absl::InternalError(absl::StrCat("appending to ", op.recipient,
                                                ": seq taken (the cached head is wrong)"));
      }
      out = absl::AlreadyExistsError(
          absl::StrCat("message id ", op.id, " already used in the inbox of ", op.recipient));
      return absl::OkStatus();
    }
    AppendResult result;
    result.id = op.id;
    result.seq = stored->seq;
    result.ts = op.ts;
    result.duplicate = false;
    result.appended.push_back(Appended{op.recipient, *std::move(stored)});
    out = std::move(result);
    return absl::OkStatus();
  }

  absl::Status Apply(const AttachOp& op, OpResult& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    for (absl::Status s : {ValidateName("user", op.user), ValidateName("device", op.device)}) {
      if (!s.ok()) {
        out = s;
        return absl::OkStatus();
      }
    }
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
    for (absl::Status s : {ValidateName("user", op.user), ValidateName("device", op.device)}) {
      if (!s.ok()) {
        out = s;
        return absl::OkStatus();
      }
    }
    COURIER_ASSIGN_OR_RETURN(InboxRow * inbox, ReadInbox(op.user));
    if (op.seq > inbox->head) {
      out = absl::OutOfRangeError(
          absl::StrCat("ack of seq ", op.seq, " beyond the head ", inbox->head, " of ", op.user));
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
      COURIER_ASSIGN_OR_RETURN(inbox, ReadInbox(op.user));  // EnsureCursor may have rehashed
      inbox->max_cursor = result.cursor;
      dirty_inboxes_.insert(op.user);
      for (const Delivered& d : delivered) {
        COURIER_ASSIGN_OR_RETURN(
            Appended receipt,
            AppendReceipt(d.sender, d.id, op.user, MessageStatus::kDelivered, op.ts));
        result.appended.push_back(std::move(receipt));
      }
    }
    out = std::move(result);
    return absl::OkStatus();
  }

  absl::Status Apply(const ReadOp& op, OpResult& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    if (absl::Status s = ValidateName("user", op.user); !s.ok()) {
      out = s;
      return absl::OkStatus();
    }
    ReadResult result;
    for (const MessageId& id : op.ids) {
      Seq seq = 0;
      UserId sender;
      MessageStatus status = MessageStatus::kSent;
      {
        COURIER_ASSIGN_OR_RETURN(
            Query q, writer_->Prepare("SELECT seq, peer, status FROM events "
                                      "WHERE kind = 1 AND inbox = ?1 AND id = ?2"));
        q.BindText(1, op.user).BindText(2, id);
        COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) continue;  // unknown, or not addressed to op.user
        seq = static_cast<Seq>(q.Int(0));
        sender = q.Text(1);
        COURIER_ASSIGN_OR_RETURN(status, ToStatus(q.Int(2)));
      }
      if (status == MessageStatus::kRead) continue;
      COURIER_RETURN_IF_ERROR(SetMessageStatus(op.user, seq, MessageStatus::kRead));
      if (status == MessageStatus::kSent) {
        COURIER_ASSIGN_OR_RETURN(
            Appended delivered,
            AppendReceipt(sender, id, op.user, MessageStatus::kDelivered, op.ts));
        result.appended.push_back(std::move(delivered));
      }
      COURIER_ASSIGN_OR_RETURN(Appended read,
                               AppendReceipt(sender, id, op.user, MessageStatus::kRead, op.ts));
      result.appended.push_back(std::move(read));
    }
    out = std::move(result);
    return absl::OkStatus();
  }

  Mutex write_mu_;
  const std::unique_ptr<Connection> writer_ ABSL_PT_GUARDED_BY(write_mu_);
  // The write-through cache of inboxes and cursors rows (see the top of the
  // file), the rows the current batch changed, and the data_version it is
  // valid for.
  absl::flat_hash_map<UserId, InboxRow> inboxes_ ABSL_GUARDED_BY(write_mu_);
  absl::flat_hash_map<CursorKey, Seq> cursors_ ABSL_GUARDED_BY(write_mu_);
  absl::flat_hash_set<UserId> dirty_inboxes_ ABSL_GUARDED_BY(write_mu_);
  absl::flat_hash_set<CursorKey> dirty_cursors_ ABSL_GUARDED_BY(write_mu_);
  std::int64_t data_version_ ABSL_GUARDED_BY(write_mu_) = -1;
  Mutex read_mu_;
  const std::unique_ptr<Connection> reader_ ABSL_PT_GUARDED_BY(read_mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<MessageStore>> OpenMessageStore(const SqliteOptions& options) {
  COURIER_ASSIGN_OR_RETURN(std::unique_ptr<Connection> writer, Connection::Open(options));
  COURIER_RETURN_IF_ERROR(Migrate(*writer, "messages", kMessageMigrations));
  COURIER_ASSIGN_OR_RETURN(std::unique_ptr<Connection> reader,
                           Connection::Open(options, /*read_only=*/true));
  return std::unique_ptr<MessageStore>(
      std::make_unique<SqliteMessageStore>(std::move(writer), std::move(reader)));
}

}  // namespace courier::sqlite
