// courier/engine.h: the send / connect / ack / read / disconnect state machine.
//
// The engine owns no database, socket or JSON. It borrows a MessageStore (the
// durable inboxes), a PresenceStore, a ContactPolicy and optionally an
// AccountStore (durable last seen), and talks to each connected device
// through the Transport the adapter gives to Connect.
//
// GUARANTEES
//  * Stored before acknowledged: `sent` goes out only after the store's
//    transaction that appended the message has committed.
//  * Idempotent sends: a repeated (sender, cid) answers the first id with
//    duplicate = true and stores nothing.
//  * In order, no gaps, at least once per device: every device of a user is
//    sent every inbox event above its starting point in seq order, with no
//    seq skipped. An event may be sent again only after a reconnect and only
//    if the device had not acked it; clients drop a seq they already have.
//  * Receipts exactly once: the first ack covering a message makes it
//    delivered and the first read makes it read, each appending exactly one
//    receipt to the sender's inbox, in the same transaction as the status
//    change. Status only moves forward.
//  * Nothing stored is dropped to make room: an inbox with max_undelivered
//    undelivered events refuses new sends with queue_full.
//
// SESSION STATES (one session per connected device)
//   connecting --attach committed--> draining --sent up to head-at-connect--> live
//   any state --Disconnect / replaced / Shutdown--> closed
//  * connecting: the store is registering the device and reading its cursor
//    and head. Sends, acks and reads are accepted already.
//  * draining: welcome has been sent; events flow from the starting point,
//    one page at a time, with at most `window` unacked in flight. Live
//    events simply queue behind the drain: one stream, so order holds.
//  * live: `synced` has been sent (once per connection); new events stream
//    as they commit, still windowed.
//  * closed: nothing more is sent; the session's calls are ignored.
// A device that connects again (same user and device name) closes the older
// session with CloseCode::kReplaced (4409), on this node or another.
//
// FLOW OF A SEND: Session::Send validates (size, friends, rate limit), queues
// an AppendOp on the commit queue and returns. The commit executor takes
// everything queued (up to max_batch_ops) into one MessageStore::Write
// (group commit), then hands the batch's results back in ONE task per
// destination executor, while it writes the next batch. A result goes back
// to the executor of the session that asked: its transport's executor()
// (an adapter's io thread, which then runs the message's whole life there:
// read, validate, submit, and after the commit `sent`), or the delivery
// executor for a transport without one. The results answer `sent` (or the
// error). The appended events are routed by the commit stage itself: once
// the batch is durable it looks up each event's recipient sessions (one
// registry lookup per user of an op) and hands each event to its session
// on that session's executor, in the same task as that executor's results
// of the batch, after them. So an io thread is given its own sessions'
// events; no thread routes events through another io thread. A session
// streams an event at once when it is caught up, or fetches it from the
// store otherwise.
//
// Threading contract. Every public method may be called from any thread.
//  * The engine's own threads: the commit executor (one thread unless
//    options give one: the only thread that writes the store) and the
//    delivery executor (fetches inbox pages, presence work, results for
//    transports without an executor).
//  * An adapter's threads: a transport with an executor() gets its session's
//    results and its routed events there (without one: on the delivery
//    executor). Per session they run in submission order, a batch's
//    results before its events; results of different sessions are not
//    ordered with each other (typing ops excepted: one typist's are
//    relayed in order, see Session::Typing). A session's events from this
//    node's commits reach it in commit order; pages it fetches run on the
//    delivery executor beside them, and an event that arrives ahead of its
//    predecessor is not lost or reordered: the session fetches the gap from
//    the store (see device_session.h).
//  * The commit stage's thread also looks sessions up (the registry's
//    shard mutex) and calls the Notifier (courier/notifier.h), once per
//    committed op, before the op's result is handed back.
//  * Locks: the session registry, sharded by user (a courier::Mutex per
//    shard); one mutex per session that serializes its Transport calls; the
//    commit queue's mutex (one lock per submitted op and one per batch and
//    lane). No engine lock is held while calling the MessageStore or, on
//    the send path, the ContactPolicy. One exception: telling contacts of a
//    presence change holds the engine's notify mutex (which serializes
//    those notices) across its ContactPolicy, PresenceStore and
//    AccountStore calls, and takes registry shard and session mutexes
//    inside it. Transport calls are made under the session mutex only (they
//    must not block or call back into the engine).
//
// FAILURES NOBODY WAITS FOR. A status that no caller receives (a presence
// heartbeat, a prune, a signal to another node, a presence lookup for the
// frames after welcome, storing last seen) is counted in EngineStats (the
// *_errors counters below) and logged through the log sink (courier/log.h,
// component "courier::engine", level warning): the first failure of a kind
// at once, then at most one line per kind per minute of the engine's clock,
// saying how many were not logged. The work is simply skipped: the next
// Tick, connect or commit tries again. The sink may be called with the
// notify mutex held: it must not call into the engine.
//
// ALLOWED PAIRS. A send checks the ContactPolicy; the engine remembers an
// allowed (sender, recipient) pair for EngineOptions::contact_cache_ttl_ms
// (default 60 s) and asks the policy again after that. ForgetUser drops a
// user's pairs at once on the node that calls it; other nodes re-check
// within the TTL.
// Blocking: no public method blocks on the store except Shutdown (which
//   waits for queued writes) and Tick (presence heartbeats, pruning).
// Lifetime: destroy the engine only after Shutdown() returned; the borrowed
//   stores, policy, clock and executors must outlive it.
#ifndef COURIER_CORE_ENGINE_H_
#define COURIER_CORE_ENGINE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "courier/account_store.h"
#include "courier/contact_policy.h"
#include "courier/export.h"
#include "courier/group.h"
#include "courier/message_store.h"
#include "courier/notifier.h"
#include "courier/options.h"
#include "courier/presence_store.h"
#include "courier/transport.h"
#include "courier/types.h"

