// courier/message_store.h: the durable inboxes, one ordered log per user.
//
// A MessageStore keeps, for every user: the inbox (events numbered 1, 2, 3, ...
// with no gaps), the cursor of every known device, the status of every message
// the user received, and the (sender, client id) index that makes sends
// idempotent. All writes go through Write(), which applies a batch of
// operations in ONE atomic transaction: the engine's commit queue gathers the
// sends, acks and reads of many connections into one batch (group commit), so
// adapters stay simple and synchronous.
//
// Semantics of each operation, which the conformance suite
// (tests/conformance/message_store_suite.h) checks on every adapter:
//
//   AppendOp  If (sender, cid) was already appended, the result is the first
//             append's id/seq/ts with duplicate = true and nothing is written.
//             Otherwise, if the recipient's undelivered events (head minus the
//             highest cursor of any of its devices; head when it has none) are
//             >= max_undelivered, the op fails with kResourceExhausted and
//             nothing is written. Otherwise the message gets seq = head + 1 in
//             the recipient's inbox, status kSent, and the op returns
//             {id, seq, ts, duplicate = false}. The store never invents ids:
//             `id` comes from the op (the engine generates it).
//   AttachOp  Makes the device known (cursor 0 if new) and returns its cursor
//             and the inbox head.
//   AckOp     Cumulative: moves the device's cursor to max(cursor, seq).
//             seq > head fails with kOutOfRange (nothing written). Every
//             message in the inbox with seq <= the new cursor whose status is
//             kSent becomes kDelivered, and for each one exactly one receipt
//             event (kDelivered, peer = the acking user) is appended to the
//             sender's inbox. Receipt events are acked like any event but
//             produce no receipts themselves.
//   ReadOp    For each id that names a message in the user's inbox: if its
//             status is kSent, it first becomes kDelivered (with its receipt);
//             if it is kDelivered it becomes kRead with one receipt (kRead) in
//             the sender's inbox. Ids that are unknown, not addressed to the
//             user, or already read are ignored. Never fails for an id.
//   GroupSendOp  (sender, cid) is deduplicated with AppendOp's index: if it
//             was appended or sent before, the result is the first one's id,
//             seq and ts with duplicate = true (recipients 0, nothing
//             written). Otherwise GroupSendRecipients (courier/group.h) on the
//             stored record gives the inboxes, or the op fails with its
//             GroupError (kUnknownGroup, kNotMember). Each recipient's inbox
//             gets the kMessage event of MessageEventOf(op) (`group` set,
//             same id everywhere, its own seq), except a member other than
//             the sender whose inbox is full (as AppendOp's max_undelivered):
//             that one is skipped and listed in `skipped`. The sender's own
//             copy is never refused and is stored with status kRead (it
//             produces no receipts); `seq` is its seq, and the (sender, cid)
//             record points at it, so it belongs to the sender's copy alone
//             (pruning or deleting another member's copy keeps it). Members'
//             copies are kSent and produce receipts (no group) in the
//             sender's inbox as any message does.
//   GroupChangeOp  The store reads the record, calls PlanGroupChange (all
//             stores through PlanAndWriteGroupChange, below) and on error
//             returns that status (nothing written). When the plan
//             changes nothing (`told` empty) the result is {the record,
//             changed = false} and nothing is written. Otherwise it stores
//             plan.after (or deletes the record), updates the (user, group)
//             index for `joined` and `left`, and appends plan.event to every
//             inbox of `told`, never refused. kGroupChange events are acked
//             like any event but have no status and produce no receipts.
//
// Every store validates each op with ValidateWriteOp (below) first: the one
// rule on names, ids and sizes, so that every adapter refuses the same ops.
//
// Ops in one batch apply in order: a later op sees the earlier ones' effects.
// Every op reports the inbox events it appended (`appended`) so that the
// engine can wake those inboxes' devices without reading the store again.
//
// Durability: when Write returns, its batch is committed as the adapter's
// options promise (by default on disk, surviving power loss).
//
// Retention: Prune() removes events that every known device of their inbox
// has acked and that are older than `acked_retention_ms`, and events older
// than `ttl_ms` whatever their state. Seq numbers are never reused.
//
// Deleting an inbox: DeleteInbox(user) removes, in ONE atomic step,
//   - every event of `user`'s inbox (messages and receipts, acked or not),
//   - the inbox head: the next event appended to `user` gets seq 1 again
//     (the one exception to "never reused": the user is gone, and a later
//     user of the same name starts a new inbox with no device),
//   - every device cursor of `user` (a later AttachOp starts at cursor 0),
//   - the status and the (sender, cid) record of every message `user`
//     RECEIVED: Status(user, id) is kNotFound afterwards, and a sender who
//     retries such a cid appends a new message, as after Prune.
// It leaves alone what belongs to other inboxes:
//   - messages `user` SENT stay in their recipients' inboxes with their
//     status and their (user, cid) record (a retry is still a duplicate);
//   - receipts `user` caused (peer = user) stay in the senders' inboxes:
//     events never change once appended.
// A receipt for a message `user` sent that is written AFTER the deletion (a
// recipient acks or reads it later) is appended to `user`'s new, empty inbox
// like any event; with no device attached, Prune's TTL removes it. (The
// example server deletes the account right after the inbox, so no one reads
// it; see examples/server/README.md.)
// Groups are left alone: `user` stays a member of its groups (the example
// server makes a deleted user leave each of them first, through the
// engine, so that the other members are told). A group copy `user`
// received goes like any message; the (sender, cid) record of a group send
// belongs to the sender's own copy, so it goes when `user` is the sender.
// DeleteInbox is idempotent: an unknown or already deleted inbox removes
// nothing and returns 0. A concurrent Write is ordered wholly before the
// deletion (its effects on this inbox are deleted with it) or wholly after
// it (it sees an empty inbox: head 0, no devices); it never sees half.
//
// Message bodies reach the store already encrypted when the store is wrapped
// by courier/body_cipher.h's OpenEncryptingStore (the engine does not care).
//
// Ownership: the caller owns the store (std::unique_ptr from a factory).
// Thread-safety: implementations are safe for concurrent use by any number of
//   threads without external synchronization.
// Blocking: every method blocks until the backend answers or the adapter's
//   timeout passes (then kDeadlineExceeded or kUnavailable).
#ifndef COURIER_CORE_MESSAGE_STORE_H_
#define COURIER_CORE_MESSAGE_STORE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "courier/export.h"
#include "courier/group.h"
#include "courier/types.h"

