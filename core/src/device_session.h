// device_session.h (internal): the state machine of one connected device.
//
// States (see courier/engine.h): connecting -> draining -> live -> closed.
// The session keeps, under its own mutex:
//   start_      the seq the stream started after (stored cursor or `since`)
//   sent_upto_  the highest seq handed to the transport (stream position)
//   acked_      the highest seq this device acked on this connection
//   known_head_ the highest seq known to exist in the inbox
//   pumping_    a fetch task is scheduled or running
//   ack_held_   events acked by the device whose AckOp is not queued yet
//               (acked_ - ack_held_ is the highest ack handed to the store)
// Invariants: start_ <= sent_upto_; events go to the transport strictly in
// seq order, each at most once per connection; at most `window` events are
// unacked in flight (sent_upto_ - max(acked_, start_) <= window).
// Two paths feed the stream: OnEvent hands over an event just committed by
// this node (sent at once when it is the next seq, the window allows and no
// fetch is running), and Pump reads pages from the store (after connect, when
// behind, after a wake-up from another node or a head poll). Only one of
// them sends at a time: both hold the mutex, and OnEvent defers to a running
// pump, which re-reads from sent_upto_.
// Acks while draining. The window opens when an ack arrives; the store
// write of the cursor (and the delivered receipts it appends) may wait:
// while the session drains its connect-time backlog, an ack that leaves
// events to send is held until kAckHoldEvents events are acked, and one
// AckOp covers them all (acks are cumulative, so the store sees the same
// cursors and receipts, fewer commits: W2's drain made one commit per
// window before). A held ack is queued by the next ack that reaches the
// limit, catches up or arrives live, by SubmitHeldAck (the engine's Tick,
// about once a second) and by Disconnect or CloseBy. Not yet queued, it is
// only lost with the process: the device is then sent those events again
// (at least once per device).
// The next page. A drain is a ping-pong of windows: the device acks, a
// page is read, opened and encoded, the device reads it and acks. So that
// the reading and opening do not wait for the ack, Pump reads the next
// page when the window is full (into Extras, only while there is one) and
// an ack that makes room sends what fits of it at once, on the ack's own
// thread (the connection's io thread: encoded straight into its write
// buffer); Pump then reads the one after. A page that no longer starts at
// the stream position (a live event or an ack beyond it moved the stream)
// is dropped, never sent.
// Group ops (device_session_groups.cc) follow Send's path: checks through
// the host, one op on the commit queue, the answer from its completion.
//
// Thread-safety: every method may be called from any thread.
// Blocking: Pump, AnswerRepeatedCreate and AnswerListGroups block on the
//   store (run them on the delivery executor); the others never block on
//   the store (Send and ChangeGroup may wait for the ContactPolicy, through
//   the host's checks).
#ifndef COURIER_CORE_SRC_DEVICE_SESSION_H_
#define COURIER_CORE_SRC_DEVICE_SESSION_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "commit_queue.h"
#include "courier/engine.h"
#include "courier/executor.h"
#include "courier/name_key.h"
#include "courier/options.h"
#include "small_mutex.h"

namespace courier::internal {

class DeviceSession;

// The limits every group op carries (courier/group.h), from the engine's.
inline GroupLimits GroupLimitsOf(const Limits& limits) {
  return GroupLimits{limits.max_group_members, limits.max_groups_per_user,
                     limits.max_group_name_bytes};
}

// What a session needs from its engine. Implemented by the engine core.
class SessionHost {
 public:
  virtual ~SessionHost() = default;
  virtual const EngineOptions& options() const = 0;
  virtual TimeMs Now() const = 0;
  virtual MessageStore& store() = 0;
  virtual Executor& delivery() = 0;
  // `lane`: the executor `done` runs on (null: the delivery executor).
  virtual void Submit(WriteOp op, CommitQueue::Done done, std::shared_ptr<Executor> lane) = 0;
  // Validates a send (limits, rate, contacts). Returns the frame that
  // answers it without a store write (an error, or `sent` with duplicate for
  // a cid known to be stored already), or none to go ahead and append.
  virtual std::optional<ServerFrame> CheckSend(const UserId& from, const std::string& cid,
                                               const UserId& to, std::size_t body_size) = 0;
  // An append of (from, cid) committed (`duplicate`: it had been stored
  // before). Remembers the answer for repeats and gives back the rate token
  // of a duplicate.
  virtual void OnAppended(const UserId& from, const std::string& cid, const AppendResult& r) = 0;
  virtual MessageId NewMessageId() = 0;
  // The session ended by Disconnect (not by replacement or shutdown).
  virtual void OnDisconnected(const std::shared_ptr<DeviceSession>& session) = 0;
  virtual void CountDelivered(std::size_t n) = 0;
  // Counts the result of an AppendOp or a GroupSendOp.
  virtual void CountSend(const absl::StatusOr<WriteResult>& r) = 0;

