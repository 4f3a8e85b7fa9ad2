// The in-process PresenceStore: registrations in a map under one mutex,
// signals delivered by one dispatcher thread of the store's own.
//
// A registration is (user, device) -> (node, refreshed). It is live while
// refreshed + ttl > now; an expired one counts as gone, and the time it was
// last refreshed becomes the user's last seen when no live device remains.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "courier/group.h"
#include "courier/memory.h"
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
    subscribed_.store(handlers_.size(), std::memory_order_release);
    return absl::OkStatus();
  }

  // The number of subscribed nodes, without the lock.
  std::size_t subscribed() const { return subscribed_.load(std::memory_order_acquire); }

  void Unsubscribe(const NodeId& node) {
    std::shared_ptr<Handler> removed;  // released after the lock, outside any handler call
    MutexLock lock(&mu_);
    auto it = handlers_.find(node);
    if (it == handlers_.end()) return;
    removed = std::move(it->second);
    handlers_.erase(it);
    subscribed_.store(handlers_.size(), std::memory_order_release);
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
  std::atomic<std::size_t> subscribed_{0};  // handlers_.size(), written under mu_
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
    auto it = entry.devices.find(device);
    if (it != entry.devices.end() && it->second.node != node) outcome.replaced_on = it->second.node;
    entry.devices[device] = Registration{node, now};
    return outcome;
  }

  absl::StatusOr<bool> Disconnect(const UserId& user, const DeviceId& device, const NodeId& node,
                                  TimeMs now) override {
    COURIER_RETURN_IF_ERROR(ValidateRegistration(user, device, node));
    MutexLock lock(&mu_);
    UserEntry& entry = users_[user];
    Expire(entry, now);
    auto it = entry.devices.find(device);
    if (it != entry.devices.end() && it->second.node == node) entry.devices.erase(it);
    if (!entry.devices.empty()) return false;
    entry.last_seen = std::max(entry.last_seen.value_or(now), now);
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
      for (const auto& [device, reg] : it->second.devices) {
        if (std::find(p.nodes.begin(), p.nodes.end(), reg.node) == p.nodes.end()) {
          p.nodes.push_back(reg.node);
        }
      }
      std::sort(p.nodes.begin(), p.nodes.end());
      p.online = !p.nodes.empty();
      if (!p.online) p.last_seen = it->second.last_seen;
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
    for (const auto& [user, device] : sessions) {
      UserEntry& entry = users_[user];
      Expire(entry, now);
      auto [it, inserted] = entry.devices.try_emplace(device, Registration{node, now});
      // A live registration that moved to another node stays there.
      if (!inserted && it->second.node == node) it->second.refreshed = now;
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

  std::optional<std::size_t> SubscribedNodes() const override { return dispatcher_.subscribed(); }

 private:
  struct Registration {
    NodeId node;
    TimeMs refreshed = 0;
  };
  struct UserEntry {
    absl::flat_hash_map<DeviceId, Registration> devices;
    std::optional<TimeMs> last_seen;
  };

  // Drops registrations not refreshed within the TTL; the latest of them
  // becomes last seen.
  void Expire(UserEntry& entry, TimeMs now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (auto it = entry.devices.begin(); it != entry.devices.end();) {
      if (it->second.refreshed + ttl_ms_ > now) {
        ++it;
        continue;
      }
      entry.last_seen = std::max(entry.last_seen.value_or(it->second.refreshed),
                                 it->second.refreshed);
      entry.devices.erase(it++);
    }
  }

  const Clock& clock_;
  const TimeMs ttl_ms_;
  Mutex mu_;
  absl::flat_hash_map<UserId, UserEntry> users_ ABSL_GUARDED_BY(mu_);
  SignalDispatcher dispatcher_;
};

}  // namespace

std::unique_ptr<PresenceStore> OpenPresenceStore(const Clock& clock, TimeMs ttl_ms) {
  return std::make_unique<MemoryPresenceStore>(clock, ttl_ms < 1 ? 1 : ttl_ms);
}

}  // namespace courier::memory
