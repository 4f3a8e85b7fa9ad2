// The Redis PresenceStore: a command connection used on the callers'
// threads, an I/O thread owning the subscriber connection and the
// reconnects, and a memory PresenceStore that mirrors this process's own
// sessions (the answer while Redis is down) and dispatches signals to the
// handlers on its thread.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include <random>
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "courier/log.h"
#include "courier/memory.h"
#include "courier/redis.h"
#include "courier/status.h"
#include "courier/sync.h"
#include "redis_connection.h"
#include "redis_options.h"
#include "redis_schema.h"

namespace courier::redis {
namespace {

using SessionKey = std::pair<UserId, DeviceId>;

struct LocalSession {
  NodeId node;
  TimeMs refreshed = 0;
};

// A Disconnect that Redis did not see; replayed on reconnect.
struct MissedDisconnect {
  UserId user;
  DeviceId device;
  NodeId node;
  TimeMs at = 0;
};

std::string_view ReplyText(const redisReply& reply) {
  return std::string_view(reply.str == nullptr ? "" : reply.str, reply.len);
}

bool IsText(const redisReply& reply) {
  return reply.type == REDIS_REPLY_STRING || reply.type == REDIS_REPLY_STATUS;
}

class RedisPresenceStore final : public PresenceStore {
 public:
  RedisPresenceStore(const RedisPresenceOptions& options, const Clock& clock)
      : options_(options),
        clock_(clock),
        schema_(options.key_prefix),
        local_(memory::OpenPresenceStore(clock, options.ttl_ms)) {}

  ~RedisPresenceStore() override {
    {
      MutexLock lock(&mu_);
      stopping_ = true;
    }
    state_.SignalAll();
    Wake();
    if (io_.joinable()) io_.join();
    local_.reset();  // joins the dispatcher while every member still exists
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  // Starts the I/O thread and returns the outcome of its first connection.
  absl::Status Start() {
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
      return absl::InternalError(absl::StrCat("redis presence: eventfd: ", std::strerror(errno)));
    }
    io_ = std::thread([this] { IoLoop(); });
    MutexLock lock(&mu_);
    while (!first_attempt_done_) state_.Wait(&mu_);
    return first_status_;
  }

  absl::StatusOr<ConnectOutcome> Connect(const UserId& user, const DeviceId& device,
                                         const NodeId& node, TimeMs now) override {
    MutexLock command_lock(&cmd_mu_);
    COURIER_ASSIGN_OR_RETURN(ConnectOutcome local, local_->Connect(user, device, node, now));
    {
      MutexLock lock(&mu_);
      sessions_[SessionKey(user, device)] = LocalSession{node, now};
    }
    if (cmd_ == nullptr) return local;
    auto reply = cmd_->Run({"EVALSHA", connect_sha_, "2", schema_.OnlineKey(user),
                            schema_.LastSeenKey(user), device, node, std::to_string(now),
                            std::to_string(options_.ttl_ms)});
    if (!reply.ok()) {
      MarkDown(reply.status());
      return local;
    }
    const redisReply& r = **reply;
    if (r.type != REDIS_REPLY_ARRAY || r.elements < 1 ||
        r.element[0]->type != REDIS_REPLY_INTEGER ||
        (r.elements > 1 && !IsText(*r.element[1]))) {
      MarkDown(absl::InternalError("redis connect script: unexpected reply"));
      return local;
    }
    ConnectOutcome outcome;
    outcome.became_online = r.element[0]->integer == 1;
    if (r.elements > 1) outcome.replaced_on = NodeId(ReplyText(*r.element[1]));
    return outcome;
  }