namespace courier {

// An event appended to some inbox by a write; the engine wakes `user`.
struct Appended {
  UserId user;
  Event event;
};

struct AppendOp {
  UserId sender;
  std::string cid;    // client message id, unique per sender
  UserId recipient;
  MessageId id;       // generated by the engine, unique
  std::string body;   // as stored (ciphertext when encrypted at rest)
  TimeMs ts = 0;
  std::uint64_t max_undelivered = 100'000;
  // Set only by a store's Prepare (below) that turned `body` into its stored
  // form early: the body as the sender gave it. Stores other than the one
  // that set it ignore it; callers leave it empty.
  std::optional<std::string> plaintext = std::nullopt;
};
struct AppendResult {
  MessageId id;
  Seq seq = 0;
  TimeMs ts = 0;
  bool duplicate = false;
  std::vector<Appended> appended;  // the message event, unless duplicate
};

struct AttachOp {
  UserId user;
  DeviceId device;
};
struct AttachResult {
  Seq cursor = 0;
  Seq head = 0;
};

struct AckOp {
  UserId user;
  DeviceId device;
  Seq seq = 0;
  TimeMs ts = 0;
};
struct AckResult {
  Seq cursor = 0;                  // the device's cursor after the ack
  std::vector<Appended> appended;  // delivered receipts in senders' inboxes
};

struct ReadOp {
  UserId user;
  std::vector<MessageId> ids;
  TimeMs ts = 0;
};
struct ReadResult {
  std::vector<Appended> appended;  // receipts in senders' inboxes
};

struct GroupSendOp {
  UserId sender;
  std::string cid;    // client message id, unique per sender (shared with AppendOp)
  GroupId group;
  MessageId id;       // generated by the engine, unique
  std::string body;   // as stored (ciphertext when encrypted at rest)
  TimeMs ts = 0;
  std::uint64_t max_undelivered = 100'000;
  // As AppendOp::plaintext.
  std::optional<std::string> plaintext = std::nullopt;
};
struct GroupSendResult {
  MessageId id;
  Seq seq = 0;        // the seq of the sender's own copy
  TimeMs ts = 0;
  bool duplicate = false;
  std::size_t recipients = 0;      // inboxes that got it, the sender's included
  std::vector<UserId> skipped;     // members whose inbox was full
  std::vector<Appended> appended;  // one per recipient, unless duplicate
};

// GroupChangeOp itself is in courier/group.h.
struct GroupChangeResult {
  // The record after the change; nullopt when the group was deleted (its
  // last member left).
  std::optional<GroupRecord> group;
  bool changed = false;            // false: the op changed nothing (no event)
  std::vector<Appended> appended;  // the change event in each told inbox
};

// What every store makes of an AppendOp, in one place: the kMessage event it
// appends (seq 0: the store gives it), and the op's own refusals.
COURIER_EXPORT Event MessageEventOf(const AppendOp& op);
COURIER_EXPORT absl::Status QueueFullError(const UserId& recipient, std::uint64_t undelivered,
                            std::uint64_t limit);
COURIER_EXPORT absl::Status MessageIdTakenError(const UserId& recipient, const MessageId& id);

// AppendOp's own refusals, in one place and in this order, for a send that
// is not a duplicate: QueueFullError when op.recipient's inbox, whose head
// is `head` and whose devices' highest cursor is `max_cursor`, is full
// (head - max_cursor >= op.max_undelivered); else MessageIdTakenError when
// op.id already names a message of that inbox (`id_taken`); else OK.
// Pure function; thread-safe; never blocks.
COURIER_EXPORT absl::Status CheckAppend(const AppendOp& op, Seq head, Seq max_cursor,
                                        bool id_taken);

// AckOp's refusal, in one place: the kOutOfRange of an ack whose op.seq is
// beyond `head`, the head of op.user's inbox.
COURIER_EXPORT absl::Status AckBeyondHeadError(const AckOp& op, Seq head);

// What every store appends to `sender`'s inbox when `by` moves message `id`
// (which `sender` sent) to `status` (kDelivered or kRead): the kReceipt
// event (seq 0: the store gives it).
COURIER_EXPORT Event ReceiptEventOf(const MessageId& id, const UserId& by, MessageStatus status,
                                    TimeMs ts);

// What every store makes of a GroupSendOp for one recipient: the kMessage
// event it appends (seq 0: the store gives it).
COURIER_EXPORT Event MessageEventOf(const GroupSendOp& op);

using WriteOp = std::variant<AppendOp, AttachOp, AckOp, ReadOp, GroupSendOp, GroupChangeOp>;
using WriteResult = std::variant<AppendResult, AttachResult, AckResult, ReadResult,
                                 GroupSendResult, GroupChangeResult>;

// What every store makes of a GroupChangeOp, in one place: the GroupChangeOp
// rule at the top of this file, which each store calls inside its Write
// transaction with the group's record as the batch sees it (`before`,
// nullopt when there is none). It
//   - plans the change with PlanGroupChange (courier/group.h), whose
//     groups_of(user) is `groups_of` here (called only for
//     UsersWhoMayJoin(op));
//   - refused: sets `out` to the refusal (a GroupError, or
//     kInvalidArgument) and calls nothing more: nothing is written;
//   - changes nothing (plan.told empty): sets `out` to {before, changed =
//     false} and does not call `write`: nothing is written;
//   - otherwise calls `write(plan)`, which stores plan.after (or deletes the
//     record when it is nullopt), updates the (user, group) index for
//     plan.joined and plan.left, appends plan.event to every inbox of
//     plan.told and returns those events (with their seqs) in that order;
//     then sets `out` to {plan.after, changed = true, those events}.
// Returns OK, or the first failure of `groups_of` or `write` as is (a
// backend failure: the store fails the batch) with `out` left alone.
// Thread-safety: as the callbacks; Blocking: only in them.
COURIER_EXPORT absl::Status PlanAndWriteGroupChange(
    const std::optional<GroupRecord>& before, const GroupChangeOp& op,
    absl::FunctionRef<absl::StatusOr<std::size_t>(const UserId&)> groups_of,
    absl::FunctionRef<absl::StatusOr<std::vector<Appended>>(const GroupChangePlan&)> write,
    absl::StatusOr<WriteResult>& out);

// The largest body a store accepts in an AppendOp (under MongoDB's 16 MiB
// document limit, so that every backend can keep it; the engine's own
// limit on a send is far lower).
inline constexpr std::size_t kMaxStoredBodyBytes = 15 << 20;

// THE validation of a write op, the one rule every store applies: each
// store's Write calls it for every op before touching its backend, and an
// op it refuses fails alone (its result is this status; the other ops of
// the batch run as if it were absent). Stores add no checks of their own
// on names or ids, so that all of them agree.
//   AppendOp  sender and recipient are names (ValidateName), cid a client
//             id (ValidateClientId), id a message id (ValidateMessageId:
//             1-64 of [A-Za-z0-9_-]); body at most kMaxStoredBodyBytes.
//             kInvalidArgument otherwise.
//   AttachOp  user and device are names; kInvalidArgument otherwise.
//   AckOp     user and device are names (kInvalidArgument); a seq above
//             INT64_MAX is beyond any head (kOutOfRange).
//   ReadOp    user is a name (kInvalidArgument). Its ids are NOT checked:
//             an id that is not a valid message id names no message and is
//             ignored (see ReadOp above); stores skip such ids with
//             ValidateMessageId.
//   GroupSendOp  sender a name, cid a client id, group a group id
//             (ValidateGroupId), id a message id, body at most
//             kMaxStoredBodyBytes. kInvalidArgument otherwise.
//   GroupChangeOp  actor a name, group a group id, id a message id; every
//             member a name and at most kMaxGroupMembers of them (at least
//             one for kAdd and kRemove, none for kLeave and kRename);
//             kCreate and kRename: name 1..limits.max_name_bytes bytes of
//             valid UTF-8 without control characters; limits.max_members
//             1..kMaxGroupMembers. kInvalidArgument otherwise.
// Pure function; thread-safe; never blocks.
COURIER_EXPORT absl::Status ValidateWriteOp(const WriteOp& op);

// THE dispatch of one op in a store's Write, so that every store applies
// ValidateWriteOp the same way: an op it refuses fails alone (`out` is set
// to its status and OK returned: the batch goes on without it); a valid op
// is apply(its alternative), which sets `out` to the op's result or error
// and returns the batch's fate (a backend failure fails the batch).
// `apply` is called with the store's lock held, as ApplyValidOp is: the
// thread-safety analysis does not follow a callable through a template (as
// with std::visit), so a store annotates its lambda with the lock.
// Thread-safety and blocking: as `apply`.
template <class Apply>
absl::Status ApplyValidOp(const WriteOp& op, absl::StatusOr<WriteResult>& out, Apply&& apply)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (absl::Status s = ValidateWriteOp(op); !s.ok()) {
    out = std::move(s);  // fails alone
    return absl::OkStatus();
  }
  return std::visit(apply, op);
}