  // --- Groups (courier/group.h); the session side is device_session_groups.cc.
  // Validates a group send before it is queued, in engine.h's order (cid,
  // group id, size, a recent repeat, the rate). Same contract as CheckSend.
  virtual std::optional<ServerFrame> CheckGroupSend(const UserId& from, const std::string& cid,
                                                    const GroupId& group,
                                                    std::size_t body_size) = 0;
  // A group send of (from, cid) committed: as OnAppended.
  virtual void OnGroupSent(const UserId& from, const std::string& cid,
                           const GroupSendResult& r) = 0;
  // Validates a change built by the session (op.group already derived for
  // kCreate) before it is queued: the cid, the action, the group id, the
  // op's shape (ValidateWriteOp), the rate (the send bucket), then every
  // user a kCreate or kAdd names must be one `op.actor` may send to.
  // Returns the error that answers it, or none to go ahead.
  virtual std::optional<ErrorFrame> CheckGroupChange(const std::string& cid,
                                                     const GroupChangeOp& op) = 0;
  // A change of `group` was stored (or changed nothing): counts it and
  // refreshes what typing knows of the group's members.
  virtual void OnGroupChanged(const GroupId& group, const GroupChangeResult& r) = 0;
  // Gives back a rate token (a repeated create that stored nothing).
  virtual void RefundRate(const UserId& user) = 0;
  // Session::Typing of `from`; drops or relays it (never answers).
  virtual void Typing(const UserId& from, const UserId& to, const GroupId& group, bool on) = 0;
  virtual void CountAck() = 0;
  virtual void CountRead() = 0;
};

class DeviceSession final : public Session,
                            public std::enable_shared_from_this<DeviceSession> {
 public:
  DeviceSession(std::shared_ptr<SessionHost> host, UserId user, DeviceId device,
                std::optional<Seq> since, std::shared_ptr<Transport> transport);

  // Session
  std::string_view user() const override { return user_.view(); }
  std::string_view device() const override { return device_.view(); }
  SessionState state() const override;
  void Send(std::string cid, UserId to, std::string body) override;
  void Ack(Seq seq) override;
  void Read(std::vector<MessageId> ids) override;
  void Disconnect() override;
  // Groups (device_session_groups.cc).
  void SendToGroup(std::string cid, GroupId group, std::string body) override;
  void ChangeGroup(std::string cid, GroupAction action, GroupId group,
                   std::vector<UserId> members, std::string name) override;
  void ListGroups(std::string cid, std::optional<GroupId> group) override;
  void Typing(UserId to, GroupId group, bool on) override;

  // Engine side.
  // The attach committed; `presence` are the contacts' presence frames.
  void OnAttached(absl::StatusOr<WriteResult> result, std::vector<PresenceFrame> presence);
  // An event of this user's inbox was just committed by this node (the
  // commit stage routes it here, on Home()'s lane: commit_queue.h).
  void OnEvent(const Event& event);
  // The executor this session's results and routed events run on: its
  // transport's own thread (Transport::executor()); null (also once
  // closed: the transport is gone, nothing is sent): the delivery
  // executor. Asked of the transport each time, not kept (16 bytes a
  // connection: W4).
  std::shared_ptr<Executor> Home() const;
  // New events may exist in the store (wake-up, head poll).
  void Poke();
  // Reads the next page from the store and streams it (delivery executor).
  void Pump();
  // Queues the held ack, if any (see "Acks while draining" above).
  void SubmitHeldAck();
  // Sends frames unless closed (buffered while connecting).
  void Emit(std::vector<ServerFrame> frames);
  void EmitOne(ServerFrame frame);
  // Closes with `code` without the disconnect bookkeeping (replacement,
  // shutdown). Returns false if it was already closed.
  bool CloseBy(CloseCode code, std::string_view reason);
  bool closed() const;
  // The transport frames go to; null once closed.
  std::shared_ptr<Transport> transport() const;
  // The contacts whose presence this device was given after welcome.
  void SetContacts(std::vector<UserId> contacts);
  std::vector<UserId> contacts() const;

 private:
  // An op of a send by this session's user (AppendOp, GroupSendOp) to
  // `to`, which goes in the op's `address` field, with the fields every
  // send shares.
  template <typename Op, typename Address>
  Op SendOp(Address Op::*address, Address to, const std::string& cid, std::string body) const {
    Op op;
    op.*address = std::move(to);
    op.sender = user_.str();
    op.cid = cid;
    op.id = host_->NewMessageId();
    op.body = std::move(body);
    op.ts = host_->Now();
    op.max_undelivered = host_->options().limits.max_undelivered;
    return op;
  }
  // Emits the frame the host's check of a send answered with, if any.
  // Returns true when there was one: the send is answered, nothing queued.
  bool AnsweredByCheck(std::optional<ServerFrame> answer);
  // Queues the op of a send (Send, SendToGroup). The completion, on this
  // session's executor, counts the send and hands the op's result
  // (ResultAs) to `answer`.
  template <typename Op, typename Result>
  void SubmitSend(Op op, std::string cid,
                  void (DeviceSession::*answer)(std::string, absl::StatusOr<Result>)) {
    host_->Submit(std::move(op), [self = shared_from_this(), cid = std::move(cid),
                                  answer](absl::StatusOr<WriteResult> r) mutable {
      self->host_->CountSend(r);
      ((*self).*answer)(std::move(cid), ResultAs<Result>(std::move(r)));
    }, Home());
  }
  // The answers of a committed (or failed) send, on this session's executor.
  void AnswerSend(std::string cid, absl::StatusOr<AppendResult> ar);
  void AnswerGroupSend(std::string cid, absl::StatusOr<GroupSendResult> sent);
  // A create was refused with kGroupExists: answers the repeat (delivery
  // executor: reads the record).
  void AnswerRepeatedCreate(std::string cid, GroupId group);
  // Answers ListGroups from the store (delivery executor).
  void AnswerListGroups(std::string cid, std::optional<GroupId> group);
  // Queues one AckOp up to `seq` (outside mu_).
  void SubmitAck(Seq seq);
  // The held ack's seq, to queue now (none held: 0); clears the hold.
  Seq TakeHeldAckLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // An ack up to `seq` is durable: the window opens; acked events beyond
  // the stream position are skipped, never sent.
  void OnAckCommitted(Seq seq);
  std::size_t InFlightLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The `synced` frame, when it is due now (marks it sent: at most once).
  std::optional<ServerFrame> SyncedDueLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeSyncedLocked(std::vector<ServerFrame>& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SchedulePumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendLocked(std::vector<ServerFrame> frames) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Borrowed frames (Transport::SendView): no vector, no copy.
  void SendLocked(std::span<const FrameRef> frames) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // A page read from the store after seq `after` (moved up as its front is
  // sent): events[taken..] are left; `exhausted`: the store had fewer than
  // asked for, while the highest seq known was `head_before`.
  struct Page {
    Seq after = 0;
    Seq head_before = 0;
    bool exhausted = false;
    std::size_t taken = 0;
    std::vector<Event> events;
  };
  // Streams up to `max` events of `page` (and `synced` when due); returns
  // the events sent.
  std::size_t SendPageLocked(Page& page, std::size_t max) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends what the window has room for of the next page, if there is one
  // (dropped when it no longer starts at the stream position); returns the
  // events sent.
  std::size_t SendNextPageLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HasNextPageLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return extras_ != nullptr && extras_->next != nullptr;
  }

  // What most sessions hold only for a moment, or never: the frames
  // emitted before welcome (connecting only) and the contacts given
  // presence (users with contacts). In a block of its own, allocated at the
  // first use and freed when both are empty: an idle session without
  // contacts holds none.
  struct Extras {
    std::vector<ServerFrame> early;  // frames before welcome
    std::vector<UserId> contacts;
    // The next page, read while the window was full (see "The next page").
    std::unique_ptr<Page> next;
  };
  Extras& ExtrasLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops the frames before welcome (and the block, if nothing else is in it).
  void DropEarlyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TrimExtrasLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Fields ordered by size so that the small ones share a word (one
  // session per connected device: its size is per connection, see
  // tests/websocket/connection_memory_test.cc). The names are NameKeys:
  // up to 23 bytes inline, no heap block of their own (a std::string
  // holds 15; a W4 user name is 16).
  const std::shared_ptr<SessionHost> host_;
  const NameKey user_;
  const NameKey device_;
  std::shared_ptr<Transport> transport_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Extras> extras_ ABSL_GUARDED_BY(mu_);  // null: none (Extras)
  // Until the attach completes (kConnecting), the client's `since` if
  // has_since_ (0 otherwise): nothing reads the stream position before.
  Seq start_ ABSL_GUARDED_BY(mu_) = 0;
  Seq sent_upto_ ABSL_GUARDED_BY(mu_) = 0;
  Seq acked_ ABSL_GUARDED_BY(mu_) = 0;
  Seq known_head_ ABSL_GUARDED_BY(mu_) = 0;
  Seq head_at_connect_ ABSL_GUARDED_BY(mu_) = 0;
  // A lock of 4 bytes (small_mutex.h), beside the small fields in one word.
  mutable SmallMutex mu_;
  SessionState state_ ABSL_GUARDED_BY(mu_) = SessionState::kConnecting;
  const bool has_since_;  // the client named where to resume (`since`)
  bool synced_ : 1 ABSL_GUARDED_BY(mu_) = false;
  bool pumping_ : 1 ABSL_GUARDED_BY(mu_) = false;
  bool poked_ : 1 ABSL_GUARDED_BY(mu_) = false;  // fetch at least once more
  // Below kAckHoldEvents; in the spare bits of the word above (no growth).
  std::uint16_t ack_held_ : 12 ABSL_GUARDED_BY(mu_) = 0;
};

// Events a draining session's acks may hold before one AckOp covers them
// (see "Acks while draining"). Below the 4,096 messages per inbox that a
// store may remember for the acks (courier::rocksdb's pending and fetched
// runs), and below 2^12 (ack_held_).
inline constexpr Seq kAckHoldEvents = 2'048;

}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_DEVICE_SESSION_H_