  absl::StatusOr<bool> Disconnect(const UserId& user, const DeviceId& device, const NodeId& node,
                                  TimeMs now) override {
    MutexLock command_lock(&cmd_mu_);
    COURIER_ASSIGN_OR_RETURN(bool local_last, local_->Disconnect(user, device, node, now));
    {
      MutexLock lock(&mu_);
      auto it = sessions_.find(SessionKey(user, device));
      if (it != sessions_.end() && it->second.node == node) sessions_.erase(it);
    }
    if (cmd_ != nullptr) {
      auto reply = cmd_->Run({"EVALSHA", disconnect_sha_, "2", schema_.OnlineKey(user),
                              schema_.LastSeenKey(user), device, node, std::to_string(now),
                              std::to_string(options_.ttl_ms)});
      if (reply.ok() && (*reply)->type == REDIS_REPLY_INTEGER) return (*reply)->integer == 1;
      MarkDown(reply.ok() ? absl::InternalError("redis disconnect script: unexpected reply")
                          : reply.status());
    }
    MutexLock lock(&mu_);
    missed_.push_back(MissedDisconnect{user, device, node, now});
    if (missed_.size() > options_.max_pending_disconnects) missed_.pop_front();
    return local_last;
  }

  absl::StatusOr<std::vector<Presence>> Lookup(absl::Span<const UserId> users) override {
    if (users.size() > options_.max_lookup_users) {
      return absl::InvalidArgumentError(absl::StrCat("lookup of ", users.size(),
                                                     " users exceeds ", options_.max_lookup_users));
    }
    for (const UserId& user : users) COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    {
      MutexLock command_lock(&cmd_mu_);
      if (cmd_ != nullptr) {
        std::vector<Command> commands;
        commands.reserve(users.size() * 2);
        for (const UserId& user : users) {
          commands.push_back({"HGETALL", schema_.OnlineKey(user)});
          commands.push_back({"GET", schema_.LastSeenKey(user)});
        }
        auto replies = RunBatched(*cmd_, commands);
        if (replies.ok()) {
          auto presence = ParseLookup(users, *replies);
          if (presence.ok()) return presence;
          MarkDown(presence.status());
        } else {
          MarkDown(replies.status());
        }
      }
    }
    return local_->Lookup(users);
  }

  absl::Status Heartbeat(const NodeId& node, absl::Span<const DeviceOnNode> sessions,
                         TimeMs now) override {
    MutexLock command_lock(&cmd_mu_);
    COURIER_RETURN_IF_ERROR(local_->Heartbeat(node, sessions, now));
    {
      MutexLock lock(&mu_);
      for (const auto& [user, device] : sessions) {
        auto [it, inserted] =
            sessions_.try_emplace(SessionKey(user, device), LocalSession{node, now});
        // A session that moved to another local node stays there while live.
        if (!inserted && (it->second.node == node ||
                          it->second.refreshed + options_.ttl_ms <= now)) {
          it->second = LocalSession{node, now};
        }
      }
    }
    if (cmd_ == nullptr || sessions.empty()) return absl::OkStatus();
    std::map<UserId, std::vector<DeviceId>> by_user;
    for (const auto& [user, device] : sessions) by_user[user].push_back(device);
    std::vector<Command> commands;
    commands.reserve(by_user.size());
    for (const auto& [user, devices] : by_user) {
      commands.push_back(HeartbeatCommand(user, node, devices, now));
    }
    auto replies = RunBatched(*cmd_, commands);
    if (!replies.ok()) MarkDown(replies.status());
    return absl::OkStatus();
  }

  absl::Status Publish(const NodeId& to_node, const Signal& signal) override {
    COURIER_RETURN_IF_ERROR(ValidateName("node", to_node));
    const std::string payload = EncodeSignal(signal);
    COURIER_RETURN_IF_ERROR(DecodeSignal(payload).status());  // what we send must parse
    {
      MutexLock lock(&mu_);
      if (subs_.contains(to_node)) {
        // Subscribed on this store: no round trip through Redis.
        return local_->Publish(to_node, signal);
      }
    }
    MutexLock command_lock(&cmd_mu_);
    if (cmd_ == nullptr) {
      return absl::UnavailableError(
          absl::StrCat("redis presence: Redis unreachable, signal to node '", to_node,
                       "' not sent"));
    }
    auto reply = cmd_->Run({"PUBLISH", schema_.Channel(to_node), payload});
    if (!reply.ok()) {
      MarkDown(reply.status());
      return reply.status();
    }
    return absl::OkStatus();
  }

