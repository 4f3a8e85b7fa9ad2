// tests/support/engine_rig.h: the engine as the randomized tests drive it
// (tests/core/model_test.cc and tests/fuzz/fuzz_engine.cc), and a device as
// they model it.
//
// EngineRig: users who are all friends of each other (in-memory accounts and
// presence, a ManualClock), and one engine incarnation at a time over a
// long-lived message store, behind the body cipher and a FaultInjectingStore,
// its commits and deliveries queued on one ManualExecutor. Stop() is a crash:
// the engine goes with its queues, the store keeps what it committed; Start()
// brings up the next incarnation.
//
// No Catch2 here: the fuzz targets include it too. Errors come back as
// absl::Status for the caller's own assertion.
#ifndef COURIER_TESTS_SUPPORT_ENGINE_RIG_H_
#define COURIER_TESTS_SUPPORT_ENGINE_RIG_H_

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "courier/body_cipher.h"
#include "courier/clock.h"
#include "courier/contact_policy.h"
#include "courier/engine.h"
#include "courier/executor.h"
#include "courier/memory.h"

namespace courier::testing {

// Not thread-safe: one test thread drives it.
class EngineRig {
 public:
  EngineRig()
      : accounts_(memory::OpenAccountStore()),
        presence_(memory::OpenPresenceStore(clock_)),
        contacts_(MakeFriendsOnlyPolicy(*accounts_)) {
    // No rate limit in the way, and no head polls between the test's ticks.
    options_.rate_limit.count = 1'000'000;
    options_.rate_limit.period_ms = 1000;
    options_.head_poll_ms = 1000;
  }
  EngineRig(const EngineRig&) = delete;
  EngineRig& operator=(const EngineRig&) = delete;
  ~EngineRig() { Stop(); }

