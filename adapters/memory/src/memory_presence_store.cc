// The in-process PresenceStore: registrations in a map under one mutex,
// signals delivered by one dispatcher thread of the store's own.
//
// A registration is (user, device) -> (node, refreshed). It is live while
// refreshed + ttl > now; an expired one counts as gone, and the time it was
// last refreshed becomes the user's last seen when no live device remains.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "courier/group.h"
#include "courier/memory.h"
#include "courier/name_key.h"
#include "courier/status.h"
#include "courier/sync.h"

namespace courier::memory {
namespace {

// Limits on inputs and on memory held for signals nobody has read yet.
constexpr std::size_t kMaxLookupUsers = 10'000;
constexpr std::size_t kMaxQueuedSignals = 1 << 16;

// The names of one device's registration on a node.
absl::Status ValidateRegistration(const UserId& user, const DeviceId& device,
                                  const NodeId& node) {
  COURIER_RETURN_IF_ERROR(ValidateName("user", user));
  COURIER_RETURN_IF_ERROR(ValidateName("device", device));
  return ValidateName("node", node);
}

absl::Status ValidateSignal(const Signal& signal) {
  switch (signal.kind) {
    case Signal::Kind::kWake:
    case Signal::Kind::kPresence:
      // The device is optional here, but when given it must be a name.
      if (!signal.device.empty()) {
        COURIER_RETURN_IF_ERROR(ValidateName("signal device", signal.device));
      }
      break;
    case Signal::Kind::kKick:
      COURIER_RETURN_IF_ERROR(ValidateName("signal device", signal.device));
      break;
    case Signal::Kind::kClose:
      if (!signal.device.empty()) {
        COURIER_RETURN_IF_ERROR(ValidateName("signal device", signal.device));
      }
      if (!IsApplicationCloseCode(signal.close_code)) {
        return absl::InvalidArgumentError(
            absl::StrCat("close signal code ", signal.close_code, " is not in 4000-4999"));
      }
      break;
    case Signal::Kind::kTyping:
      // To `user`, or in `group` (then `user` is empty); never both.
      COURIER_RETURN_IF_ERROR(ValidateName("signal from_user", signal.from_user));
      if (!signal.group.empty()) {
        COURIER_RETURN_IF_ERROR(ValidateGroupId(signal.group));
        if (!signal.user.empty()) {
          return absl::InvalidArgumentError("a typing signal names a user or a group, not both");
        }
        return ValidateName("signal from_node", signal.from_node);
      }
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown signal kind ", static_cast<int>(signal.kind)));
  }
  COURIER_RETURN_IF_ERROR(ValidateName("signal user", signal.user));
  return ValidateName("signal from_node", signal.from_node);
}

// Calls each node's handler on one thread of its own, in publish order.
// Unsubscribe waits for a running call of that node's handler unless it is
// called from inside a handler (which would otherwise wait for itself).
class SignalDispatcher {
 public:
  SignalDispatcher() : thread_([this] { Loop(); }) {}
  ~SignalDispatcher() {
    {
      MutexLock lock(&mu_);
      stopping_ = true;
    }
    work_.SignalAll();
    thread_.join();
  }

  absl::Status Subscribe(const NodeId& node, absl::AnyInvocable<void(const Signal&)> handler) {
    MutexLock lock(&mu_);
    if (handlers_.contains(node)) {
      return absl::FailedPreconditionError(
          absl::StrCat("node '", node, "' already has a subscriber"));
    }
    handlers_.emplace(node, std::make_shared<Handler>(std::move(handler)));
    return absl::OkStatus();
  }

  void Unsubscribe(const NodeId& node) {
    std::shared_ptr<Handler> removed;  // released after the lock, outside any handler call
    MutexLock lock(&mu_);
    auto it = handlers_.find(node);
    if (it == handlers_.end()) return;
    removed = std::move(it->second);
    handlers_.erase(it);
    if (std::this_thread::get_id() == thread_.get_id()) return;
    while (running_ == removed.get()) idle_.Wait(&mu_);
  }

  absl::Status Post(const NodeId& node, const Signal& signal) {
    {
      MutexLock lock(&mu_);
      if (!handlers_.contains(node)) return absl::OkStatus();  // nobody listens: dropped
      if (queue_.size() >= kMaxQueuedSignals) {
        return absl::ResourceExhaustedError(
            absl::StrCat("signal queue full (", kMaxQueuedSignals, ")"));
      }
      queue_.emplace_back(node, signal);
    }
    work_.Signal();
    return absl::OkStatus();
  }

 private:
  using Handler = absl::AnyInvocable<void(const Signal&)>;

