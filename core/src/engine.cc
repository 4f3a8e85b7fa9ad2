#include "courier/engine.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <random>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "commit_queue.h"
#include "courier/clock.h"
#include "courier/executor.h"
#include "courier/name_key.h"
#include "counter.h"
#include "courier/status.h"
#include "device_session.h"
#include "failure_log.h"
#include "group_members_cache.h"
#include "rate_limiter.h"
#include "recent_sends.h"

namespace courier {
namespace {

// A signal from this node (the fields a kind does not use stay empty).
Signal SignalOf(Signal::Kind kind, const UserId& user, const DeviceId& device,
                const NodeId& from_node) {
  Signal signal;
  signal.kind = kind;
  signal.user = user;
  signal.device = device;
  signal.from_node = from_node;
  return signal;
}

using internal::CommitQueue;
using internal::DeviceSession;
using internal::Failure;
using internal::ResultAs;
using SessionPtr = std::shared_ptr<DeviceSession>;

// The engine's shared state. Sessions hold it by shared_ptr, so it outlives
// the public Engine object; after Shutdown every session is closed and never
// calls into the borrowed dependencies again.
class EngineCore final : public internal::SessionHost,
                         public std::enable_shared_from_this<EngineCore> {
 public:
  EngineCore(const EngineOptions& options, Engine::Deps deps, Clock& clock, Executor& commit,
             Executor& delivery)
      : options_(options),
        deps_(deps),
        clock_(clock),
        delivery_(delivery),
        queue_(*deps.store, commit, delivery, options.max_batch_ops, options.max_batch_bytes,
               options.max_write_attempts),
        rate_(options.rate_limit),
        typing_rate_(options.typing_rate),
        typing_members_(kTypingCacheGroups, kTypingMembersTtlMs),
        failures_(kFailureLogIntervalMs) {
    queue_.set_after_flush([this] { WakeRemote(); });
  }

  // --- SessionHost
  const EngineOptions& options() const override { return options_; }
  TimeMs Now() const override { return clock_.NowMs(); }
  MessageStore& store() override { return *deps_.store; }
  Executor& delivery() override { return delivery_; }

  void Submit(WriteOp op, CommitQueue::Done done, std::shared_ptr<Executor> lane) override {
    if (stopped_.load(std::memory_order_acquire)) {
      std::move(done)(absl::UnavailableError("the engine is shut down"));
      return;
    }
    deps_.store->Prepare(op);  // here, off the one commit thread (sealing)
    queue_.Submit(std::move(op), std::move(done), std::move(lane));
  }

  // The commit queue's router (commit_queue.h, "Routing"), on the commit
  // executor once per written batch: each op's appended events go to the
  // notifier and, for other nodes, to WakeRemote's list, and are moved
  // into `out` once per local session of their inbox's user, bound for
  // that session's own executor. One registry lookup per user of an op,
  // not per event: an ack's receipts go to a few senders, many to each
  // (W2: 256 receipts to 10 senders). A session registered after its
  // user's lookup attaches after this batch committed and reads these
  // events from the store.
  void RouteBatch(std::vector<absl::StatusOr<WriteResult>>& results,
                  std::vector<CommitQueue::Routed>& out) {
    for (absl::StatusOr<WriteResult>& r : results) {
      if (!r.ok()) continue;
      std::vector<Appended>* appended = AppendedOf(*r);
      if (appended == nullptr || appended->empty()) continue;  // a duplicate, a read of nothing new
      RouteOp(*appended, out);
      appended->clear();
    }
  }

  void RouteOp(std::vector<Appended>& appended, std::vector<CommitQueue::Routed>& out) {
    if (OtherNodesMayListen()) {  // else WakeRemote has nobody to wake
      MutexLock lock(&wake_mu_);
      for (const Appended& a : appended) wake_users_.insert(a.user);
    }
    if (deps_.notifier != nullptr) deps_.notifier->OnCommitted(appended);
    // Each session's executor is asked once per lookup (Home() takes the
    // session's lock), not once per event.
    struct Looked {
      const UserId* user;
      SessionList sessions;
      absl::InlinedVector<std::shared_ptr<Executor>, 1> homes;  // one per session
    };
    absl::InlinedVector<Looked, 8> looked;
    for (Appended& a : appended) {
      auto it = std::find_if(looked.begin(), looked.end(),
                             [&](const Looked& l) { return *l.user == a.user; });
      if (it == looked.end()) {
        if (looked.size() == 16) looked.clear();  // many users: start over
        Looked l{&a.user, Sessions(a.user), {}};
        for (const SessionPtr& s : l.sessions) l.homes.push_back(s->Home());
        looked.push_back(std::move(l));
        it = looked.end() - 1;
      }
      const SessionList& sessions = it->sessions;
      for (std::size_t i = 0; i < sessions.size(); ++i) {
        // The last session takes the event itself; the others a copy.
        out.push_back(CommitQueue::Routed{sessions[i], it->homes[i],
                                          i + 1 == sessions.size() ? std::move(a.event) : a.event});
      }
    }
  }

  // The events a result appended (null for an attach).
  static std::vector<Appended>* AppendedOf(WriteResult& r) {
    return std::visit(
        [](auto& result) -> std::vector<Appended>* {
          if constexpr (requires { result.appended; }) {
            return &result.appended;
          } else {
            return nullptr;
          }
        },
        r);
  }

  static void DeliverEvent(void* session, const Event& event) {
    static_cast<DeviceSession*>(session)->OnEvent(event);
  }

  // Installs RouteBatch on the commit queue (before the first Submit). The
  // router holds the core weakly: a batch written after the core is gone
  // routes nothing.
  void StartRouting() {
    queue_.set_router(
        [weak = weak_from_this()](std::vector<absl::StatusOr<WriteResult>>& results,
                                  std::vector<CommitQueue::Routed>& out) {
          if (std::shared_ptr<EngineCore> core = weak.lock()) core->RouteBatch(results, out);
        },
        &EngineCore::DeliverEvent);
  }

  std::optional<ServerFrame> CheckSend(const UserId& from, const std::string& cid,
                                       const UserId& to, std::size_t body_size) override {
    if (absl::Status s = ValidateClientId(cid); !s.ok()) {
      return SendError(ErrorCode::kBadFrame, cid, std::string(s.message()));
    }
    if (!ValidateName("to", to).ok()) {
      return SendError(ErrorCode::kUnknownUser, cid, absl::StrCat("no user named '", to, "'"));
    }
    if (auto answer = CheckBodyRepeatRate(from, cid, body_size)) return answer;
    if (std::optional<ErrorFrame> refused = MaySendTo(from, to, cid)) {
      send_errors_.Add();
      return *std::move(refused);
    }
    return std::nullopt;
  }

  std::optional<ServerFrame> CheckGroupSend(const UserId& from, const std::string& cid,
                                            const GroupId& group,
                                            std::size_t body_size) override {
    if (absl::Status s = ValidateClientId(cid); !s.ok()) {
      return SendError(ErrorCode::kBadFrame, cid, std::string(s.message()));
    }
    if (!ValidateGroupId(group).ok()) {
      return SendError(ErrorCode::kUnknownGroup, cid, "no such group");
    }
    return CheckBodyRepeatRate(from, cid, body_size);
  }

  void OnGroupSent(const UserId& from, const std::string& cid,
                   const GroupSendResult& r) override {
    if (r.duplicate) rate_.Refund(from);
    recent_.Remember(from, cid, r.id, r.ts);
  }

  std::optional<ErrorFrame> CheckGroupChange(const std::string& cid,
                                             const GroupChangeOp& op) override {
    auto error = [&](ErrorCode code, std::string message) {
      return ErrorFrame{code, std::move(message), cid, std::nullopt};
    };
    if (absl::Status s = ValidateClientId(cid); !s.ok()) {
      return error(ErrorCode::kBadFrame, std::string(s.message()));
    }
    switch (op.action) {
      case GroupAction::kCreate:
      case GroupAction::kAdd:
      case GroupAction::kRemove:
      case GroupAction::kLeave:
      case GroupAction::kRename:
        break;
      default:
        return error(ErrorCode::kBadFrame, "unknown group action");
    }
    if (op.action != GroupAction::kCreate && !ValidateGroupId(op.group).ok()) {
      return error(ErrorCode::kUnknownGroup, "no such group");
    }
    if (absl::Status s = ValidateWriteOp(op); !s.ok()) {
      return error(ErrorCode::kBadFrame, std::string(s.message()));
    }
    const TimeMs now = Now();
    if (std::int64_t wait = rate_.Acquire(op.actor, now); wait > 0) {
      return RateLimited(cid, wait);
    }
    if (op.action != GroupAction::kCreate && op.action != GroupAction::kAdd) return std::nullopt;
    absl::flat_hash_set<UserId> checked;
    for (const UserId& member : op.members) {
      if (member == op.actor || !checked.insert(member).second) continue;
      if (std::optional<ErrorFrame> refused = MaySendTo(op.actor, member, cid)) return refused;
    }
    return std::nullopt;
  }

  void OnGroupChanged(const GroupId& group, const GroupChangeResult& r) override {
    if (r.changed) group_changes_.Add();
    std::vector<UserId> members;
    if (r.group.has_value()) {
      members.reserve(r.group->members.size());
      for (const GroupMember& m : r.group->members) members.push_back(m.user);
    }
    typing_members_.Put(group, std::move(members), Now());
  }

  void RefundRate(const UserId& user) override { rate_.Refund(user); }

  // Drops (counted) or relays a typing op: the cheap checks and the rate
  // here, on the caller's thread; the rest (contact check, the group's
  // members, presence) on the delivery executor, which may block.
  void Typing(const UserId& from, const UserId& to, const GroupId& group, bool on) override {
    if (stopped_.load(std::memory_order_acquire)) return;
    const bool well_formed = to.empty() ? ValidateGroupId(group).ok()
                                        : group.empty() && to != from && ValidateName("to", to).ok();
    if (!well_formed || typing_rate_.Acquire(from, Now()) > 0) {
      typing_dropped_.Add();
      return;
    }
    // One typist's ops go through one lane, relayed one at a time in the
    // order they came, so a peer sees on/off in the order typed.
    TypingLane& lane = typing_lanes_[absl::Hash<UserId>{}(from) % typing_lanes_.size()];
    bool post = false;
    {
      MutexLock lock(&lane.mu);
      lane.queue.push_back(TypingOp{from, to, group, on});
      post = !lane.running;
      lane.running = true;
    }
    if (post) delivery_.Post([core = shared_from_this(), &lane] { core->RunTypingLane(lane); });
  }

  void OnAppended(const UserId& from, const std::string& cid, const AppendResult& r) override {
    if (r.duplicate) rate_.Refund(from);
    recent_.Remember(from, cid, r.id, r.ts);
  }

  // 32 hex digits that sort by creation time: the clock's ms in the first
  // 44 bits, a per-thread counter in the next 20, then 64 random bits for
  // uniqueness. A store that indexes messages by id (courier::rocksdb's 'M'
  // keys) then inserts each id next to the previous one of the inbox instead
  // of at a random place: the W1 profile showed a random memtable insert
  // costing ~2.5 us here.
  MessageId NewMessageId() override {
    // std's engine rather than absl::BitGen: Debian's Abseil is not built
    // for TSan, and its shared seed pool reads as a race there.
    thread_local std::mt19937_64 gen{std::random_device{}()};
    thread_local std::uint32_t counter = 0;
    const auto ms = static_cast<std::uint64_t>(std::max<TimeMs>(clock_.NowMs(), 0));
    const std::uint64_t hi = (ms << 20) | (counter++ & 0xFFFFF);
    const std::uint64_t lo = gen();
    // As "%016x%016x", written by hand: the formatter cost more than the rest.
    static constexpr char kHex[] = "0123456789abcdef";
    MessageId id(32, '0');
    for (int i = 0; i < 16; ++i) {
      id[15 - i] = kHex[(hi >> (4 * i)) & 0xF];
      id[31 - i] = kHex[(lo >> (4 * i)) & 0xF];
    }
    return id;
  }

  void OnDisconnected(const SessionPtr& session) override {
    Unregister(session);
    FinishPresence({session});
  }

  void CountDelivered(std::size_t n) override { delivered_.Add(n); }
  void CountSend(const absl::StatusOr<WriteResult>& r) override {
    const AppendResult* ar = r.ok() ? std::get_if<AppendResult>(&*r) : nullptr;
    const GroupSendResult* gr = r.ok() ? std::get_if<GroupSendResult>(&*r) : nullptr;
    if (ar == nullptr && gr == nullptr) {
      send_errors_.Add();
    } else if (ar != nullptr ? ar->duplicate : gr->duplicate) {
      duplicates_.Add();
    } else {
      (ar != nullptr ? sends_ : group_sends_).Add();
    }
  }
  void CountAck() override { acks_.Add(); }
  void CountRead() override { reads_.Add(); }

  // --- Engine operations
  absl::StatusOr<std::shared_ptr<Session>> Connect(const UserId& user, const DeviceId& device,
                                                   std::optional<Seq> since,
                                                   std::shared_ptr<Transport> transport) {
    if (stopped_.load(std::memory_order_acquire)) {
      return absl::UnavailableError("the engine is shut down");
    }
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_RETURN_IF_ERROR(ValidateName("device", device));
    if (transport == nullptr) return absl::InvalidArgumentError("no transport");
    auto session = std::make_shared<DeviceSession>(shared_from_this(), user, device, since,
                                                   std::move(transport));
    SessionPtr replaced;
    {
      Shard& shard = ShardOf(user);
      MutexLock lock(&shard.mu);
      auto& list = shard.sessions[user];
      for (auto it = list.begin(); it != list.end(); ++it) {
        if ((*it)->device() == device) {
          replaced = *it;
          list.erase(it);
          break;
        }
      }
      if (list.size() >= options_.limits.max_sessions_per_user) {
        if (replaced != nullptr) list.push_back(replaced);
        return absl::ResourceExhaustedError(
            absl::StrCat("at most ", options_.limits.max_sessions_per_user,
                         " devices may be connected at once"));
      }
      list.push_back(session);
    }
    if (replaced != nullptr) {
      replaced->CloseBy(CloseCode::kReplaced, "this device connected again");
    }
    // Presence first, on this thread, so that it follows the caller's order
    // of connects and disconnects.
    absl::StatusOr<ConnectOutcome> outcome =
        deps_.presence->Connect(user, device, options_.node, Now());
    if (outcome.ok()) {
      if (outcome->replaced_on.has_value() && *outcome->replaced_on != options_.node) {
        const Signal kick = SignalOf(Signal::Kind::kKick, user, device, options_.node);
        Check(Failure::kSignal, "presence: kick to another node",
              deps_.presence->Publish(*outcome->replaced_on, kick));
      }
      if (outcome->became_online) PostNotify(user);
    } else {
      Check(Failure::kPresence, "presence: register a device", outcome.status());
    }
    std::weak_ptr<EngineCore> weak = weak_from_this();
    queue_.Submit(AttachOp{user, device}, [weak, session](absl::StatusOr<WriteResult> r) mutable {
      auto core = weak.lock();
      if (core == nullptr) return;
      core->delivery_.Post([core, session, r = std::move(r)]() mutable {
        if (core->stopped_.load(std::memory_order_acquire)) return;
        std::vector<PresenceFrame> presence = core->PresenceOfContacts(UserId(session->user()));
        std::vector<UserId> contacts;
        contacts.reserve(presence.size());
        for (const PresenceFrame& p : presence) contacts.push_back(p.user);
        session->SetContacts(std::move(contacts));
        session->OnAttached(std::move(r), std::move(presence));
      });
    });
    return std::shared_ptr<Session>(session);
  }

  void Wake(const UserId& user) {
    for (const SessionPtr& s : Sessions(user)) s->Poke();
  }

  // Engine::OpenSessions.
  std::vector<Engine::OpenSession> OpenSessions(const UserId& user,
                                                const std::optional<DeviceId>& device) {
    std::vector<Engine::OpenSession> open;
    for (const SessionPtr& s : Sessions(user)) {
      if (device.has_value() && s->device() != *device) continue;
      if (std::shared_ptr<Transport> transport = s->transport()) {
        open.push_back(Engine::OpenSession{DeviceId(s->device()), std::move(transport)});
      }
    }
    return open;
  }

  // Engine::LeaveAllGroups: reads the user's groups and queues one kLeave
  // per group (delivery executor); `done` runs after the last result.
  void LeaveAllGroups(const UserId& user, absl::AnyInvocable<void(absl::Status)> done) {
    delivery_.Post([core = shared_from_this(), user, done = std::move(done)]() mutable {
      core->LeaveAll(user, std::move(done));
    });
  }

  void LeaveAll(const UserId& user, absl::AnyInvocable<void(absl::Status)> done) {
    if (stopped_.load(std::memory_order_acquire)) {
      done(absl::UnavailableError("the engine is shut down"));
      return;
    }
    if (absl::Status s = ValidateName("user", user); !s.ok()) {
      done(s);
      return;
    }
    absl::StatusOr<std::vector<GroupRecord>> groups = deps_.store->GroupsOf(user);
    if (!groups.ok() && absl::IsUnimplemented(groups.status())) {
      done(absl::OkStatus());  // a store that keeps no groups: none to leave
      return;
    }
    if (!groups.ok() || groups->empty()) {
      done(groups.status());
      return;
    }
    // The results come back on the delivery executor, possibly on several
    // of its threads: the last one calls `done` with the first failure.
    struct Pending {
      Mutex mu;
      std::size_t left ABSL_GUARDED_BY(mu) = 0;
      absl::Status first ABSL_GUARDED_BY(mu);
      absl::AnyInvocable<void(absl::Status)> done ABSL_GUARDED_BY(mu);
    };
    auto pending = std::make_shared<Pending>();
    {
      MutexLock lock(&pending->mu);
      pending->left = groups->size();
      pending->done = std::move(done);
    }
    for (const GroupRecord& g : *groups) {
      GroupChangeOp op;
      op.action = GroupAction::kLeave;
      op.actor = user;
      op.group = g.id;
      op.id = NewMessageId();
      op.ts = Now();
      op.limits = internal::GroupLimitsOf(options_.limits);
      Submit(std::move(op), [core = shared_from_this(), pending,
                             group = g.id](absl::StatusOr<WriteResult> r) {
        absl::Status status;
        absl::StatusOr<GroupChangeResult> left = ResultAs<GroupChangeResult>(std::move(r));
        if (left.ok()) {
          core->OnGroupChanged(group, *left);
        } else {
          status = left.status();
          const std::optional<GroupError> e = GroupErrorOf(status);
          // Not (or no longer) in it: nothing to leave.
          if (e == GroupError::kNotMember || e == GroupError::kUnknownGroup) {
            status = absl::OkStatus();
          }
        }
        absl::AnyInvocable<void(absl::Status)> finish;
        absl::Status result;
        {
          MutexLock lock(&pending->mu);
          if (!status.ok() && pending->first.ok()) pending->first = status;
          if (--pending->left == 0) {
            finish = std::move(pending->done);
            result = pending->first;
          }
        }
        if (finish) finish(std::move(result));
      }, nullptr);
    }
  }

  // Drops the cached permissions to send to or from `user` (an admin
  // operation: a scan of the cache is fine).
  void ForgetUser(const UserId& user) {
    MutexLock lock(&allowed_mu_);
    for (auto it = allowed_.begin(); it != allowed_.end();) {
      const std::string& pair = it->first;
      const std::size_t split = pair.find('\0');
      const absl::string_view from(pair.data(), split);
      const absl::string_view to(pair.data() + split + 1, pair.size() - split - 1);
      if (from == user || to == user) {
        allowed_.erase(it++);
      } else {
        ++it;
      }
    }
  }

  void Tick() {
    if (stopped_.load(std::memory_order_acquire)) return;
    const TimeMs now = Now();
    bool poll = false, beat = false, prune = false;
    {
      MutexLock lock(&tick_mu_);
      if (options_.head_poll_ms > 0 && now - last_poll_ >= options_.head_poll_ms) {
        last_poll_ = now;
        poll = true;
      }
      if (options_.presence_heartbeat_ms > 0 &&
          now - last_heartbeat_ >= options_.presence_heartbeat_ms) {
        last_heartbeat_ = now;
        beat = true;
      }
      if (options_.prune_interval_ms > 0 && now - last_prune_ >= options_.prune_interval_ms) {
        last_prune_ = now;
        prune = true;
      }
    }
    std::vector<SessionPtr> all = AllSessions();
    for (const SessionPtr& s : all) s->SubmitHeldAck();  // a drain's held ack waits <= a tick
    if (poll) {
      for (const SessionPtr& s : all) s->Poke();
    }
    if (beat) {
      std::vector<DeviceOnNode> list;
      list.reserve(all.size());
      for (const SessionPtr& s : all) list.emplace_back(UserId(s->user()), DeviceId(s->device()));
      Check(Failure::kHeartbeat, "presence: heartbeat",
            deps_.presence->Heartbeat(options_.node, list, now));
      rate_.Sweep(now);
      typing_rate_.Sweep(now);
      AnnounceExpired(all);
    }
    if (prune) {
      PruneOptions p;
      p.now = now;
      p.acked_retention_ms = options_.acked_retention_ms;
      p.ttl_ms = options_.ttl_ms;
      Check(Failure::kPrune, "store: prune", deps_.store->Prune(p).status());
    }
  }

  // Stops: closes every session with 1001 and records its presence.
  void Stop() {
    if (stopped_.exchange(true)) return;
    std::vector<SessionPtr> all;
    for (Shard& shard : shards_) {
      MutexLock lock(&shard.mu);
      for (auto& [user, list] : shard.sessions) {
        for (auto& s : list) all.push_back(s);
      }
      shard.sessions.clear();
    }
    std::vector<SessionPtr> closed;
    for (const SessionPtr& s : all) {
      if (s->CloseBy(CloseCode::kGoingAway, "server shutting down")) closed.push_back(s);
    }
    FinishPresence(closed, /*notify=*/false);
    deps_.presence->Unsubscribe(options_.node);
  }

  void WaitIdle() { queue_.WaitIdle(); }
  // After Stop: drops unwritten ops, which breaks the reference cycle
  // core -> queued completion -> session -> core.
  void Abandon() { queue_.Abandon(); }

  EngineStats Stats() const {
    EngineStats s;
    for (const Shard& shard : shards_) {
      MutexLock lock(&shard.mu);
      for (const auto& [user, list] : shard.sessions) s.sessions += list.size();
    }
    s.sends = sends_.value();
    s.duplicate_sends = duplicates_.value();
    s.send_errors = send_errors_.value();
    s.events_delivered = delivered_.value();
    s.acks = acks_.value();
    s.reads = reads_.value();
    s.commits = queue_.commits();
    s.committed_ops = queue_.committed_ops();
    s.commit_queue_depth = queue_.depth();
    s.commit_latency_us_total = queue_.latency_us_total();
    s.commit_busy_us_total = queue_.busy_us_total();
    s.write_reruns = queue_.write_reruns();
    s.heartbeat_errors = failures_.count(Failure::kHeartbeat);
    s.prune_errors = failures_.count(Failure::kPrune);
    s.signal_errors = failures_.count(Failure::kSignal);
    s.presence_errors = failures_.count(Failure::kPresence);
    s.last_seen_errors = failures_.count(Failure::kLastSeen);
    s.group_sends = group_sends_.value();
    s.group_changes = group_changes_.value();
    s.typing_relayed = typing_relayed_.value();
    s.typing_dropped = typing_dropped_.value();
    return s;
  }

  absl::Status Subscribe() {
    std::weak_ptr<EngineCore> weak = weak_from_this();
    return deps_.presence->Subscribe(options_.node, [weak](const Signal& signal) {
      if (auto core = weak.lock()) core->OnSignal(signal);
    });
  }

  absl::Status Health() { return deps_.store->Ping(); }

 private:
  static constexpr std::size_t kMaxAllowedCache = 1 << 20;
  // A failing dependency logs at most one line per kind this often.
  static constexpr TimeMs kFailureLogIntervalMs = 60'000;

  // Typing keeps the members of this many groups for this long.
  static constexpr std::size_t kTypingCacheGroups = 4096;
  static constexpr TimeMs kTypingMembersTtlMs = 5'000;

  // An error answering a send, counted in send_errors.
  ErrorFrame SendError(ErrorCode code, const std::string& cid, std::string message) {
    send_errors_.Add();
    return ErrorFrame{code, std::move(message), cid, std::nullopt};
  }

  ErrorFrame RateLimited(const std::string& cid, std::int64_t wait) {
    return ErrorFrame{ErrorCode::kRateLimited,
                      absl::StrCat("at most ", options_.rate_limit.count, " messages per ",
                                   options_.rate_limit.period_ms / 1000, " s"),
                      cid, wait};
  }

  // The checks every send (1:1 or group) makes after its address, in order:
  // the body's size, a repeat of a cid stored recently, the rate.
  std::optional<ServerFrame> CheckBodyRepeatRate(const UserId& from, const std::string& cid,
                                                 std::size_t body_size) {
    if (body_size > options_.limits.max_body_bytes) {
      return SendError(ErrorCode::kTooLarge, cid,
                       absl::StrCat("body is ", body_size, " bytes; the limit is ",
                                    options_.limits.max_body_bytes));
    }
    // A repeat of a cid this node saw stored is answered at once, without
    // a token or a write: a client retrying after a lost `sent` must never
    // be told to wait for a message that is already stored.
    if (std::optional<SentFrame> known = recent_.Find(from, cid)) {
      duplicates_.Add();
      return *std::move(known);
    }
    if (std::int64_t wait = rate_.Acquire(from, Now()); wait > 0) {
      send_errors_.Add();
      return RateLimited(cid, wait);
    }
    return std::nullopt;
  }

  // None when `from` may send to `to` (the ContactPolicy's answer, cached
  // for contact_cache_ttl_ms); else the error that answers `cid`. May block
  // on the policy.
  std::optional<ErrorFrame> MaySendTo(const UserId& from, const UserId& to,
                                      const std::string& cid) {
    // The key is built in a reused buffer: the cache hit, once per send,
    // allocates nothing.
    thread_local std::string pair;
    pair.assign(from).push_back('\0');  // names hold no NUL
    pair.append(to);
    const TimeMs now = Now();
    {
      MutexLock lock(&allowed_mu_);
      auto it = allowed_.find(absl::string_view(pair));
      if (it != allowed_.end() && now - it->second < options_.contact_cache_ttl_ms) {
        return std::nullopt;
      }
    }
    absl::StatusOr<bool> may = deps_.contacts->MaySend(from, to);
    if (!may.ok()) {
      if (absl::IsNotFound(may.status())) {
        return ErrorFrame{ErrorCode::kUnknownUser, absl::StrCat("no user named '", to, "'"), cid,
                          std::nullopt};
      }
      return ErrorFrame{ErrorCode::kUnavailable,
                        absl::StrCat("could not check contacts: ", may.status().message()), cid,
                        std::nullopt};
    }
    if (!*may) {
      return ErrorFrame{ErrorCode::kNotFriends, absl::StrCat("you and ", to, " are not friends"),
                        cid, std::nullopt};
    }
    MutexLock lock(&allowed_mu_);
    if (allowed_.size() >= kMaxAllowedCache) allowed_.clear();
    allowed_.insert_or_assign(pair, now);
    return std::nullopt;
  }

  // The members of `group` for typing (sorted; empty: no such group), from
  // the cache or the store; nullopt when the store failed (counted). Blocks.
  std::optional<std::vector<UserId>> TypingMembers(const GroupId& group) {
    if (auto cached = typing_members_.Find(group, Now())) return cached;
    absl::StatusOr<GroupRecord> record = deps_.store->Group(group);
    std::vector<UserId> members;
    if (record.ok()) {
      members.reserve(record->members.size());
      for (const GroupMember& m : record->members) members.push_back(m.user);
    } else if (GroupErrorOf(record.status()) != GroupError::kUnknownGroup) {
      Check(Failure::kPresence, "store: read a group's members for typing", record.status());
      return std::nullopt;
    }
    std::sort(members.begin(), members.end());
    typing_members_.Put(group, members, Now());
    return members;
  }

  // Typing ops that passed Typing's checks, waiting to be relayed; a
  // typist's ops always go to the same lane (by a hash of the name).
  struct TypingOp {
    UserId from;
    UserId to;
    GroupId group;
    bool on = false;
  };
  struct TypingLane {
    Mutex mu;
    std::deque<TypingOp> queue ABSL_GUARDED_BY(mu);
    bool running ABSL_GUARDED_BY(mu) = false;  // a task runs or is posted
  };

  // Relays what `lane` holds, in order, until it is empty (delivery
  // executor; one task per lane at a time).
  void RunTypingLane(TypingLane& lane) {
    for (;;) {
      TypingOp op;
      {
        MutexLock lock(&lane.mu);
        if (lane.queue.empty()) {
          lane.running = false;
          return;
        }
        op = std::move(lane.queue.front());
        lane.queue.pop_front();
      }
      RelayTyping(op.from, op.to, op.group, op.on);
    }
  }

  // Hands `frame` to the local sessions of `users`.
  void RelayTypingLocally(const std::vector<UserId>& users, const TypingFrame& frame) {
    for (const UserId& u : users) {
      for (const SessionPtr& s : Sessions(u)) {
        s->EmitOne(frame);
        typing_relayed_.Add();
      }
    }
  }

  // Relays a typing op that passed Typing's checks (delivery executor): to
  // the peer, or the other members, here and on the other nodes they are
  // connected to (one signal per node).
  void RelayTyping(const UserId& from, const UserId& to, const GroupId& group, bool on) {
    if (stopped_.load(std::memory_order_acquire)) return;
    std::vector<UserId> targets;
    if (!to.empty()) {
      if (MaySendTo(from, to, "").has_value()) {
        typing_dropped_.Add();
        return;
      }
      targets.push_back(to);
    } else {
      std::optional<std::vector<UserId>> members = TypingMembers(group);
      if (!members.has_value() || !std::binary_search(members->begin(), members->end(), from)) {
        typing_dropped_.Add();
        return;
      }
      for (UserId& m : *members) {
        if (m != from) targets.push_back(std::move(m));
      }
      if (targets.empty()) return;
    }
    RelayTypingLocally(targets, TypingFrame{from, group, on, options_.limits.typing_ttl_ms});
    std::optional<absl::flat_hash_set<NodeId>> nodes =
        OtherNodesOf(targets, "presence: look up whom to tell of typing");
    if (!nodes.has_value()) return;
    Signal signal = SignalOf(Signal::Kind::kTyping, to, "", options_.node);
    signal.from_user = from;
    signal.group = group;
    signal.on = on;
    for (const NodeId& n : *nodes) {
      absl::Status published = deps_.presence->Publish(n, signal);
      Check(Failure::kSignal, "presence: typing signal to another node", published);
      if (published.ok()) typing_relayed_.Add();
    }
  }

  // The nodes other than this one where some of `users` have a device;
  // nullopt when the presence store failed (counted as `what`).
  std::optional<absl::flat_hash_set<NodeId>> OtherNodesOf(const std::vector<UserId>& users,
                                                          absl::string_view what) {
    auto presence = deps_.presence->Lookup(users);
    if (!presence.ok()) {
      Check(Failure::kPresence, what, presence.status());
      return std::nullopt;
    }
    absl::flat_hash_set<NodeId> nodes;
    for (const Presence& p : *presence) {
      for (const NodeId& n : p.nodes) {
        if (n != options_.node) nodes.insert(n);
      }
    }
    return nodes;
  }

  // A kTyping signal from another node: tells the local devices of its
  // peer, or of the group's other members (read here: delivery executor).
  void OnTypingSignal(const Signal& signal) {
    const TypingFrame frame{signal.from_user, signal.group, signal.on,
                            options_.limits.typing_ttl_ms};
    if (signal.group.empty()) {
      if (signal.user != signal.from_user) RelayTypingLocally({signal.user}, frame);
      return;
    }
    delivery_.Post([core = shared_from_this(), frame] {
      if (core->stopped_.load(std::memory_order_acquire)) return;
      std::optional<std::vector<UserId>> members = core->TypingMembers(frame.group);
      if (!members.has_value() ||
          !std::binary_search(members->begin(), members->end(), frame.from)) {
        return;  // the typist left meanwhile, or the store failed (counted)
      }
      members->erase(std::remove(members->begin(), members->end(), frame.from), members->end());
      core->RelayTypingLocally(*members, frame);
    });
  }

  // Counts and logs a failed status nobody else sees (no-op when ok).
  void Check(internal::Failure kind, absl::string_view what, const absl::Status& status) {
    if (!status.ok()) failures_.Record(kind, what, status, Now());
  }

  struct Shard {
    mutable Mutex mu;
    // Keyed by a NameKey: a user name up to 23 bytes inline, no heap block
    // of its own; a 48-byte node per connected user (name_key.h: a flat
    // table's empty slots cost more).
    NameNodeMap<absl::InlinedVector<SessionPtr, 1>> sessions ABSL_GUARDED_BY(mu);
  };

  Shard& ShardOf(std::string_view user) {
    return shards_[absl::Hash<std::string_view>{}(user) % shards_.size()];
  }

  // A user's sessions (a copy: called per routed event, so a user's few
  // devices fit without a heap allocation).
  using SessionList = absl::InlinedVector<SessionPtr, 4>;
  SessionList Sessions(const UserId& user) {
    Shard& shard = ShardOf(user);
    MutexLock lock(&shard.mu);
    auto it = shard.sessions.find(user);
    if (it == shard.sessions.end()) return {};
    return SessionList(it->second.begin(), it->second.end());
  }

  std::vector<SessionPtr> AllSessions() {
    std::vector<SessionPtr> all;
    for (Shard& shard : shards_) {
      MutexLock lock(&shard.mu);
      for (auto& [user, list] : shard.sessions) {
        for (auto& s : list) all.push_back(s);
      }
    }
    return all;
  }

  void Unregister(const SessionPtr& session) {
    Shard& shard = ShardOf(session->user());
    MutexLock lock(&shard.mu);
    auto it = shard.sessions.find(session->user());
    if (it == shard.sessions.end()) return;
    auto& list = it->second;
    for (auto s = list.begin(); s != list.end(); ++s) {
      if (*s == session) {
        list.erase(s);
        break;
      }
    }
    if (list.empty()) shard.sessions.erase(it);
  }

  // Removes the sessions' presence registrations; users left with no device
  // get their last seen stored and their contacts told.
  void FinishPresence(const std::vector<SessionPtr>& sessions, bool notify = true) {
    const TimeMs now = Now();
    for (const SessionPtr& s : sessions) {
      const UserId user(s->user());
      absl::StatusOr<bool> offline =
          deps_.presence->Disconnect(user, DeviceId(s->device()), options_.node, now);
      if (!offline.ok()) {
        Check(Failure::kPresence, "presence: unregister a device", offline.status());
        continue;
      }
      if (!*offline) continue;
      if (deps_.accounts != nullptr) {
        Check(Failure::kLastSeen, "accounts: store last seen",
              deps_.accounts->SetLastSeen(user, now));
      }
      if (notify) PostNotify(user);
    }
  }

  void PostNotify(const UserId& user) {
    delivery_.Post([core = shared_from_this(), user] { core->NotifyContacts(user, true); });
  }

  PresenceFrame FrameOf(const Presence& p) {
    PresenceFrame f{p.user, p.online, std::nullopt};
    if (!p.online) {
      f.last_seen = p.last_seen;
      if (!f.last_seen.has_value() && deps_.accounts != nullptr) {
        auto stored = deps_.accounts->LastSeen(p.user);
        if (stored.ok()) {
          f.last_seen = *stored;
        } else if (!absl::IsNotFound(stored.status())) {
          Check(Failure::kLastSeen, "accounts: read last seen", stored.status());
        }
      }
    }
    return f;
  }

  // The presence of each contact of `user`, for the frames after welcome.
  std::vector<PresenceFrame> PresenceOfContacts(const UserId& user) {
    std::vector<PresenceFrame> frames;
    auto contacts = deps_.contacts->Contacts(user);
    if (!contacts.ok()) {
      Check(Failure::kPresence, "contacts: list a user's contacts", contacts.status());
      return frames;
    }
    if (contacts->empty()) return frames;
    auto presence = deps_.presence->Lookup(*contacts);
    if (!presence.ok()) {
      Check(Failure::kPresence, "presence: look up contacts", presence.status());
      return frames;
    }
    frames.reserve(presence->size());
    for (const Presence& p : *presence) {
      frames.push_back(FrameOf(p));
      RememberSeen(p.user, p.online);
    }
    return frames;
  }

  // Tells `user`'s contacts its current presence: local sessions directly,
  // other nodes through a kPresence signal when `to_other_nodes`. Serialized,
  // and it reads the presence when it runs, so the last notice is the truth.
  void NotifyContacts(const UserId& user, bool to_other_nodes) {
    if (stopped_.load(std::memory_order_acquire)) return;
    MutexLock lock(&notify_mu_);
    auto contacts = deps_.contacts->Contacts(user);
    if (!contacts.ok()) {
      Check(Failure::kPresence, "contacts: list a user's contacts", contacts.status());
      return;
    }
    if (contacts->empty()) return;
    const std::vector<UserId> one{user};
    auto self = deps_.presence->Lookup(one);
    if (!self.ok()) {
      Check(Failure::kPresence, "presence: look up a user", self.status());
      return;
    }
    if (self->empty()) return;
    const PresenceFrame frame = FrameOf(self->front());
    RememberSeen(user, frame.online);
    for (const UserId& c : *contacts) {
      for (const SessionPtr& s : Sessions(c)) s->EmitOne(frame);
    }
    if (!to_other_nodes) return;
    std::optional<absl::flat_hash_set<NodeId>> nodes =
        OtherNodesOf(*contacts, "presence: look up contacts");
    if (!nodes.has_value()) return;
    for (const NodeId& n : *nodes) {
      Check(Failure::kSignal, "presence: presence signal to another node",
            deps_.presence->Publish(n, SignalOf(Signal::Kind::kPresence, user, "", options_.node)));
    }
  }

  // Presence that changed without a connect or disconnect anyone saw: a
  // crashed node's registrations expire in the presence store. Compares the
  // contacts of local sessions with what they were last told, and tells
  // them the changes.
  void AnnounceExpired(const std::vector<SessionPtr>& sessions) {
    absl::flat_hash_set<UserId> watched;
    for (const SessionPtr& s : sessions) {
      for (UserId& c : s->contacts()) watched.insert(std::move(c));
    }
    std::vector<UserId> users(watched.begin(), watched.end());
    std::vector<UserId> changed;
    if (!users.empty()) {
      auto presence = deps_.presence->Lookup(users);
      if (!presence.ok()) {
        Check(Failure::kPresence, "presence: look up watched contacts", presence.status());
        return;
      }
      MutexLock lock(&seen_mu_);
      for (const Presence& p : *presence) {
        auto it = seen_online_.find(p.user);
        if (it != seen_online_.end() && it->second != p.online) changed.push_back(p.user);
      }
    }
    {
      MutexLock lock(&seen_mu_);
      for (auto it = seen_online_.begin(); it != seen_online_.end();) {
        if (watched.contains(it->first)) {
          ++it;
        } else {
          seen_online_.erase(it++);
        }
      }
    }
    for (const UserId& u : changed) NotifyContacts(u, /*to_other_nodes=*/false);
  }

  void RememberSeen(const UserId& user, bool online) {
    MutexLock lock(&seen_mu_);
    seen_online_[user] = online;
  }

  // False when the presence store knows no device ever registered on
  // another node (PresenceStore::MayHaveOtherNodes): there is no session to
  // wake elsewhere, so a commit needs no presence lookup and no pool task.
  bool OtherNodesMayListen() const { return deps_.presence->MayHaveOtherNodes(options_.node); }

  // After each commit: users with new events may have devices on other nodes.
  void WakeRemote() {
    absl::flat_hash_set<UserId> users;
    {
      MutexLock lock(&wake_mu_);
      users.swap(wake_users_);
    }
    if (users.empty()) return;
    delivery_.Post([core = shared_from_this(), users = std::move(users)] {
      if (core->stopped_.load(std::memory_order_acquire)) return;
      std::vector<UserId> list(users.begin(), users.end());
      auto presence = core->deps_.presence->Lookup(list);
      if (!presence.ok()) {
        core->Check(Failure::kPresence, "presence: look up recipients to wake", presence.status());
        return;
      }
      for (const Presence& p : *presence) {
        for (const NodeId& n : p.nodes) {
          if (n == core->options_.node) continue;
          core->Check(Failure::kSignal, "presence: wake signal to another node",
                      core->deps_.presence->Publish(
                          n, SignalOf(Signal::Kind::kWake, p.user, "", core->options_.node)));
        }
      }
    });
  }

  void OnSignal(const Signal& signal) {
    if (stopped_.load(std::memory_order_acquire)) return;
    switch (signal.kind) {
      case Signal::Kind::kWake:
        Wake(signal.user);
        break;
      case Signal::Kind::kKick: {
        SessionPtr victim;
        {
          Shard& shard = ShardOf(signal.user);
          MutexLock lock(&shard.mu);
          auto it = shard.sessions.find(signal.user);
          if (it != shard.sessions.end()) {
            auto& list = it->second;
            for (auto s = list.begin(); s != list.end(); ++s) {
              if ((*s)->device() == signal.device) {
                victim = *s;
                list.erase(s);
                break;
              }
            }
            if (list.empty()) shard.sessions.erase(it);
          }
        }
        if (victim != nullptr) {
          victim->CloseBy(CloseCode::kReplaced, "this device connected on another server");
        }
        break;
      }
      case Signal::Kind::kPresence:
        delivery_.Post([core = shared_from_this(), user = signal.user] {
          core->NotifyContacts(user, false);
        });
        break;
      case Signal::Kind::kTyping:
        OnTypingSignal(signal);
        break;
      case Signal::Kind::kClose:  // for the server's own subscription, not the engine's
        break;
    }
  }

  const EngineOptions options_;
  const Engine::Deps deps_;
  Clock& clock_;
  Executor& delivery_;
  CommitQueue queue_;
  internal::RateLimiter rate_;
  internal::RateLimiter typing_rate_;
  internal::GroupMembersCache typing_members_;
  internal::RecentSends recent_;
  internal::FailureLog failures_;
  std::atomic<bool> stopped_{false};
  std::array<Shard, 32> shards_;

  std::array<TypingLane, 16> typing_lanes_;

  Mutex allowed_mu_;
  // "from\0to" -> when the ContactPolicy last allowed it (engine clock).
  absl::flat_hash_map<std::string, TimeMs> allowed_ ABSL_GUARDED_BY(allowed_mu_);
  Mutex wake_mu_;
  absl::flat_hash_set<UserId> wake_users_ ABSL_GUARDED_BY(wake_mu_);
  Mutex notify_mu_;
  Mutex seen_mu_;
  // What local sessions were last told of each watched user's presence.
  absl::flat_hash_map<UserId, bool> seen_online_ ABSL_GUARDED_BY(seen_mu_);
  Mutex tick_mu_;
  TimeMs last_poll_ ABSL_GUARDED_BY(tick_mu_) = 0;
  TimeMs last_heartbeat_ ABSL_GUARDED_BY(tick_mu_) = 0;
  TimeMs last_prune_ ABSL_GUARDED_BY(tick_mu_) = 0;

  internal::Counter sends_, duplicates_, send_errors_, delivered_, acks_, reads_, group_sends_,
      group_changes_, typing_relayed_, typing_dropped_;
};

class EngineImpl final : public Engine {
 public:
  EngineImpl(std::unique_ptr<ThreadPoolExecutor> own_commit,
             std::unique_ptr<ThreadPoolExecutor> own_delivery, std::shared_ptr<EngineCore> core)
      : own_commit_(std::move(own_commit)),
        own_delivery_(std::move(own_delivery)),
        core_(std::move(core)) {}