namespace courier {

enum class SessionState : std::uint8_t { kConnecting, kDraining, kLive, kClosed };

// One connected device. Obtained from Engine::Connect; owned jointly by the
// caller and the engine (std::shared_ptr).
// Thread-safety: safe for concurrent calls; calls from one thread take
//   effect in order (a send then an ack from the same thread stay ordered).
// Blocking: never blocks; results go out through the session's Transport.
class COURIER_EXPORT Session {
 public:
  Session() = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  virtual ~Session() = default;

  // The user and device this session was connected as: valid, unchanged,
  // while the session lives (a view, so that a session need not keep a
  // std::string and its heap block per name: one session per connection).
  virtual std::string_view user() const = 0;
  virtual std::string_view device() const = 0;
  virtual SessionState state() const = 0;

  // Sends `body` to `to` as this session's user. Answers SentFrame, or an
  // ErrorFrame with the cid (too_large, not_friends, unknown_user,
  // rate_limited, unavailable, queue_full, bad_frame for a bad cid or name).
  // A repeat of a cid stored through this engine is answered `sent` with
  // duplicate at once, without a rate-limit token; a duplicate found by the
  // store gives its token back.
  virtual void Send(std::string cid, UserId to, std::string body) = 0;

  // Cumulative ack of every event up to `seq`. An ack at or below the
  // cursor is ignored; beyond the inbox head answers bad_seq. The window
  // opens at once; the store write of the cursor (and of the delivered
  // receipts) follows it, except while the session drains its backlog:
  // then acks that leave events to send are written together, one write
  // per 2,048 events acked, the ack that catches up at once, a held one at
  // the next Tick or when the session closes (lost only with the process:
  // those events are then sent again, at least once per device).
  virtual void Ack(Seq seq) = 0;

  // The user has read the messages `ids` (1..max_read_ids of them).
  virtual void Read(std::vector<MessageId> ids) = 0;

  // --- Groups (courier/group.h). Each answers through the transport.

