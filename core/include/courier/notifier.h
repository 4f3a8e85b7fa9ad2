// courier/notifier.h: waking devices that are not connected (push).
//
// The inbox is the truth; a push only says "something is waiting", and the
// device then connects and drains. Pushes are best effort: they never delay
// or fail a send.
//
// THE SEAM. The engine calls Notifier::OnCommitted once per committed write
// op with the events it appended, on the commit stage's thread (see
// courier/engine.h), right where it routes the same events to local
// sessions (after the store's transaction committed, before `sent` goes
// out). OnCommitted must
// return at once: no store, network or presence call, no callback into the
// engine, no error to report. Whatever it cannot take it drops and counts.
//
// THE STANDARD NOTIFIER (NewPushNotifier) keeps a bounded table of pending
// notices, one per recipient user, and works them off on its own worker
// thread, outside the commit path:
//  * Only message events count (receipts and group changes wake nobody),
//    and not a sender's own copy of a group message (peer == the inbox's
//    owner).
//  * Coalescing: the first message for a user opens a notice due `hold_ms`
//    later; every further message until the notice is sent only adds to it
//    (count, senders). A burst of 100 messages gives one push per device,
//    or a few when it spans several hold windows.
//  * Bound: at most `max_pending` users have a notice pending; a message for
//    another user is dropped and counted (`dropped`).
//  * The rule "who gets a push", decided on the worker when the notice is
//    due, never on the commit path: the user has no device connected on ANY
//    node (PresenceStore::Lookup, so a cluster's other nodes count). Then
//    every device with a stored subscription is pushed
//    (AccountStore::PushSubscriptions), and the webhook, when configured,
//    gets one call for the user. A user with a device connected gets no
//    push, whatever its acks: a connected device is being streamed to, and
//    a connection that went dead without a close is dropped by the
//    transport's ping timeout, after which the user is offline and the next
//    message pushes. (A connected device that does not ack is not woken.)
//  * A subscription whose push service answers "gone" (HTTP 404 / 410) is
//    deleted from the account store, unless it was replaced meanwhile.
//
// Ownership: NewPushNotifier's result is the caller's; it borrows the
//   stores, the sender and the clock, which must outlive it.
// Thread-safety: every method may be called from any thread.
// Blocking: OnCommitted and stats never block (a short mutex). RunDue and
//   Shutdown block on the stores and the sender.
#ifndef COURIER_CORE_NOTIFIER_H_
#define COURIER_CORE_NOTIFIER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "courier/account_store.h"
#include "courier/clock.h"
#include "courier/export.h"
#include "courier/message_store.h"
#include "courier/presence_store.h"
#include "courier/types.h"

namespace courier {

// What the engine tells after a commit. See the top of this file.
class COURIER_EXPORT Notifier {
 public:
  Notifier() = default;
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;
  virtual ~Notifier() = default;

  // The events one committed op appended, in append order. Called from
  // the commit stage's threads (two for a store that stages writes, one
  // at a time for now; do not rely on it). Never blocks, never
  // fails; must not call back into the engine.
  virtual void OnCommitted(absl::Span<const Appended> appended) = 0;
};

// What one push says: a user has `count` new messages since the last push.
struct PushNotice {
  UserId user;
  std::uint64_t count = 0;
  // Distinct senders in order of their first message; at most
  // kMaxNoticeSenders (more senders still count in `count`).
  std::vector<UserId> senders;
  // PushContent::kFull only: the latest messages (at most kMaxNoticeMessages,
  // oldest first), plaintext. Empty otherwise.
  std::vector<Event> messages;
};

inline constexpr std::size_t kMaxNoticeSenders = 8;
inline constexpr std::size_t kMaxNoticeMessages = 3;

enum class PushOutcome : std::uint8_t {
  kDelivered,  // the push service (or webhook) accepted it
  kGone,       // the subscription no longer exists (404 / 410): delete it
  kGaveUp,     // unreachable or refusing after the sender's retries
};

// Sends notices out. Implemented outside the core (courier-server wraps
// courier::webpush). Called only from the notifier's worker thread.
// Blocking: each call blocks for the sender's timeouts and retries.
class COURIER_EXPORT PushSender {
 public:
  PushSender() = default;
  PushSender(const PushSender&) = delete;
  PushSender& operator=(const PushSender&) = delete;
  virtual ~PushSender() = default;

  // Pushes `notice` to one device's stored subscription (the opaque string
  // given to AccountStore::SetPushSubscription).
  virtual PushOutcome ToDevice(const PushNotice& notice, const PushSubscriptionRecord& device) = 0;
  // Tells the operator's gateway (a webhook) about `notice`, once per
  // notice. A sender without a gateway returns kDelivered without sending.
  virtual PushOutcome ToGateway(const PushNotice& notice) = 0;
  // Whether ToGateway sends anything.
  virtual bool has_gateway() const = 0;
};

enum class PushContent : std::uint8_t {
  kNames,  // sender names and the count (the default)
  kFull,   // also the latest messages' text
};

struct PushNotifierOptions {
  // How long a notice collects messages before it is worked (ms). The
  // worker takes the notices due in rounds at least 50 ms apart, so a
  // notice may be worked up to 50 ms after it is due.
  TimeMs hold_ms = 2'000;
  // Users with a notice pending at most; beyond, messages are dropped.
  std::size_t max_pending = 10'000;
  PushContent content = PushContent::kNames;
  // Start a worker thread. Off: the owner calls RunDue (tests).
  bool start_worker = true;
};

// Counters since start. Until Shutdown, messages = notices + coalesced +
// dropped; Shutdown adds the messages of the notices still pending to
// `dropped`.
struct PushStats {
  std::uint64_t messages = 0;        // message events offered by the engine
  std::uint64_t notices = 0;         // notices opened (one per user and window)
  std::uint64_t coalesced = 0;       // messages folded into a pending notice
  std::uint64_t dropped = 0;         // messages refused (max_pending) or dropped at Shutdown
  std::uint64_t pending = 0;         // notices waiting now
  std::uint64_t skipped_online = 0;  // notices not sent: a device was connected
  std::uint64_t no_subscription = 0; // notices for a user with no subscription
  std::uint64_t sent = 0;            // pushes accepted (devices and webhook)
  std::uint64_t gone = 0;            // pushes answered 404 / 410 (subscription deleted)
  std::uint64_t failed = 0;          // pushes given up after retries
  std::uint64_t lookup_errors = 0;   // presence or account store errors
};

class COURIER_EXPORT PushNotifier : public Notifier {
 public:
  // Works every notice due at the clock's now, on the calling thread.
  // Returns how many notices it worked. Blocks on the stores and sender.
  virtual std::size_t RunDue() = 0;
  // Stops the worker (the notice being sent finishes); pending notices are
  // dropped and counted. Idempotent; the destructor calls it.
  virtual void Shutdown() = 0;
  virtual PushStats stats() const = 0;
};

struct PushNotifierDeps {
  PresenceStore* presence = nullptr;  // required
  AccountStore* accounts = nullptr;   // required
  PushSender* sender = nullptr;       // required
  Clock* clock = nullptr;             // optional: SystemClock()
};

// kInvalidArgument when a dependency is missing or an option is out of range
// (hold_ms 0..60000, max_pending 1..1000000).
COURIER_EXPORT absl::StatusOr<std::unique_ptr<PushNotifier>> NewPushNotifier(
    const PushNotifierOptions& options, PushNotifierDeps deps);

}  // namespace courier

#endif  // COURIER_CORE_NOTIFIER_H_