  ~EngineImpl() override {
    Shutdown();
    // Joining the own executors runs what they still hold; what borrowed
    // executors still hold finds the engine stopped and does nothing.
    own_delivery_.reset();
    own_commit_.reset();
    core_->Abandon();
  }

  absl::StatusOr<std::shared_ptr<Session>> Connect(const UserId& user, const DeviceId& device,
                                                   std::optional<Seq> since,
                                                   std::shared_ptr<Transport> transport) override {
    return core_->Connect(user, device, since, std::move(transport));
  }
  void Wake(const UserId& user) override { core_->Wake(user); }
  std::vector<OpenSession> OpenSessions(const UserId& user,
                                        const std::optional<DeviceId>& device) override {
    return core_->OpenSessions(user, device);
  }
  void ForgetUser(const UserId& user) override { core_->ForgetUser(user); }
  void LeaveAllGroups(const UserId& user, absl::AnyInvocable<void(absl::Status)> done) override {
    core_->LeaveAllGroups(user, std::move(done));
  }
  void Tick() override { core_->Tick(); }
  void Shutdown() override {
    core_->Stop();
    if (own_commit_ != nullptr) core_->WaitIdle();
  }
  EngineStats stats() const override { return core_->Stats(); }
  absl::Status Health() override { return core_->Health(); }

