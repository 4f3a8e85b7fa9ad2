// engine_harness.h: one engine over the memory adapters, driven step by step.
//
// Everything the engine does runs on one ManualExecutor, so a test decides
// when writes commit and when deliveries happen; time is a ManualClock.
// A test reads as its scenario: a fixture names where it starts (AliceAndBob,
// BothOnline, BobHasMessages), and each step either only queues (a device's
// session, Device::SendMany) or queues and runs the engine (Online, Send,
// Ack, Disconnect); Device::Received and Last poll and look.
#ifndef COURIER_TESTS_CORE_ENGINE_HARNESS_H_
#define COURIER_TESTS_CORE_ENGINE_HARNESS_H_

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "courier/body_cipher.h"
#include "courier/clock.h"
#include "courier/contact_policy.h"
#include "courier/engine.h"
#include "courier/executor.h"
#include "courier/memory.h"
#include "support/status_matchers.h"

namespace courier::testing {

// A connected device as a test sees it.
struct Device {
  std::shared_ptr<Session> session;
  std::shared_ptr<memory::RecordingTransport> transport;
  std::vector<ServerFrame> frames;  // everything received so far

  // Moves newly received frames into `frames`; returns the new ones.
  std::vector<ServerFrame> Poll() {
    auto fresh = transport->Take();
    frames.insert(frames.end(), fresh.begin(), fresh.end());
    return fresh;
  }
  template <typename T>
  std::vector<T> All() const {
    std::vector<T> out;
    for (const auto& f : frames) {
      if (const T* t = std::get_if<T>(&f)) out.push_back(*t);
    }
    return out;
  }
  std::vector<Event> Events() const {
    std::vector<Event> out;
    for (const auto& e : All<EventFrame>()) out.push_back(e.event);
    return out;
  }
  // Poll, then All<T>() / Events(): everything received so far.
  template <typename T>
  std::vector<T> Received() {
    Poll();
    return All<T>();
  }
  std::vector<Event> ReceivedEvents() {
    Poll();
    return Events();
  }
  // Polls, then returns the last frame of type T received so far (nullptr
  // if none); valid until the next Poll.
  template <typename T>
  const T* Last() {
    Poll();
    for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
      if (const T* t = std::get_if<T>(&*it)) return t;
    }
    return nullptr;
  }
  // Sends `n` messages to `to` with cids `cid_prefix`0 .. `cid_prefix`n-1,
  // each with `body`. Only queues them: the engine runs on EngineHarness::Run.
  void SendMany(const UserId& to, int n, const std::string& body = "m",
                const std::string& cid_prefix = "c") {
    for (int i = 0; i < n; ++i) session->Send(cid_prefix + std::to_string(i), to, body);
  }
};

// Options for tests that are not about rate limits: no test reaches these.
inline EngineOptions Generous() {
  EngineOptions o;
  o.rate_limit.count = 100000;
  o.rate_limit.period_ms = 1000;
  o.typing_rate = RateLimit{1000, 1000};
  return o;
}

// Forwards to another PresenceStore; while down, every call but Subscribe
// and Unsubscribe fails with kUnavailable (a presence server that went away).
class FaultyPresence final : public PresenceStore {
 public:
  explicit FaultyPresence(PresenceStore& inner) : inner_(inner) {}
  void SetDown(bool down) { down_ = down; }
  // Only Publish fails (signals to other nodes are lost).
  void SetPublishDown(bool down) { publish_down_ = down; }

  absl::StatusOr<ConnectOutcome> Connect(const UserId& user, const DeviceId& device,
                                         const NodeId& node, TimeMs now) override {
    if (down_) return Down();
    return inner_.Connect(user, device, node, now);
  }
  absl::StatusOr<bool> Disconnect(const UserId& user, const DeviceId& device, const NodeId& node,
                                  TimeMs now) override {
    if (down_) return Down();
    return inner_.Disconnect(user, device, node, now);
  }
  absl::StatusOr<std::vector<Presence>> Lookup(absl::Span<const UserId> users) override {
    lookups_.fetch_add(1);
    if (down_) return Down();
    return inner_.Lookup(users);
  }
  absl::Status Heartbeat(const NodeId& node, absl::Span<const DeviceOnNode> sessions,
                         TimeMs now) override {
    if (down_) return Down();
    return inner_.Heartbeat(node, sessions, now);
  }
  absl::Status Publish(const NodeId& to_node, const Signal& signal) override {
    if (down_ || publish_down_) return Down();
    return inner_.Publish(to_node, signal);
  }
  absl::Status Subscribe(const NodeId& node,
                         absl::AnyInvocable<void(const Signal&)> handler) override {
    return inner_.Subscribe(node, std::move(handler));
  }
  void Unsubscribe(const NodeId& node) override { inner_.Unsubscribe(node); }
  // The inner store's answer, or true (a store that cannot tell, as Redis)
  // while SetHideNodes(true).
  bool MayHaveOtherNodes(const NodeId& node) const override {
    return hide_nodes_ || inner_.MayHaveOtherNodes(node);
  }
  void SetHideNodes(bool hide) { hide_nodes_ = hide; }
  // Lookup calls so far.
  int lookups() const { return lookups_.load(); }

