// cluster_close.cc: the local close, the Lookup, one kClose per other node.
#include "cluster_close.h"

#include <spdlog/spdlog.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace courier::server {

std::string_view CloseReasonOf(std::uint16_t code) {
  switch (code) {
    case kCloseDisconnectedByAdmin:
      return "disconnected by an administrator";
    case kCloseAccountDisabled:
      return "account disabled";
    default:
      return "closed by an administrator";
  }
}

NodeId AdminChannel(const NodeId& node) { return node + ".admin"; }

absl::StatusOr<std::unique_ptr<ClusterCloser>> ClusterCloser::Start(PresenceStore& presence,
                                                                    NodeId node) {
  const NodeId channel = AdminChannel(node);
  if (absl::Status s = ValidateName("admin channel (node id + \".admin\")", channel); !s.ok()) {
    return s;
  }
  std::unique_ptr<ClusterCloser> closer(new ClusterCloser(presence, std::move(node)));
  ClusterCloser* self = closer.get();
  absl::Status s = presence.Subscribe(channel, [self](const Signal& signal) {
    if (signal.kind != Signal::Kind::kClose) return;
    std::optional<DeviceId> device;
    if (!signal.device.empty()) device = signal.device;
    const std::size_t closed = self->CloseHere(signal.user, device, signal.close_code);
    spdlog::info("event=admin_close_signal user={} device={} code={} from={} closed={}",
                 signal.user, signal.device, signal.close_code, signal.from_node, closed);
  });
  if (!s.ok()) return s;
  return closer;
}

ClusterCloser::~ClusterCloser() { presence_.Unsubscribe(AdminChannel(node_)); }

std::size_t ClusterCloser::CloseHere(const UserId& user, const std::optional<DeviceId>& device,
                                     std::uint16_t code) {
  websocket::Server* server = server_.load();
  return server != nullptr ? server->CloseSessions(user, device, code, CloseReasonOf(code)) : 0;
}

std::size_t ClusterCloser::CloseEverywhere(const UserId& user,
                                           const std::optional<DeviceId>& device,
                                           std::uint16_t code) {
  const std::size_t closed = CloseHere(user, device, code);
  const UserId users[] = {user};
  absl::StatusOr<std::vector<Presence>> presence = presence_.Lookup(users);
  if (!presence.ok()) {
    spdlog::warn("event=admin_close_lookup_failed user={} error=\"{}\"", user,
                 std::string(presence.status().message()));
    return closed;
  }
  Signal signal;
  signal.kind = Signal::Kind::kClose;
  signal.user = user;
  signal.device = device.value_or(DeviceId());
  signal.from_node = node_;
  signal.close_code = code;
  for (const Presence& p : *presence) {
    for (const NodeId& n : p.nodes) {
      if (n == node_) continue;
      if (absl::Status s = presence_.Publish(AdminChannel(n), signal); !s.ok()) {
        spdlog::warn("event=admin_close_publish_failed user={} node={} error=\"{}\"", user, n,
                     std::string(s.message()));
      }
    }
  }
  return closed;
}

}  // namespace courier::server