// THE check of Fetch's arguments, which every store's Fetch calls first so
// that all of them refuse the same calls the same way: `user` a name
// (ValidateName) and `limit` at least 1; kInvalidArgument otherwise.
// Pure function; thread-safe; never blocks.
COURIER_EXPORT absl::Status ValidateFetch(const UserId& user, std::size_t limit);

struct PruneOptions {
  TimeMs now = 0;
  TimeMs acked_retention_ms = 7LL * 24 * 3600 * 1000;
  TimeMs ttl_ms = 30LL * 24 * 3600 * 1000;
};

class COURIER_EXPORT MessageStore {
 public:
  MessageStore() = default;
  MessageStore(const MessageStore&) = delete;
  MessageStore& operator=(const MessageStore&) = delete;
  virtual ~MessageStore() = default;

  // Applies `ops` in order in one atomic transaction and returns one result
  // per op, in the same order: the op's WriteResult alternative matching its
  // WriteOp alternative, or the op's own error (kResourceExhausted,
  // kOutOfRange, kInvalidArgument). When the transaction itself fails, every
  // result carries that error (kUnavailable for a backend that did not
  // commit, kAborted for a conflict: see WriteRetryingConflicts below) and
  // nothing of the batch is stored.
  virtual std::vector<absl::StatusOr<WriteResult>> Write(
      absl::Span<const WriteOp> ops) = 0;