 private:
  static absl::Status Down() { return absl::UnavailableError("presence store is down"); }
  PresenceStore& inner_;
  std::atomic<int> lookups_{0};
  std::atomic<bool> hide_nodes_{false};
  std::atomic<bool> down_{false};
  std::atomic<bool> publish_down_{false};
};

// Counts the sends (AppendOp, GroupSendOp) that reach Write unprepared: the
// engine prepares every op it submits (MessageStore::Prepare), so that the
// encrypting store seals bodies on the submitting thread, not in Write.
class PrepareWatch final : public memory::MessageStoreWrapper {
 public:
  using MessageStoreWrapper::MessageStoreWrapper;
  std::vector<absl::StatusOr<WriteResult>> Write(absl::Span<const WriteOp> ops) override {
    for (const WriteOp& op : ops) {
      const auto* append = std::get_if<AppendOp>(&op);
      const auto* send = std::get_if<GroupSendOp>(&op);
      if ((append != nullptr && !append->plaintext.has_value()) ||
          (send != nullptr && !send->plaintext.has_value())) {
        unprepared_.fetch_add(1);
      }
    }
    return MessageStoreWrapper::Write(ops);
  }
  int unprepared() const { return unprepared_.load(); }

 private:
  std::atomic<int> unprepared_{0};
};

// One device of one user, for EngineHarness::Online.
struct UserDevice {
  UserId user;
  DeviceId device;
};

class EngineHarness {
 public:
  explicit EngineHarness(EngineOptions options = {}) : options_(std::move(options)) {
    auto encrypted = OpenEncryptingStore(memory::OpenMessageStore(), std::string(32, 'k'));
    REQUIRE(encrypted.ok());
    store_ = *std::move(encrypted);
    watch_ = std::make_unique<PrepareWatch>(*store_);
    faults_ = std::make_unique<memory::FaultInjectingStore>(*watch_);
    accounts_ = memory::OpenAccountStore();
    presence_ = memory::OpenPresenceStore(clock_);
    presence_faults_ = std::make_unique<FaultyPresence>(*presence_);
    contacts_ = MakeFriendsOnlyPolicy(*accounts_);
    Start();
  }
  ~EngineHarness() { Stop(); }

  void Start() {
    options_.clock = &clock_;
    options_.commit_executor = &executor_;
    options_.delivery_executor = &executor_;
    auto engine = Engine::Create(options_, Engine::Deps{faults_.get(), presence_faults_.get(),
                                                        contacts_.get(), accounts_.get()});
    REQUIRE(engine.ok());
    engine_ = *std::move(engine);
  }
  void Stop() {
    if (engine_ == nullptr) return;
    engine_->Shutdown();
    executor_.RunAll();
    engine_.reset();
  }

  void AddUsers(std::initializer_list<const char*> users) {
    for (const char* u : users) COURIER_REQUIRE_OK(accounts_->CreateUser(u, "hash", 0));
  }
  void Befriend(const UserId& a, const UserId& b) {
    REQUIRE(accounts_->RequestFriend(a, b).ok());
    COURIER_REQUIRE_OK(accounts_->AcceptFriend(b, a));
  }

  Device Connect(const UserId& user, const DeviceId& device,
                 std::optional<Seq> since = std::nullopt) {
    return ConnectTo(*engine_, user, device, since);
  }
  // Connect, then Run: the device is welcomed (and synced, if the window
  // holds its backlog).
  Device Online(const UserId& user, const DeviceId& device = "phone",
                std::optional<Seq> since = std::nullopt) {
    Device d = Connect(user, device, since);
    Run();
    return d;
  }
  // Connects every device at once, then Runs: for a scenario with several
  // devices online, bound by name:
  //   auto [alice, bob] = h.Online({{"alice", "phone"}, {"bob", "phone"}});
  template <std::size_t N>
  std::array<Device, N> Online(const UserDevice (&devices)[N]) {
    std::array<Device, N> out;
    for (std::size_t i = 0; i < N; ++i) out[i] = Connect(devices[i].user, devices[i].device);
    Run();
    return out;
  }
  // Writes a message from `sender` to `recipient` straight into the store,
  // behind the engine's back, as another node or a run before a restart
  // would; the engine is not told.
  void WriteBehindEngine(const UserId& sender, const std::string& cid, const UserId& recipient,
                         const MessageId& id, const std::string& body) {
    AppendOp op;
    op.sender = sender;
    op.cid = cid;
    op.recipient = recipient;
    op.id = id;
    op.body = body;
    op.ts = clock_.NowMs();
    auto written = store_->Write({WriteOp{op}});
    REQUIRE(written.size() == 1);
    COURIER_REQUIRE_OK(written[0]);
  }

