// cluster_close.h: an administrator's close (4410, 4403) on every node.
//
// The admin API runs on one node, but the user's devices may be connected
// to others. ClusterCloser closes the sessions on this node through the
// public server, and asks every other node that holds a device of the user
// (PresenceStore::Lookup) to do the same with a Signal::Kind::kClose
// signal: the presence store's signal path, the one a kReplaced (4409) kick
// takes between nodes (Redis pub/sub in a cluster). Each node listens under
// a name of its own beside the engine's, AdminChannel(node), because the
// engine's subscription is the engine's.
//
// Signals are best effort: a node that misses one still closes the sessions
// of a disabled or deleted user with 4403 at its next revocation check
// (revocation.h), but a missed 4410 leaves that device connected.
//
// Ownership: borrows `presence`, which must outlive the closer; the server
//   attached with AttachServer must outlive it or be detached (nullptr).
// Thread-safety: safe for concurrent use; signals arrive on the presence
//   store's thread.
// Blocking: CloseEverywhere blocks on one presence Lookup and one Publish
//   per other node; the destructor unsubscribes (waits for a running
//   handler).
#ifndef COURIER_EXAMPLES_SERVER_CLUSTER_CLOSE_H_
#define COURIER_EXAMPLES_SERVER_CLUSTER_CLOSE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "courier/presence_store.h"
#include "courier/types.h"
#include "courier/websocket/server.h"

namespace courier::server {

// WebSocket close codes of the admin API (docs/PROTOCOL.md "Close codes").
inline constexpr std::uint16_t kCloseDisconnectedByAdmin = 4410;  // a device was disconnected
inline constexpr std::uint16_t kCloseAccountDisabled = 4403;      // disabled or deleted user

// The close reason sent with `code` (the same text on every node).
std::string_view CloseReasonOf(std::uint16_t code);

// The presence name a node's closer listens under: `node` + ".admin".
NodeId AdminChannel(const NodeId& node);

class ClusterCloser {
 public:
  // Subscribes AdminChannel(node) on `presence`. kInvalidArgument when that
  // name is too long for a node id (then use a shorter --node-id).
  static absl::StatusOr<std::unique_ptr<ClusterCloser>> Start(PresenceStore& presence,
                                                              NodeId node);
  ~ClusterCloser();
  ClusterCloser(const ClusterCloser&) = delete;
  ClusterCloser& operator=(const ClusterCloser&) = delete;

  // The public server of this node (its sessions are the ones closed here).
  void AttachServer(websocket::Server* server) { server_.store(server); }

  // Closes `user`'s sessions (only `device`'s when given) with `code` on
  // this node and signals every other node that holds a device of `user`.
  // Returns how many sessions it closed on this node; other nodes close
  // theirs when the signal arrives (normally within milliseconds). A failed
  // Lookup or Publish is logged, not returned: the local close has happened.
  // REQUIRES: IsApplicationCloseCode(code).
  std::size_t CloseEverywhere(const UserId& user, const std::optional<DeviceId>& device,
                              std::uint16_t code);

 private:
  ClusterCloser(PresenceStore& presence, NodeId node)
      : presence_(presence), node_(std::move(node)) {}
  std::size_t CloseHere(const UserId& user, const std::optional<DeviceId>& device,
                        std::uint16_t code);

  PresenceStore& presence_;
  const NodeId node_;
  std::atomic<websocket::Server*> server_{nullptr};
};

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_CLUSTER_CLOSE_H_