  // Creates `users`, each a friend of every other.
  absl::Status AddFriends(const std::vector<UserId>& users) {
    for (const UserId& u : users) {
      if (auto s = accounts_->CreateUser(u, "h", 0); !s.ok()) return s;
    }
    for (std::size_t a = 0; a < users.size(); ++a) {
      for (std::size_t b = a + 1; b < users.size(); ++b) {
        if (auto s = accounts_->RequestFriend(users[a], users[b]); !s.ok()) return s.status();
        if (auto s = accounts_->AcceptFriend(users[b], users[a]); !s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }

  // The options of the next Start() (its clock and executors are the rig's).
  EngineOptions& options() { return options_; }

  // Starts an engine over `store`, which must outlive it (until Stop()).
  // REQUIRES: stopped.
  absl::Status Start(MessageStore& store) {
    executor_ = std::make_unique<ManualExecutor>();
    // The cipher owns its inner store; a wrapper lends it `store`, which
    // outlives engine incarnations.
    auto encrypted = OpenEncryptingStore(std::make_unique<memory::MessageStoreWrapper>(store),
                                         std::string(32, 'k'));
    if (!encrypted.ok()) return encrypted.status();
    encrypted_ = *std::move(encrypted);
    faults_ = std::make_unique<memory::FaultInjectingStore>(*encrypted_);
    options_.clock = &clock_;
    options_.commit_executor = executor_.get();
    options_.delivery_executor = executor_.get();
    auto engine = Engine::Create(
        options_, Engine::Deps{faults_.get(), presence_.get(), contacts_.get(), accounts_.get()});
    if (!engine.ok()) return engine.status();
    engine_ = *std::move(engine);
    return absl::OkStatus();
  }

  // The crash: the engine shuts down, queued work is dropped with the
  // executor. Sessions still held are closed. No-op when stopped.
  void Stop() {
    engine_.reset();
    executor_.reset();
    faults_.reset();
    encrypted_.reset();
  }

  // The store up again and failing no more calls.
  void StopFaults() {
    faults_->SetDown(false);
    faults_->FailAfter(0, 0);
  }

  // REQUIRES (all but clock()): started.
  Engine& engine() { return *engine_; }
  ManualExecutor& executor() { return *executor_; }
  memory::FaultInjectingStore& faults() { return *faults_; }
  ManualClock& clock() { return clock_; }

 private:
  ManualClock clock_;
  EngineOptions options_;
  std::unique_ptr<AccountStore> accounts_;
  std::unique_ptr<PresenceStore> presence_;
  std::unique_ptr<ContactPolicy> contacts_;
  std::unique_ptr<ManualExecutor> executor_;
  std::unique_ptr<MessageStore> encrypted_;
  std::unique_ptr<memory::FaultInjectingStore> faults_;
  std::unique_ptr<Engine> engine_;
};

// A device as the randomized tests model it: what it has stored, and what it
// got on its current connection (the test checks each frame as it reads it).
struct ModelDevice {
  UserId user;
  DeviceId device;
  std::shared_ptr<Session> session;  // null while disconnected
  std::shared_ptr<memory::RecordingTransport> transport;
  std::map<Seq, Event> local;  // what the device has stored
  // The device lost its local state: until a connection brings it up to date
  // it asks with `since` = what it has, as a real client does.
  bool needs_since = false;
  // Per connection:
  std::optional<Seq> since;
  bool welcomed = false;
  int synced = 0;
  Seq next = 0;  // the seq the next event must carry
  Seq head_at_welcome = 0;
  Seq received = 0;  // highest seq received on this connection
  Seq acked = 0;     // highest seq acked on this connection

  // The highest seq up to which the device has every event.
  Seq Contiguous() const {
    Seq c = 0;
    while (local.contains(c + 1)) ++c;
    return c;
  }

  // Connects to `engine` over a new transport. `pick`, a random number,
  // chooses the `since` it asks with: 0 for pick 0 (the device lost its
  // state: it forgets what it has, and needs `since` from now on), what it
  // has without a gap when it needs `since` or for pick 1 when it has
  // something, else none (the server's cursor).
  absl::Status Connect(Engine& engine, unsigned pick) {
    std::optional<Seq> ask;
    if (pick == 0) {
      ask = 0;
      local.clear();
      needs_since = true;
    } else if (needs_since || (pick == 1 && !local.empty())) {
      ask = Contiguous();
    }
    transport = std::make_shared<memory::RecordingTransport>();
    auto s = engine.Connect(user, device, ask, transport);
    if (!s.ok()) return s.status();
    session = *std::move(s);
    since = ask;
    welcomed = false;
    synced = 0;
    received = 0;
    acked = 0;
    return absl::OkStatus();
  }

  // Acks up to `upto` on this connection. REQUIRES: connected.
  void AckUpTo(Seq upto) {
    session->Ack(upto);
    acked = std::max(acked, upto);
  }

  // The ids of the messages it has stored that `pick()` picks; `pick` is
  // called once per message, in seq order.
  template <class Pick>
  std::vector<MessageId> MessagesPicked(Pick pick) const {
    std::vector<MessageId> ids;
    for (const auto& [seq, e] : local) {
      if (e.kind == EventKind::kMessage && pick()) ids.push_back(e.id);
    }
    return ids;
  }

  // Acks every event it has without a gap, when that is more than it acked
  // on this connection (also what it had before the connection started
  // from `since`). Returns whether it acked. REQUIRES: connected.
  bool AckWhatItHas() {
    const Seq c = Contiguous();
    if (c <= acked) return false;
    AckUpTo(c);
    return true;
  }

  // Lets the connection go (its frames already read).
  void Forget() {
    session.reset();
    transport.reset();
  }

  // When the engine closed the connection (replaced, store unavailable at
  // attach): the device hangs up and lets it go (its frames already read).
  void ForgetIfClosed() {
    if (transport == nullptr || !transport->closed() || session == nullptr) return;
    session->Disconnect();
    Forget();
  }
};

}  // namespace courier::testing

#endif  // COURIER_TESTS_SUPPORT_ENGINE_RIG_H_