  // Per-op work that needs no transaction, done early: the engine calls it
  // on the thread that submits `op`, before the op waits for the commit
  // thread's Write, so that the one commit thread does less per op
  // (OpenEncryptingStore seals the body here). Write takes prepared and
  // unprepared ops alike and gives them the same results; preparing an op
  // twice does it once. Default: nothing.
  // Thread-safety: safe from any thread, as Write. Blocking: never.
  virtual void Prepare(WriteOp& op);

  // --- Staged writes (optional): one batch's wait for durability overlaps
  // the next batch's work.
  //
  // A store whose Write ends in a wait for durability (an fsync) may split
  // it in two. WriteStaged applies the batch as Write would and returns its
  // results at once, with a PendingSync; the batch is then visible to the
  // store's later WriteStaged and Write calls but to none of its readers
  // (Fetch, Head, Cursor, Status, Group, GroupsOf) until its Sync returned
  // OK. Sync waits until the batch is as durable as Write would have made
  // it. The engine's commit queue runs Sync of batch N on one thread while
  // WriteStaged of batch N + 1 runs on another, and answers a batch's ops
  // only after its Sync.
  class PendingSync {
   public:
    virtual ~PendingSync() = default;
    // Blocks until this batch and every batch staged before it are durable,
    // then makes them visible to readers and returns OK; or returns the
    // error that kept them from becoming durable: then the batch's results
    // do not stand, and the batch may or may not be stored (as after a
    // crash: a retried send is answered as a duplicate if it was). Called at
    // most once, in the order the batches were staged, one call at a time
    // (concurrently with WriteStaged). A PendingSync destroyed without Sync
    // leaves its batch staged: a later Sync or Write makes it durable, or a
    // crash loses it.
    virtual absl::Status Sync() = 0;
  };
  struct StagedWrite {
    // One per op, as Write gives them; they stand once `sync` returned OK.
    std::vector<absl::StatusOr<WriteResult>> results;
    // What waits for durability; null when nothing does (the batch is
    // durable already, or it failed as a whole and every result says so).
    std::unique_ptr<PendingSync> sync;
  };