  absl::Status Subscribe(const NodeId& node,
                         absl::AnyInvocable<void(const Signal&)> handler) override {
    COURIER_RETURN_IF_ERROR(ValidateName("node", node));
    if (!handler) return absl::InvalidArgumentError("empty signal handler");
    {
      MutexLock lock(&mu_);
      if (subs_.contains(node)) {
        return absl::FailedPreconditionError(
            absl::StrCat("node '", node, "' already has a subscriber"));
      }
      subs_[node] = false;
    }
    if (absl::Status s = local_->Subscribe(node, std::move(handler)); !s.ok()) {
      MutexLock lock(&mu_);
      subs_.erase(node);
      return s;
    }
    Wake();
    // Wait until Redis confirms, so that a Publish from another node after
    // this returns is received. While Redis is down, local signals only.
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(options_.command_timeout_ms);
    MutexLock lock(&mu_);
    while (!degraded_ && !stopping_) {
      auto it = subs_.find(node);
      if (it == subs_.end() || it->second) break;
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      state_.WaitFor(&mu_, std::chrono::ceil<std::chrono::milliseconds>(deadline - now));
    }
    return absl::OkStatus();
  }

  void Unsubscribe(const NodeId& node) override {
    local_->Unsubscribe(node);  // no handler call runs after this
    {
      MutexLock lock(&mu_);
      subs_.erase(node);
    }
    Wake();
  }

 private:
  // Reads the script sha.
  Command HeartbeatCommand(const UserId& user, const NodeId& node,
                           const std::vector<DeviceId>& devices, TimeMs now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(cmd_mu_) {
    Command command = {"EVALSHA",          heartbeat_sha_,     "2",
                       schema_.OnlineKey(user), schema_.LastSeenKey(user), node,
                       std::to_string(now), std::to_string(options_.ttl_ms)};
    command.insert(command.end(), devices.begin(), devices.end());
    return command;
  }

  // Sends `commands` in pipelines of options_.pipeline_batch.
  absl::StatusOr<std::vector<Reply>> RunBatched(RedisConnection& connection,
                                                const std::vector<Command>& commands) {
    std::vector<Reply> replies;
    replies.reserve(commands.size());
    for (std::size_t begin = 0; begin < commands.size(); begin += options_.pipeline_batch) {
      const std::size_t end = std::min(commands.size(), begin + options_.pipeline_batch);
      std::vector<Command> batch(commands.begin() + begin, commands.begin() + end);
      COURIER_ASSIGN_OR_RETURN(std::vector<Reply> part, connection.Pipeline(batch));
      for (Reply& reply : part) replies.push_back(std::move(reply));
    }
    return replies;
  }

  // HGETALL online + GET last_seen per user -> presence, by the store's clock.
  absl::StatusOr<std::vector<Presence>> ParseLookup(absl::Span<const UserId> users,
                                                    const std::vector<Reply>& replies) {
    const TimeMs now = clock_.NowMs();
    std::vector<Presence> result;
    result.reserve(users.size());
    for (std::size_t i = 0; i < users.size(); ++i) {
      const redisReply& devices = *replies[2 * i];
      const redisReply& last_seen = *replies[2 * i + 1];
      if (devices.type != REDIS_REPLY_ARRAY || devices.elements % 2 != 0) {
        return absl::InternalError("redis lookup: HGETALL did not return pairs");
      }
      Presence& p = result.emplace_back();
      p.user = users[i];
      std::optional<TimeMs> stale;
      for (std::size_t f = 0; f + 1 < devices.elements; f += 2) {
        const redisReply& value = *devices.element[f + 1];
        auto parsed = IsText(value) ? ParseDeviceValue(ReplyText(value)) : std::nullopt;
        if (!parsed) continue;
        if (parsed->refreshed + options_.ttl_ms > now) {
          p.nodes.push_back(parsed->node);
        } else {
          stale = std::max(stale.value_or(parsed->refreshed), parsed->refreshed);
        }
      }
      std::sort(p.nodes.begin(), p.nodes.end());
      p.nodes.erase(std::unique(p.nodes.begin(), p.nodes.end()), p.nodes.end());
      p.online = !p.nodes.empty();
      if (p.online) continue;
      if (IsText(last_seen)) {
        TimeMs value = 0;
        std::string_view text = ReplyText(last_seen);
        if (absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &value)) {
          p.last_seen = value;
        }
      }
      if (stale) p.last_seen = std::max(p.last_seen.value_or(*stale), *stale);
    }
    return result;
  }