 private:
  std::unique_ptr<ThreadPoolExecutor> own_commit_;
  std::unique_ptr<ThreadPoolExecutor> own_delivery_;
  std::shared_ptr<EngineCore> core_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(const EngineOptions& options, Deps deps) {
  if (deps.store == nullptr || deps.presence == nullptr || deps.contacts == nullptr) {
    return absl::InvalidArgumentError("Engine needs a store, a presence store and a contact policy");
  }
  COURIER_RETURN_IF_ERROR(ValidateName("node", options.node));
  if (options.limits.window == 0) return absl::InvalidArgumentError("window must be >= 1");
  if (options.limits.fetch_page == 0) return absl::InvalidArgumentError("fetch_page must be >= 1");
  if (options.limits.max_read_ids == 0) {
    return absl::InvalidArgumentError("max_read_ids must be >= 1");
  }
  if (options.contact_cache_ttl_ms < 0) {
    return absl::InvalidArgumentError("contact_cache_ttl_ms must be >= 0");
  }
  if (options.rate_limit.period_ms <= 0) {
    return absl::InvalidArgumentError("rate limit period must be positive");
  }
  if (options.typing_rate.period_ms <= 0) {
    return absl::InvalidArgumentError("typing rate period must be positive");
  }
  if (options.limits.typing_ttl_ms <= 0) {
    return absl::InvalidArgumentError("typing_ttl_ms must be positive");
  }
  if (options.limits.max_group_members == 0 ||
      options.limits.max_group_members > kMaxGroupMembers) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_group_members must be 1-", kMaxGroupMembers));
  }
  if (options.limits.max_groups_per_user == 0) {
    return absl::InvalidArgumentError("max_groups_per_user must be >= 1");
  }
  if (options.limits.max_group_name_bytes == 0 ||
      options.limits.max_group_name_bytes > kMaxGroupNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_group_name_bytes must be 1-", kMaxGroupNameBytes));
  }
  std::unique_ptr<ThreadPoolExecutor> own_commit, own_delivery;
  Executor* commit = options.commit_executor;
  Executor* delivery = options.delivery_executor;
  if (commit == nullptr) {
    // A store that stages writes gets a second thread: one batch's fsync
    // overlaps the next one's work (commit_queue.h, "Staged writes").
    own_commit = std::make_unique<ThreadPoolExecutor>(deps.store->StagesWrites() ? 2 : 1,
                                                      "courier-commit");
    commit = own_commit.get();
  }
  if (delivery == nullptr) {
    own_delivery = std::make_unique<ThreadPoolExecutor>(2, "courier-deliver");
    delivery = own_delivery.get();
  }
  Clock& clock = options.clock != nullptr ? *options.clock : SystemClock();
  auto core = std::make_shared<EngineCore>(options, deps, clock, *commit, *delivery);
  core->StartRouting();
  COURIER_RETURN_IF_ERROR(core->Subscribe());
  return std::unique_ptr<Engine>(
      new EngineImpl(std::move(own_commit), std::move(own_delivery), std::move(core)));
}

}  // namespace courier