  // True when the store overrides WriteStaged (the commit queue then uses
  // it instead of Write). A store that answers kAborted must not: staged
  // ops are not written again (WriteRetryingConflicts).
  virtual bool StagesWrites() const;
  // Default: Write, with nothing left to wait for.
  // Thread-safety: as Write; the caller makes no two WriteStaged or Write
  // calls at once, while Sync calls and reads may run beside them.
  virtual StagedWrite WriteStaged(absl::Span<const WriteOp> ops);

  // Up to `limit` events of `user`'s inbox with seq > `after`, in seq order.
  // An unknown user has an empty inbox. kInvalidArgument when ValidateFetch
  // (above) refuses the arguments.
  virtual absl::StatusOr<std::vector<Event>> Fetch(const UserId& user, Seq after,
                                                   std::size_t limit) = 0;

  // The highest seq of `user`'s inbox (0 when empty or unknown).
  virtual absl::StatusOr<Seq> Head(const UserId& user) = 0;

  // The cursor of (user, device); 0 when the device is unknown.
  virtual absl::StatusOr<Seq> Cursor(const UserId& user, const DeviceId& device) = 0;

  // The status of a message `id` received by `recipient`; kNotFound if none.
  virtual absl::StatusOr<MessageStatus> Status(const UserId& recipient,
                                               const MessageId& id) = 0;