  void Loop() {
    while (true) {
      std::shared_ptr<Handler> handler;
      Signal signal;
      {
        MutexLock lock(&mu_);
        while (!stopping_ && queue_.empty()) work_.Wait(&mu_);
        if (stopping_) return;
        auto [node, queued] = std::move(queue_.front());
        queue_.pop_front();
        auto it = handlers_.find(node);
        if (it == handlers_.end()) continue;  // unsubscribed since: dropped
        handler = it->second;
        signal = std::move(queued);
        running_ = handler.get();
      }
      (*handler)(signal);
      handler.reset();  // may destroy an unsubscribed handler, before Unsubscribe returns
      {
        MutexLock lock(&mu_);
        running_ = nullptr;
      }
      idle_.SignalAll();
    }
  }

  // courier::Mutex (std::mutex inside): TSan sees it, Clang checks GUARDED_BY.
  Mutex mu_;
  CondVar work_;  // a signal was queued, or stopping
  CondVar idle_;  // a handler call ended
  absl::flat_hash_map<NodeId, std::shared_ptr<Handler>> handlers_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<NodeId, Signal>> queue_ ABSL_GUARDED_BY(mu_);
  const Handler* running_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts after every field above exists
};

class MemoryPresenceStore final : public PresenceStore {
 public:
  MemoryPresenceStore(const Clock& clock, TimeMs ttl_ms) : clock_(clock), ttl_ms_(ttl_ms) {}

  absl::StatusOr<ConnectOutcome> Connect(const UserId& user, const DeviceId& device,
                                         const NodeId& node, TimeMs now) override {
    COURIER_RETURN_IF_ERROR(ValidateRegistration(user, device, node));
    MutexLock lock(&mu_);
    UserEntry& entry = users_[user];
    Expire(entry, now);
    ConnectOutcome outcome;
    outcome.became_online = entry.devices.empty();
    const std::uint32_t at = NodeIndex(node);
    Registration* r = Find(entry, device);
    if (r == nullptr) {
      entry.devices.push_back(Registration{NameKey(device), at, now});
    } else {
      if (r->node != at) outcome.replaced_on = nodes_[r->node];
      r->node = at;
      r->refreshed = now;
    }
    return outcome;
  }

  absl::StatusOr<bool> Disconnect(const UserId& user, const DeviceId& device, const NodeId& node,
                                  TimeMs now) override {
    COURIER_RETURN_IF_ERROR(ValidateRegistration(user, device, node));
    MutexLock lock(&mu_);
    UserEntry& entry = users_[user];
    Expire(entry, now);
    Registration* r = Find(entry, device);
    if (r != nullptr && nodes_[r->node] == node) {
      entry.devices.erase(entry.devices.begin() + (r - entry.devices.data()));
    }
    if (!entry.devices.empty()) return false;
    entry.last_seen = std::max(entry.last_seen, now);
    return true;
  }

  absl::StatusOr<std::vector<Presence>> Lookup(absl::Span<const UserId> users) override {
    if (users.size() > kMaxLookupUsers) {
      return absl::InvalidArgumentError(
          absl::StrCat("lookup of ", users.size(), " users exceeds ", kMaxLookupUsers));
    }
    for (const UserId& user : users) COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    const TimeMs now = clock_.NowMs();
    std::vector<Presence> result;
    result.reserve(users.size());
    MutexLock lock(&mu_);
    for (const UserId& user : users) {
      Presence& p = result.emplace_back();
      p.user = user;
      auto it = users_.find(user);
      if (it == users_.end()) continue;
      Expire(it->second, now);
      for (const Registration& reg : it->second.devices) {
        const NodeId& node = nodes_[reg.node];
        if (std::find(p.nodes.begin(), p.nodes.end(), node) == p.nodes.end()) {
          p.nodes.push_back(node);
        }
      }
      std::sort(p.nodes.begin(), p.nodes.end());
      p.online = !p.nodes.empty();
      if (!p.online && it->second.last_seen != kNeverSeen) p.last_seen = it->second.last_seen;
    }
    return result;
  }

  absl::Status Heartbeat(const NodeId& node, absl::Span<const DeviceOnNode> sessions,
                         TimeMs now) override {
    COURIER_RETURN_IF_ERROR(ValidateName("node", node));
    for (const auto& [user, device] : sessions) {
      COURIER_RETURN_IF_ERROR(ValidateName("user", user));
      COURIER_RETURN_IF_ERROR(ValidateName("device", device));
    }
    MutexLock lock(&mu_);
    const std::uint32_t at = NodeIndex(node);
    for (const auto& [user, device] : sessions) {
      UserEntry& entry = users_[user];
      Expire(entry, now);
      Registration* r = Find(entry, device);
      if (r == nullptr) {
        entry.devices.push_back(Registration{NameKey(device), at, now});
      } else if (r->node == at) {
        r->refreshed = now;  // a live registration that moved to another node stays there
      }
    }
    return absl::OkStatus();
  }

