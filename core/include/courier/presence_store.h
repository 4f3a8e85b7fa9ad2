// courier/presence_store.h: who is online where, last seen, and the signals
// that connect the nodes of a cluster.
//
// Online = at least one device connected on some node. A node records each
// connected device with Connect and removes it with Disconnect; Heartbeat
// re-registers every session the node holds and refreshes their expiry, so a
// crashed node's users go offline after the adapter's TTL. When the last
// device of a user leaves, the store records last seen.
//
// Signals are how nodes talk: a node publishes a Signal to another node by
// name (wake a user's devices after a send; close a device that connected
// again elsewhere; a friend's presence changed; close a user's sessions for
// an administrator). Delivery of signals is best
// effort: a lost wake-up only delays delivery, because every connected
// device re-reads its inbox head periodically.
//
// Ownership: the caller owns the store (std::unique_ptr from a factory).
// Thread-safety: implementations are safe for concurrent use.
// Blocking: methods block until the backend answers or times out. Adapters
//   whose backend is unreachable keep serving from local memory and say so in
//   their header (see courier::redis).
#ifndef COURIER_CORE_PRESENCE_STORE_H_
#define COURIER_CORE_PRESENCE_STORE_H_

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "courier/export.h"
#include "courier/types.h"

namespace courier {

struct Presence {
  UserId user;
  bool online = false;
  std::optional<TimeMs> last_seen;  // set when known and the user is offline
  std::vector<NodeId> nodes;        // nodes holding a device of the user
};

struct ConnectOutcome {
  bool became_online = false;         // no device of the user was online before
  std::optional<NodeId> replaced_on;  // the same device was registered on this other node
};

struct Signal {
  enum class Kind : std::uint8_t {
    kWake = 1,      // new events in `user`'s inbox
    kKick = 2,      // close `user`/`device` here: it connected on `from_node`
    kPresence = 3,  // `user`'s presence changed; tell local friends
    // Close `user`'s sessions here (only `device`'s when it is set) with
    // WebSocket close code `close_code`: an administrator disconnected the
    // device (4410) or disabled or deleted the user (4403). The engine does
    // not handle it; the server subscribes for it under a name of its own
    // (examples/server/cluster_close.h).
    kClose = 4,
    // `from_user` started (`on`) or stopped typing: tell the local devices
    // of `user` (a 1:1 chat, `group` empty), or, when `group` is set, the
    // local devices of that group's members other than `from_user` (`user`
    // empty; the node reads the group's members itself).
    kTyping = 5,
  };
  Kind kind = Kind::kWake;
  UserId user;
  DeviceId device;   // kKick; kClose when one device only
  NodeId from_node;  // the publishing node
  std::uint16_t close_code = 0;  // kClose only: an application code, 4000-4999
  UserId from_user{};  // kTyping: who types
  GroupId group{};     // kTyping: in which group (empty: to `user`)
  bool on = false;   // kTyping: started (true) or stopped
};

// Whether `code` is a WebSocket close code for applications (RFC 6455
// 7.4.2): the only codes a kClose signal may carry.
inline constexpr bool IsApplicationCloseCode(std::uint16_t code) {
  return code >= 4000 && code <= 4999;
}

using DeviceOnNode = std::pair<UserId, DeviceId>;

class COURIER_EXPORT PresenceStore {
 public:
  PresenceStore() = default;
  PresenceStore(const PresenceStore&) = delete;
  PresenceStore& operator=(const PresenceStore&) = delete;
  virtual ~PresenceStore() = default;

  // Registers (user, device) as connected on `node`. If the same device was
  // registered on another node, that registration is replaced and named in
  // `replaced_on`.
  virtual absl::StatusOr<ConnectOutcome> Connect(const UserId& user, const DeviceId& device,
                                                 const NodeId& node, TimeMs now) = 0;

  // Removes (user, device) if it is registered on `node` (a registration that
  // moved to another node is left alone). Returns true when the user has no
  // device online any more; last seen is then `now`.
  virtual absl::StatusOr<bool> Disconnect(const UserId& user, const DeviceId& device,
                                          const NodeId& node, TimeMs now) = 0;

  // The presence of each user, in the order asked.
  virtual absl::StatusOr<std::vector<Presence>> Lookup(absl::Span<const UserId> users) = 0;

  // Re-registers `sessions` as connected on `node` and refreshes their expiry.
  virtual absl::Status Heartbeat(const NodeId& node, absl::Span<const DeviceOnNode> sessions,
                                 TimeMs now) = 0;

  // Sends `signal` to `to_node`'s subscriber. Best effort.
  virtual absl::Status Publish(const NodeId& to_node, const Signal& signal) = 0;

  // Calls `handler` for every signal published to `node`, on a thread of the
  // adapter's, never inside the Subscribe call. At most one subscription per
  // node name per store; a second one fails with kFailedPrecondition.
  // Unsubscribe stops calls; when it returns no handler call is running.
  virtual absl::Status Subscribe(const NodeId& node,
                                 absl::AnyInvocable<void(const Signal&)> handler) = 0;
  virtual void Unsubscribe(const NodeId& node) = 0;

  // Whether a device may be registered on a node other than `node`: false
  // only when the store knows that none ever was. An in-process store
  // (courier::memory) knows the nodes that ever registered a device; a
  // store shared between processes (Redis) cannot tell and answers true,
  // the default. An engine whose commits can concern no session on another
  // node skips the presence lookups and wake signals it would send there.
  // A session registers (Connect) before it first reads its inbox, so a
  // node whose first registration comes after the answer reads what the
  // skipped wake was about. Thread-safe and cheap (asked after every
  // commit's results are routed); never blocks on I/O.
  virtual bool MayHaveOtherNodes(const NodeId& /*node*/) const { return true; }
};

}  // namespace courier

#endif  // COURIER_CORE_PRESENCE_STORE_H_