  // Drops the command connection after `cause`, tells the I/O thread to
  // reconnect, and logs the first failure of an outage.
  void MarkDown(const absl::Status& cause) ABSL_EXCLUSIVE_LOCKS_REQUIRED(cmd_mu_) {
    cmd_.reset();
    bool newly_degraded = false;
    {
      MutexLock lock(&mu_);
      reconnect_ = true;
      if (!degraded_) {
        degraded_ = true;
        newly_degraded = true;
        state_.SignalAll();
      }
    }
    if (newly_degraded) {
      // Through the host's log sink (courier/log.h), outside mu_.
      Log(LogLevel::kWarning, "courier::redis",
          fmt::format("{}:{} unreachable ({}); serving presence from local memory and "
                      "reconnecting with backoff",
                      options_.host, options_.port, cause.ToString()));
    }
    Wake();
  }

  void Wake() {
    const std::uint64_t one = 1;
    if (wake_fd_ >= 0) {
      [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
    }
  }

  // --- The I/O thread -----------------------------------------------------

  void IoLoop() {
    std::mt19937_64 random{std::random_device{}()};
    int attempt = 0;
    while (true) {
      {
        MutexLock lock(&mu_);
        if (stopping_) break;
        if (reconnect_) {
          reconnect_ = false;
          sub_.reset();
        }
      }
      if (sub_ == nullptr) {
        absl::Status connected = ConnectAll();
        bool first_attempt = false;
        {
          MutexLock lock(&mu_);
          if (!first_attempt_done_) {
            first_attempt = true;
            first_attempt_done_ = true;
            first_status_ = connected;
            state_.SignalAll();
          }
        }
        if (!connected.ok() && first_attempt && !options_.open_while_unreachable) {
          // The factory reports the failure and destroys the store.
          MutexLock lock(&mu_);
          degraded_ = true;
          while (!stopping_) state_.Wait(&mu_);
          break;
        }
        if (!connected.ok()) {
          {
            MutexLock command_lock(&cmd_mu_);
            MarkDown(connected);
          }
          const double u = std::uniform_real_distribution<double>(0.0, 1.0)(random);
          if (!Sleep(BackoffDelayMs(options_.backoff, attempt++, u))) break;
          continue;
        }
        attempt = 0;
      }
      absl::Status step = SyncSubscriptions();
      if (step.ok()) step = PollOnce();
      if (!step.ok()) {
        MutexLock command_lock(&cmd_mu_);
        MarkDown(step);
      }
    }
  }

  // Opens both connections, loads the scripts, replays what Redis missed and
  // installs the command connection.
  absl::Status ConnectAll() {
    COURIER_ASSIGN_OR_RETURN(std::unique_ptr<RedisConnection> command,
                             RedisConnection::Open(options_));
    COURIER_ASSIGN_OR_RETURN(std::vector<Reply> shas,
                             command->Pipeline({{"SCRIPT", "LOAD", kConnectScript},
                                                {"SCRIPT", "LOAD", kDisconnectScript},
                                                {"SCRIPT", "LOAD", kHeartbeatScript}}));
    for (const Reply& sha : shas) {
      if (!IsText(*sha)) return absl::InternalError("redis SCRIPT LOAD: unexpected reply");
    }
    COURIER_ASSIGN_OR_RETURN(std::unique_ptr<RedisConnection> subscriber,
                             RedisConnection::Open(options_));
    {
      MutexLock command_lock(&cmd_mu_);
      connect_sha_ = std::string(ReplyText(*shas[0]));
      disconnect_sha_ = std::string(ReplyText(*shas[1]));
      heartbeat_sha_ = std::string(ReplyText(*shas[2]));
      COURIER_ASSIGN_OR_RETURN(std::size_t restored, Resync(*command));
      cmd_ = std::move(command);
      MutexLock lock(&mu_);
      reconnect_ = false;
      if (degraded_) {
        degraded_ = false;
        Log(LogLevel::kInfo, "courier::redis",
            fmt::format("{}:{} reachable again; re-registered {} local sessions", options_.host,
                        options_.port, restored));
      }
    }
    sub_ = std::move(subscriber);
    sent_.clear();
    confirmed_.clear();
    return absl::OkStatus();
  }

  // Replays missed disconnects, then re-registers every live local session.
  // Returns how many sessions were re-registered.
  absl::StatusOr<std::size_t> Resync(RedisConnection& connection)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(cmd_mu_) {
    const TimeMs now = clock_.NowMs();
    std::vector<Command> commands;
    std::map<std::pair<UserId, NodeId>, std::vector<DeviceId>> live;
    std::size_t restored = 0;
    {
      MutexLock lock(&mu_);
      for (const MissedDisconnect& m : missed_) {
        commands.push_back({"EVALSHA", disconnect_sha_, "2", schema_.OnlineKey(m.user),
                            schema_.LastSeenKey(m.user), m.device, m.node,
                            std::to_string(m.at), std::to_string(options_.ttl_ms)});
      }
      for (auto it = sessions_.begin(); it != sessions_.end();) {
        if (it->second.refreshed + options_.ttl_ms <= now) {
          sessions_.erase(it++);  // expired anyway: the node stopped heartbeating it
          continue;
        }
        live[{it->first.first, it->second.node}].push_back(it->first.second);
        ++restored;
        ++it;
      }
    }
    for (const auto& [user_node, devices] : live) {
      commands.push_back(HeartbeatCommand(user_node.first, user_node.second, devices, now));
    }
    COURIER_RETURN_IF_ERROR(RunBatched(connection, commands).status());
    MutexLock lock(&mu_);
    missed_.clear();
    return restored;
  }

  // Sends SUBSCRIBE / UNSUBSCRIBE for the difference between the wanted and
  // the requested channels, and marks confirmed nodes.
  absl::Status SyncSubscriptions() {
    std::vector<NodeId> add, remove;
    {
      MutexLock lock(&mu_);
      for (auto& [node, confirmed] : subs_) {
        if (!sent_.contains(node)) {
          add.push_back(node);
        } else if (!confirmed && confirmed_.contains(node)) {
          confirmed = true;
          state_.SignalAll();
        }
      }
      for (const NodeId& node : sent_) {
        if (!subs_.contains(node)) remove.push_back(node);
      }
    }
    if (add.empty() && remove.empty()) return absl::OkStatus();
    std::vector<Command> commands;
    if (!add.empty()) {
      Command subscribe = {"SUBSCRIBE"};
      for (const NodeId& node : add) subscribe.push_back(schema_.Channel(node));
      commands.push_back(std::move(subscribe));
    }
    if (!remove.empty()) {
      Command unsubscribe = {"UNSUBSCRIBE"};
      for (const NodeId& node : remove) unsubscribe.push_back(schema_.Channel(node));
      commands.push_back(std::move(unsubscribe));
    }
    COURIER_RETURN_IF_ERROR(sub_->Send(commands));
    for (const NodeId& node : add) sent_.insert(node);
    for (const NodeId& node : remove) sent_.erase(node);
    return absl::OkStatus();
  }

  // Waits up to a second for the subscriber socket or a wake-up, then
  // handles what arrived.
  absl::Status PollOnce() {
    pollfd fds[2] = {{sub_->fd(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, 1000) < 0) {
      if (errno == EINTR) return absl::OkStatus();
      return absl::InternalError(absl::StrCat("redis presence: poll: ", std::strerror(errno)));
    }
    if (fds[1].revents != 0) DrainWake();
    if (fds[0].revents == 0) return absl::OkStatus();
    COURIER_ASSIGN_OR_RETURN(std::vector<Reply> pushes, sub_->ReadAvailable());
    for (const Reply& push : pushes) HandlePush(*push);
    return absl::OkStatus();
  }

  void HandlePush(const redisReply& push) {
    if (push.type != REDIS_REPLY_ARRAY || push.elements < 3 || !IsText(*push.element[0]) ||
        !IsText(*push.element[1])) {
      return;
    }
    const std::string_view kind = ReplyText(*push.element[0]);
    std::optional<NodeId> node = schema_.NodeOfChannel(ReplyText(*push.element[1]));
    if (!node) return;
    if (kind == "message" && IsText(*push.element[2])) {
      absl::StatusOr<Signal> signal = DecodeSignal(ReplyText(*push.element[2]));
      // Malformed payloads are dropped: signals are best effort.
      if (signal.ok()) local_->Publish(*node, *signal).IgnoreError();
    } else if (kind == "subscribe") {
      confirmed_.insert(*node);
      MutexLock lock(&mu_);
      auto it = subs_.find(*node);
      if (it != subs_.end()) it->second = true;
      state_.SignalAll();
    } else if (kind == "unsubscribe") {
      confirmed_.erase(*node);
    }
  }

  void DrainWake() {
    std::uint64_t count = 0;
    while (read(wake_fd_, &count, sizeof(count)) > 0) {
    }
  }

  // Sleeps `ms` unless the store stops; false when it stops.
  bool Sleep(TimeMs ms) {
    const absl::Time deadline = absl::Now() + absl::Milliseconds(ms);
    while (true) {
      {
        MutexLock lock(&mu_);
        if (stopping_) return false;
      }
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return true;
      pollfd fd = {wake_fd_, POLLIN, 0};
      const int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
      if (poll(&fd, 1, wait_ms) > 0) DrainWake();
    }
  }

  const RedisPresenceOptions options_;
  const Clock& clock_;
  const Schema schema_;
  std::unique_ptr<PresenceStore> local_;  // this process's sessions + the dispatcher

  // Lock order: cmd_mu_, then the memory store's lock, then mu_.
  Mutex cmd_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // The command connection; null while Redis is unreachable.
  std::unique_ptr<RedisConnection> cmd_ ABSL_GUARDED_BY(cmd_mu_);
  std::string connect_sha_ ABSL_GUARDED_BY(cmd_mu_);
  std::string disconnect_sha_ ABSL_GUARDED_BY(cmd_mu_);
  std::string heartbeat_sha_ ABSL_GUARDED_BY(cmd_mu_);

  Mutex mu_;
  CondVar state_;  // any of the flags below, or a confirmation, changed
  absl::flat_hash_map<SessionKey, LocalSession> sessions_ ABSL_GUARDED_BY(mu_);
  std::deque<MissedDisconnect> missed_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<NodeId, bool> subs_ ABSL_GUARDED_BY(mu_);  // node -> Redis confirmed
  bool degraded_ ABSL_GUARDED_BY(mu_) = false;   // between a failure and the next resync
  bool reconnect_ ABSL_GUARDED_BY(mu_) = false;  // the I/O thread must reconnect
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool first_attempt_done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status first_status_ ABSL_GUARDED_BY(mu_);

  // The I/O thread's own.
  std::unique_ptr<RedisConnection> sub_;
  absl::flat_hash_set<NodeId> sent_;       // channels asked for on sub_
  absl::flat_hash_set<NodeId> confirmed_;  // channels Redis confirmed on sub_
  int wake_fd_ = -1;
  std::thread io_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<PresenceStore>> OpenPresenceStore(
    const RedisPresenceOptions& options, const Clock& clock) {
  COURIER_RETURN_IF_ERROR(ValidateOptions(options));
  auto store = std::make_unique<RedisPresenceStore>(options, clock);
  absl::Status started = store->Start();
  if (!started.ok() && !options.open_while_unreachable) return started;
  return std::unique_ptr<PresenceStore>(std::move(store));
}

}  // namespace courier::redis