  // Sends `body` to every member of `group` (the sender's own inbox
  // included), one message id, one store transaction. Checks in order: the
  // cid (bad_frame), the group id (unknown_group), the body's size
  // (too_large), a cid stored recently through this engine (`sent` with
  // duplicate at once), the rate limit (ONE token per group send, whatever
  // the group's size), then the store: unknown_group, not_member,
  // unavailable. Never queue_full: a member whose inbox is full is skipped
  // and named in SentFrame::skipped.
  virtual void SendToGroup(std::string cid, GroupId group, std::string body) = 0;

  // A change of a group: kCreate (`group` is ignored: the engine derives
  // the new id from (user, cid), so a create retried with the same cid
  // answers the same group with duplicate = true), kAdd, kRemove, kLeave,
  // kRename. Users added (or created with) must be users this user may send
  // to (ContactPolicy: unknown_user, not_friends). Answers GroupOkFrame, or
  // an ErrorFrame with the cid: bad_frame (a bad cid, name or member list),
  // the GroupError codes, rate_limited (changes share the send bucket),
  // unavailable.
  virtual void ChangeGroup(std::string cid, GroupAction action, GroupId group,
                           std::vector<UserId> members, std::string name) = 0;

  // Answers GroupsFrame with every group of this user, or with `group` only
  // (unknown_group when there is none, not_member when the user is not in
  // it). Reads the store on the delivery executor.
  virtual void ListGroups(std::string cid, std::optional<GroupId> group) = 0;

  // This user started (`on`) or stopped typing, to `to` (a user it may
  // send to) or in `group` (one it is a member of; `to` is then empty).
  // Relayed as a TypingFrame (ttl Limits::typing_ttl_ms) to the devices
  // of the peer, or of every other member, connected now on any node;
  // never stored, never to this user's own devices, never answered. Beyond
  // EngineOptions::typing_rate per user, or to someone who may not get it,
  // it is dropped silently (counted in EngineStats::typing_dropped).
  // Order: one user's typing ops reach each peer device in the order this
  // user's calls were made (they are relayed one at a time, through one
  // ordered lane per typist on the delivery executor); calls from several
  // threads at once are ordered as they reach the engine.
  virtual void Typing(UserId to, GroupId group, bool on) = 0;

  // The connection is gone. The engine drops the transport, updates presence.
  // Idempotent.
  virtual void Disconnect() = 0;
};

struct EngineStats {
  std::uint64_t sessions = 0;          // connected now
  std::uint64_t sends = 0;             // sends stored (not duplicates)
  std::uint64_t duplicate_sends = 0;
  std::uint64_t send_errors = 0;
  std::uint64_t events_delivered = 0;  // events handed to transports
  std::uint64_t acks = 0;
  std::uint64_t reads = 0;
  std::uint64_t commits = 0;           // store transactions
  std::uint64_t committed_ops = 0;     // ops in them (ops/commits = group size)
  std::uint64_t commit_queue_depth = 0;
  std::uint64_t commit_latency_us_total = 0;
  // Wall time with at least one batch in the store: staged batches overlap,
  // and their latencies count the overlap twice; this counts it once.
  std::uint64_t commit_busy_us_total = 0;
  std::uint64_t write_reruns = 0;      // Writes again of ops in conflict (kAborted)
  // Failures no caller sees (see FAILURES NOBODY WAITS FOR above); each is
  // a count of failed calls since the engine was created.
  std::uint64_t heartbeat_errors = 0;  // PresenceStore::Heartbeat
  std::uint64_t prune_errors = 0;      // MessageStore::Prune
  std::uint64_t signal_errors = 0;     // PresenceStore::Publish (kick, presence, wake, typing)
  // PresenceStore Connect/Disconnect/Lookup and ContactPolicy::Contacts on
  // the presence paths (presence frames not sent, or sent later), and the
  // store reads of a group's members for typing (typing not relayed).
  std::uint64_t presence_errors = 0;
  std::uint64_t last_seen_errors = 0;  // AccountStore SetLastSeen / LastSeen
  std::uint64_t group_sends = 0;       // group sends stored (not duplicates)
  std::uint64_t group_changes = 0;     // group changes stored that changed something
  std::uint64_t typing_relayed = 0;    // typing frames handed to transports or other nodes
  std::uint64_t typing_dropped = 0;    // typing ops dropped (rate, not allowed)
};

class COURIER_EXPORT Engine {
 public:
  struct Deps {
    MessageStore* store = nullptr;       // required
    PresenceStore* presence = nullptr;   // required
    ContactPolicy* contacts = nullptr;   // required
    AccountStore* accounts = nullptr;    // optional: durable last seen
    // Optional: told of every committed batch's appended events, on the
    // delivery executor (courier/notifier.h: pushes to offline devices).
    Notifier* notifier = nullptr;
  };