  absl::Status Publish(const NodeId& to_node, const Signal& signal) override {
    COURIER_RETURN_IF_ERROR(ValidateName("node", to_node));
    COURIER_RETURN_IF_ERROR(ValidateSignal(signal));
    return dispatcher_.Post(to_node, signal);
  }

  absl::Status Subscribe(const NodeId& node,
                         absl::AnyInvocable<void(const Signal&)> handler) override {
    COURIER_RETURN_IF_ERROR(ValidateName("node", node));
    if (!handler) return absl::InvalidArgumentError("empty signal handler");
    return dispatcher_.Subscribe(node, std::move(handler));
  }

  void Unsubscribe(const NodeId& node) override { dispatcher_.Unsubscribe(node); }

  // Without the lock: node_count_ is published after first_node_ is set,
  // and first_node_ never changes after.
  bool MayHaveOtherNodes(const NodeId& node) const override {
    const std::size_t nodes = node_count_.load(std::memory_order_acquire);
    return nodes > 1 || (nodes == 1 && first_node_ != node);
  }

 private:
  // One device's registration. Its node is an index into nodes_: a cluster
  // has a few nodes, and every registration held a copy of its name.
  struct Registration {
    NameKey device;  // inline up to 23 bytes, as the user's name in users_
    std::uint32_t node = 0;
    TimeMs refreshed = 0;
  };
  // A user's registrations, one per device (a few: at most the devices
  // connected at once, searched in order), the first inline: a user online
  // on one device costs one map slot and no heap block of its own.
  // UserEntry::last_seen of a user not seen offline here yet (below any
  // time: std::max with a real time gives that time).
  static constexpr TimeMs kNeverSeen = std::numeric_limits<TimeMs>::min();
  struct UserEntry {
    absl::InlinedVector<Registration, 1> devices;
    TimeMs last_seen = kNeverSeen;  // not an optional: 8 bytes, not 16
  };
  // What a user online on one device costs: this in a node of users_, beside
  // the user's name (24 bytes): 80 bytes, a tcmalloc size class (an
  // optional last_seen made it 88, in the 96 class; bench/README.md, W4's
  // table).
  static_assert(sizeof(UserEntry) <= 56);
  static_assert(sizeof(std::pair<const NameKey, UserEntry>) <= 80);

  static Registration* Find(UserEntry& entry, const DeviceId& device) {
    for (Registration& r : entry.devices) {
      if (r.device.view() == device) return &r;
    }
    return nullptr;
  }

  // The index of `node` in nodes_, added when new (never removed: one entry
  // per node name ever registered).
  std::uint32_t NodeIndex(const NodeId& node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto [it, added] = node_index_.try_emplace(node, static_cast<std::uint32_t>(nodes_.size()));
    if (added) {
      if (nodes_.empty()) first_node_ = node;
      nodes_.push_back(node);
      node_count_.store(nodes_.size(), std::memory_order_release);
    }
    return it->second;
  }

  // Drops registrations not refreshed within the TTL; the latest of them
  // becomes last seen.
  void Expire(UserEntry& entry, TimeMs now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (auto it = entry.devices.begin(); it != entry.devices.end();) {
      if (it->refreshed + ttl_ms_ > now) {
        ++it;
        continue;
      }
      entry.last_seen = std::max(entry.last_seen, it->refreshed);
      it = entry.devices.erase(it);
    }
  }

  const Clock& clock_;
  const TimeMs ttl_ms_;
  Mutex mu_;
  NameNodeMap<UserEntry> users_ ABSL_GUARDED_BY(mu_);  // an 80-byte node per user
  std::vector<NodeId> nodes_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<NodeId, std::uint32_t> node_index_ ABSL_GUARDED_BY(mu_);
  // For MayHaveOtherNodes, read without mu_: the first node that ever
  // registered (written once, before node_count_ leaves 0) and nodes_.size().
  NodeId first_node_;
  std::atomic<std::size_t> node_count_{0};
  SignalDispatcher dispatcher_;
};

}  // namespace

std::unique_ptr<PresenceStore> OpenPresenceStore(const Clock& clock, TimeMs ttl_ms) {
  return std::make_unique<MemoryPresenceStore>(clock, ttl_ms < 1 ? 1 : ttl_ms);
}

}  // namespace courier::memory