  // Another node: a second engine named `node` over the same stores,
  // presence store, clock and executor (Run runs both). Destroy it before
  // the harness.
  std::unique_ptr<Engine> StartPeer(const NodeId& node) {
    EngineOptions o = options_;
    o.node = node;
    auto engine = Engine::Create(o, Engine::Deps{faults_.get(), presence_faults_.get(),
                                                 contacts_.get(), accounts_.get()});
    REQUIRE(engine.ok());
    return *std::move(engine);
  }
  Device ConnectTo(Engine& engine, const UserId& user, const DeviceId& device,
                   std::optional<Seq> since = std::nullopt) {
    Device d;
    d.transport = std::make_shared<memory::RecordingTransport>();
    auto session = engine.Connect(user, device, since, d.transport);
    COURIER_REQUIRE_OK(session);
    d.session = *session;
    return d;
  }

  // Runs every queued engine task (commits and deliveries).
  std::size_t Run() { return executor_.RunAll(); }
  // `d` sends `body` to `to` as client message `cid`, then the engine runs.
  void Send(Device& d, const std::string& cid, const UserId& to, const std::string& body) {
    d.session->Send(cid, to, body);
    Run();
  }
  // `d` acks every event through `seq`, then the engine runs.
  void Ack(Device& d, Seq seq) {
    d.session->Ack(seq);
    Run();
  }
  // `d` goes away, then the engine runs.
  void Disconnect(Device& d) {
    d.session->Disconnect();
    Run();
  }

  Engine& engine() { return *engine_; }
  MessageStore& store() { return *store_; }
  memory::FaultInjectingStore& faults() { return *faults_; }
  // Sends that reached the store's Write without the engine's Prepare.
  int unprepared_sends() const { return watch_->unprepared(); }
  AccountStore& accounts() { return *accounts_; }
  PresenceStore& presence() { return *presence_; }
  FaultyPresence& presence_faults() { return *presence_faults_; }
  ManualClock& clock() { return clock_; }
  ManualExecutor& executor() { return executor_; }

 private:
  EngineOptions options_;
  ManualClock clock_;
  ManualExecutor executor_;
  std::unique_ptr<MessageStore> store_;
  std::unique_ptr<PrepareWatch> watch_;
  std::unique_ptr<memory::FaultInjectingStore> faults_;
  std::unique_ptr<AccountStore> accounts_;
  std::unique_ptr<PresenceStore> presence_;
  std::unique_ptr<FaultyPresence> presence_faults_;
  std::unique_ptr<ContactPolicy> contacts_;
  std::unique_ptr<Engine> engine_;
};

// Runs engine tasks until `done` (signals between nodes arrive on the
// memory presence store's own thread), for at most 5 s.
inline bool RunUntil(EngineHarness& h, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    h.Run();
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

// The two users most engine tests start from: alice and bob are friends;
// nobody is connected yet.
class AliceAndBob : public EngineHarness {
 public:
  explicit AliceAndBob(EngineOptions options = Generous()) : EngineHarness(std::move(options)) {
    AddUsers({"alice", "bob"});
    Befriend("alice", "bob");
  }
};

// alice and bob are friends; alice's phone and bob's phone connected
// together and are online (welcomed, synced).
class BothOnline : public AliceAndBob {
 public:
  explicit BothOnline(EngineOptions options = Generous())
      : AliceAndBob(std::move(options)), alice(Connect("alice", "phone")),
        bob(Connect("bob", "phone")) {
    Run();
  }

  Device alice;  // alice's phone
  Device bob;    // bob's phone
};

// alice and bob are friends; alice's phone is online and sent bob `n`
// messages (cids c0 .., each with `body`) while no device of bob's was
// connected: bob's inbox holds 1..n, committed.
class BobHasMessages : public AliceAndBob {
 public:
  explicit BobHasMessages(int n, EngineOptions options = Generous(),
                          const std::string& body = "m")
      : AliceAndBob(std::move(options)), alice(Online("alice")) {
    alice.SendMany("bob", n, body);
    Run();
  }
  // bob's phone comes online, acks 1..`seq` and goes away: his stored
  // cursor is `seq`.
  void BobsPhoneAckedAndLeft(Seq seq) {
    Device phone = Online("bob");
    Ack(phone, seq);
    Disconnect(phone);
  }

  Device alice;  // alice's phone
};

}  // namespace courier::testing

#endif  // COURIER_TESTS_CORE_ENGINE_HARNESS_H_