  // kInvalidArgument when a required dependency is missing or an option is
  // out of range. Subscribes to the presence store's signals for options.node.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(const EngineOptions& options,
                                                        Deps deps);

  Engine() = default;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  virtual ~Engine() = default;

  // Opens a session for an authenticated (user, device). `since`, when given,
  // is the starting point instead of the stored cursor (a device that lost
  // its state asks from 0). Returns at once; the welcome, presence of the
  // user's contacts, and then the inbox stream follow through `transport`.
  // kInvalidArgument for a bad device name; kResourceExhausted when the user
  // has max_sessions_per_user sessions; kUnavailable after Shutdown.
  virtual absl::StatusOr<std::shared_ptr<Session>> Connect(
      const UserId& user, const DeviceId& device, std::optional<Seq> since,
      std::shared_ptr<Transport> transport) = 0;

  // New events may be in `user`'s inbox (written by another node): every
  // local session of the user re-reads from its position.
  virtual void Wake(const UserId& user) = 0;

  // The open sessions of `user` on this engine (of `device` only, when
  // given): each one's device and the transport it was connected with, in
  // no particular order. A session is listed from Connect until it closes
  // (Disconnect, replacement, a failed attach, Shutdown). So that a server
  // can close or list a user's connections (its own transports among them)
  // without a per-user table of its own.
  // Thread-safety: any thread. Blocking: no (takes a shard's lock).
  struct OpenSession {
    DeviceId device;
    std::shared_ptr<Transport> transport;  // never null
  };
  virtual std::vector<OpenSession> OpenSessions(const UserId& user,
                                                const std::optional<DeviceId>& device) = 0;

  // The account `user` is gone (deleted): forgets what this node cached
  // about it, so that a send to it is checked against the ContactPolicy
  // again (and answered unknown_user) instead of landing in an inbox a
  // later account of that name would inherit. Nodes that are not told
  // forget it anyway within EngineOptions::contact_cache_ttl_ms (see
  // ALLOWED PAIRS above).
  virtual void ForgetUser(const UserId& user) = 0;

  // `user` leaves every group it is a member of (one kLeave per group, told
  // to the other members as usual); the example server calls it before it
  // deletes an account. `done` runs once, on the delivery executor, with OK
  // or the first failure (kUnavailable: call again, it resumes). OK at once
  // for a store that keeps no groups (MessageStore::GroupsOf unimplemented).
  virtual void LeaveAllGroups(const UserId& user,
                              absl::AnyInvocable<void(absl::Status)> done) = 0;

  // Periodic work; call about once a second (the example server runs a
  // timer). Polls heads of connected devices, refreshes presence, tells
  // local devices of presence that changed without a disconnect (another
  // node's registrations expired), prunes.
  virtual void Tick() = 0;

  // Stops accepting, closes every session with kGoingAway, waits for the
  // commit queue to drain. Idempotent.
  virtual void Shutdown() = 0;

  virtual EngineStats stats() const = 0;

  // OK when the store answers (health checks).
  virtual absl::Status Health() = 0;
};

}  // namespace courier

#endif  // COURIER_CORE_ENGINE_H_