  // Removes old events as described above; returns how many were removed.
  virtual absl::StatusOr<std::size_t> Prune(const PruneOptions& options) = 0;

  // Deletes `user`'s inbox as described above ("Deleting an inbox") and
  // returns how many of its events were removed (0 when there was none).
  // kInvalidArgument for an invalid name; a backend failure deletes nothing
  // (kUnavailable, or kAborted when a concurrent write kept it from
  // committing; both may be retried).
  virtual absl::StatusOr<std::size_t> DeleteInbox(const UserId& user) = 0;

  // The record of group `id`; kNotFound with GroupError::kUnknownGroup
  // (courier/group.h) when there is none.
  // Groups came after the first stores: a store written before them keeps
  // these defaults (kUnimplemented) and answers kUnimplemented to each
  // GroupSendOp and GroupChangeOp. Every store of this repository keeps
  // groups.
  virtual absl::StatusOr<GroupRecord> Group(const GroupId& id);

  // The records of every group `user` is a member of, sorted by id (at most
  // the max_groups_per_user the ops carried). An unknown user has none.
  virtual absl::StatusOr<std::vector<GroupRecord>> GroupsOf(const UserId& user);

  // OK when the store can accept writes now (used by health checks).
  virtual absl::Status Ping() = 0;
};

// A conflict (status.h: kAborted, "restart the larger step"). A store
// answers kAborted for an op that a concurrent writer kept from being
// applied: a deadlock or serialization failure, a unique key such as a
// (sender, cid) or a group id racing in, a lost compare-and-set. Nothing of
// such an op is stored, so it may be written again; when a whole
// transaction rolls back on a conflict, every op it held answers kAborted.
// A store never answers kAborted for an op it applied, and does not retry
// a conflict itself: the rule below does, once, for every store.
//
// THE retry rule for conflicting writes, which the engine's commit queue
// applies to every batch (EngineOptions::max_write_attempts): calls
// store.Write(ops); then, while some results are kAborted and fewer than
// `max_attempts` Writes have run, waits a random 1..5*n ms (n = the Writes
// so far, so that racing writers drift apart) and writes those ops again,
// in their order, as one batch. The rerun sees what the other writer
// committed (a repeated (sender, cid) then takes the idempotent path).
// Returns one result per op: the op's first result that is not kAborted,
// or kAborted when the conflict outlasted `max_attempts`. Adds the number of
// rerun Writes to `*reruns` when given. max_attempts < 1 counts as 1.
// Thread-safety: as store.Write.
// Blocking: as store.Write, plus the waits (under 5 * max_attempts^2 / 2 ms).
COURIER_EXPORT std::vector<absl::StatusOr<WriteResult>> WriteRetryingConflicts(
    MessageStore& store, absl::Span<const WriteOp> ops, int max_attempts,
    std::uint64_t* reruns = nullptr);

// A staged write (MessageStore::WriteStaged) carried to its end: the results
// once its Sync returned OK, or Sync's error for every op. What Write gives,
// for a store that stages writes. Thread-safety and blocking: as both calls.
COURIER_EXPORT std::vector<absl::StatusOr<WriteResult>> WriteAndSync(
    MessageStore& store, absl::Span<const WriteOp> ops);

// The results of `staged` once its sync ended with `synced`: its own when
// OK, else `synced` for every op.
COURIER_EXPORT std::vector<absl::StatusOr<WriteResult>> ResultsAfterSync(
    MessageStore::StagedWrite staged, const absl::Status& synced);

}  // namespace courier

#endif  // COURIER_CORE_MESSAGE_STORE_H_
