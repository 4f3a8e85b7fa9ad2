// device_session.h (internal): the state machine of one connected device.
//
// States (see courier/engine.h): connecting -> draining -> live -> closed.
// The session keeps, under its own mutex:
//   start_      the seq the stream started after (stored cursor or `since`)
//   sent_upto_  the highest seq handed to the transport (stream position)
//   acked_      the highest seq this device acked on this connection
//   known_head_ the highest seq known to exist in the inbox
//   pumping_    a fetch task is scheduled or running
// Invariants: start_ <= sent_upto_; events go to the transport strictly in
// seq order, each at most once per connection; at most `window` events are
// unacked in flight (sent_upto_ - max(acked_, start_) <= window).
// Two paths feed the stream: OnEvent hands over an event just committed by
// this node (sent at once when it is the next seq, the window allows and no
// fetch is running), and Pump reads pages from the store (after connect, when
// behind, after a wake-up from another node or a head poll). Only one of
// them sends at a time: both hold the mutex, and OnEvent defers to a running
// pump, which re-reads from sent_upto_.
//
// Thread-safety: every method may be called from any thread.
// Blocking: Pump blocks on the store (run it on the delivery executor); the
//   others never block.
#ifndef COURIER_CORE_SRC_DEVICE_SESSION_H_
#define COURIER_CORE_SRC_DEVICE_SESSION_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "courier/sync.h"
#include "commit_queue.h"
#include "courier/engine.h"
#include "courier/executor.h"
#include "courier/options.h"

namespace courier::internal {

class DeviceSession;

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
  // Hands events appended by a committed write to their inboxes' devices.
  virtual void Route(std::vector<Appended> appended) = 0;
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
  virtual void CountSend(const absl::StatusOr<WriteResult>& r) = 0;
  virtual void CountAck() = 0;
  virtual void CountRead() = 0;
};

class DeviceSession final : public Session,
                            public std::enable_shared_from_this<DeviceSession> {
 public:
  DeviceSession(std::shared_ptr<SessionHost> host, UserId user, DeviceId device,
                std::optional<Seq> since, std::shared_ptr<Transport> transport);

  // Session
  const UserId& user() const override { return user_; }
  const DeviceId& device() const override { return device_; }
  SessionState state() const override;
  void Send(std::string cid, UserId to, std::string body) override;
  void Ack(Seq seq) override;
  void Read(std::vector<MessageId> ids) override;
  void Disconnect() override;

  // Engine side.
  // The attach committed; `presence` are the contacts' presence frames.
  void OnAttached(absl::StatusOr<WriteResult> result, std::vector<PresenceFrame> presence);
  // An event of this user's inbox was just committed by this node.
  void OnEvent(const Event& event);
  // New events may exist in the store (wake-up, head poll).
  void Poke();
  // Reads the next page from the store and streams it (delivery executor).
  void Pump();
  // Sends frames unless closed (buffered while connecting).
  void Emit(std::vector<ServerFrame> frames);
  // Closes with `code` without the disconnect bookkeeping (replacement,
  // shutdown). Returns false if it was already closed.
  bool CloseBy(CloseCode code, std::string_view reason);
  bool closed() const;
  // The contacts whose presence this device was given after welcome.
  void SetContacts(std::vector<UserId> contacts);
  std::vector<UserId> contacts() const;

 private:
  // An ack up to `seq` is durable: the window opens; acked events beyond
  // the stream position are skipped, never sent.
  void OnAckCommitted(Seq seq);
  std::size_t InFlightLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeSyncedLocked(std::vector<ServerFrame>& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SchedulePumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendLocked(std::vector<ServerFrame> frames) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<SessionHost> host_;
  const UserId user_;
  const DeviceId device_;
  const std::optional<Seq> since_;
  // The transport's own thread (Transport::executor()), where the results
  // of this session's writes run; null: the delivery executor.
  const std::shared_ptr<Executor> home_;

  mutable Mutex mu_;
  std::shared_ptr<Transport> transport_ ABSL_GUARDED_BY(mu_);
  SessionState state_ ABSL_GUARDED_BY(mu_) = SessionState::kConnecting;
  std::vector<ServerFrame> early_ ABSL_GUARDED_BY(mu_);  // frames before welcome
  Seq start_ ABSL_GUARDED_BY(mu_) = 0;
  Seq sent_upto_ ABSL_GUARDED_BY(mu_) = 0;
  Seq acked_ ABSL_GUARDED_BY(mu_) = 0;
  Seq known_head_ ABSL_GUARDED_BY(mu_) = 0;
  Seq head_at_connect_ ABSL_GUARDED_BY(mu_) = 0;
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  bool pumping_ ABSL_GUARDED_BY(mu_) = false;
  bool poked_ ABSL_GUARDED_BY(mu_) = false;  // fetch at least once more
  std::vector<UserId> contacts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_DEVICE_SESSION_H_
