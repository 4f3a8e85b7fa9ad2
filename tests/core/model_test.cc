// The randomized model test: thousands of seeded random schedules of sends,
// connects, disconnects with and without acks, reads, duplicate sends, store
// faults and crashes (the engine dropped with its queues, the store reopened),
// each checked against the guarantees of courier/engine.h:
//  * within a connection a device gets events in seq order with no gap,
//    starting right after its cursor (or `since`);
//  * no seq of an inbox ever carries two different events;
//  * every message that got `sent` is in its recipient's inbox exactly once
//    and reaches every device of the recipient;
//  * a repeated cid answers the first id;
//  * each status step yields exactly one receipt, delivered before read.
// A failing schedule prints its seed; replay it with COURIER_MODEL_SEED=<n>.
// COURIER_MODEL_SEEDS=<n> sets how many schedules run (default 10000 for the
// memory store, a tenth of that for SQLite).
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>

#include "courier/body_cipher.h"
#include "courier/contact_policy.h"
#include "courier/engine.h"
#include "courier/executor.h"
#include "courier/memory.h"
#include "support/status_matchers.h"
#ifdef COURIER_HAVE_SQLITE
#include "courier/sqlite.h"
#endif
#ifdef COURIER_HAVE_ROCKSDB
#include "courier/rocksdb.h"
#endif

namespace courier::testing {
namespace {

std::string Describe(const Event& e) {
  return "seq=" + std::to_string(e.seq) + " kind=" + std::to_string(int(e.kind)) + " id=" + e.id +
         " peer=" + e.peer + " body=" + e.body + " status=" + std::to_string(int(e.status)) +
         " ts=" + std::to_string(e.ts);
}

// Opens the store under test; Reopen() is the crash: everything not
// committed is gone, everything committed must still be there.
class StoreUnderTest {
 public:
  virtual ~StoreUnderTest() = default;
  virtual MessageStore& store() = 0;
  virtual void Reopen() = 0;
};

class MemoryUnderTest final : public StoreUnderTest {
 public:
  MemoryUnderTest() : store_(memory::OpenMessageStore()) {}
  MessageStore& store() override { return *store_; }
  void Reopen() override {}  // the memory store stands for a durable one

 private:
  std::unique_ptr<MessageStore> store_;
};

// A store on files in its own temp dir; Reopen() closes it and opens it
// again on the same files with `open(dir)`.
class DirStoreUnderTest final : public StoreUnderTest {
 public:
  using Opener =
      std::function<absl::StatusOr<std::unique_ptr<MessageStore>>(const std::filesystem::path&)>;
  DirStoreUnderTest(std::string name, std::uint64_t seed, Opener open) : open_(std::move(open)) {
    dir_ = std::filesystem::temp_directory_path() /
           ("courier-model-" + name + "-" + std::to_string(::getpid()) + "-" +
            std::to_string(seed));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Reopen();
  }
  ~DirStoreUnderTest() override {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  MessageStore& store() override { return *store_; }
  void Reopen() override {
    store_.reset();
    auto s = open_(dir_);
    COURIER_REQUIRE_OK(s);
    store_ = *std::move(s);
  }

 private:
  Opener open_;
  std::filesystem::path dir_;
  std::unique_ptr<MessageStore> store_;
};

struct ModelDevice {
  UserId user;
  DeviceId device;
  std::shared_ptr<Session> session;
  std::shared_ptr<memory::RecordingTransport> transport;
  std::map<Seq, Event> local;  // what the device has stored
  // Per connection:
  bool welcomed = false;
  Seq next = 0;          // the seq the next event must carry
  Seq head_at_welcome = 0;
  int synced = 0;
  Seq received = 0;      // highest seq received on this connection
  Seq acked_sent = 0;    // highest seq acked on this connection
  std::optional<Seq> since;
  // The device lost its local state: until a connection brings it up to date
  // it asks with `since` = what it has, as a real client does.
  bool needs_since = false;
};

struct SendRecord {
  UserId from;
  UserId to;
  std::string body;
  std::optional<MessageId> id;  // once acknowledged
};

class Model {
 public:
  Model(std::uint64_t seed, StoreUnderTest& sut) : rng_(seed), sut_(sut) {
    accounts_ = memory::OpenAccountStore();
    presence_ = memory::OpenPresenceStore(clock_);
    contacts_ = MakeFriendsOnlyPolicy(*accounts_);
    const int users = 2 + static_cast<int>(rng_() % 3);
    for (int u = 0; u < users; ++u) users_.push_back("u" + std::to_string(u));
    for (const auto& u : users_) COURIER_REQUIRE_OK(accounts_->CreateUser(u, "h", 0));
    for (std::size_t a = 0; a < users_.size(); ++a) {
      for (std::size_t b = a + 1; b < users_.size(); ++b) {
        REQUIRE(accounts_->RequestFriend(users_[a], users_[b]).ok());
        COURIER_REQUIRE_OK(accounts_->AcceptFriend(users_[b], users_[a]));
      }
    }
    for (const auto& u : users_) {
      const int devices = 1 + static_cast<int>(rng_() % 2);
      for (int d = 0; d < devices; ++d) {
        ModelDevice md;
        md.user = u;
        md.device = "d" + std::to_string(d);
        devices_.push_back(std::move(md));
      }
    }
    options_.limits.window = 1 + rng_() % 6;
    options_.limits.fetch_page = 1 + rng_() % 4;
    options_.rate_limit.count = 1'000'000;
    options_.rate_limit.period_ms = 1000;
    options_.head_poll_ms = 1000;
    options_.max_batch_ops = 1 + rng_() % 8;
    StartEngine();
  }

  ~Model() { StopEngine(); }

  void Step() {
    const int r = static_cast<int>(rng_() % 100);
    if (r < 12) {
      Connect(Pick(Disconnected()));
    } else if (r < 18) {
      Disconnect(Pick(Connected()));
    } else if (r < 40) {
      Send(Pick(Connected()));
    } else if (r < 52) {
      Ack(Pick(Connected()));
    } else if (r < 58) {
      Read(Pick(Connected()));
    } else if (r < 88) {
      RunSome();
    } else if (r < 92) {
      Faults();
    } else if (r < 94) {
      Crash();
    } else {
      clock_.Advance(static_cast<TimeMs>(rng_() % 1500));
      engine_->Tick();
    }
    DrainAll();
  }

  // Stops faults, connects every device and lets everything settle.
  void Quiesce() {
    faults_->SetDown(false);
    faults_->FailAfter(0, 0);
    RunAll();
    for (auto& d : devices_) {
      if (d.session != nullptr) Disconnect(&d);
    }
    RunAll();
    for (auto& d : devices_) Connect(&d);
    for (int round = 0; round < 10000; ++round) {
      RunAll();
      bool moved = false;
      for (auto& d : devices_) {
        if (d.session == nullptr) continue;
        // A device acks what it has stored (also what it had before this
        // connection started from `since`).
        Seq contiguous = 0;
        while (d.local.contains(contiguous + 1)) ++contiguous;
        if (contiguous > d.acked_sent) {
          d.session->Ack(contiguous);
          d.acked_sent = contiguous;
          moved = true;
        }
      }
      if (!moved && executor_->pending() == 0) break;
    }
    RunAll();
  }

  void Check() {
    // Every device has every event of its user's inbox, no gaps.
    for (auto& d : devices_) {
      std::string keys;
      for (const auto& [k, v] : d.local) keys += std::to_string(k) + ",";
      INFO("device " << d.user << "/" << d.device << " local " << keys << " connected "
                     << (d.session != nullptr) << " received " << d.received << " acked "
                     << d.acked_sent << " needs_since " << d.needs_since << " welcomed "
                     << d.welcomed << " state "
                     << (d.session ? int(d.session->state()) : -1));
      auto head = sut_.store().Head(d.user);
      COURIER_REQUIRE_OK(head);
      CHECK(d.synced == 1);
      REQUIRE(d.local.size() == *head);
      Seq expect = 1;
      for (const auto& [seq, e] : d.local) {
        REQUIRE(seq == expect);
        ++expect;
        CHECK(inbox_[d.user].at(seq) == e);
      }
    }
    // Every acknowledged message is in its recipient's inbox exactly once;
    // every message there was sent by someone.
    // Messages stored without their sender hearing `sent` (it disconnected
    // or the engine crashed first) are legitimate: find their send by body.
    std::map<MessageId, int> occurrences;
    std::map<MessageId, SendRecord> stored;
    for (const auto& [user, events] : inbox_) {
      for (const auto& [seq, e] : events) {
        if (e.kind != EventKind::kMessage) continue;
        ++occurrences[e.id];
        auto it = by_body_.find(e.body);
        REQUIRE(it != by_body_.end());  // every stored message was sent by someone
        CHECK(it->second.to == user);
        CHECK(it->second.from == e.peer);
        stored[e.id] = it->second;
        if (by_id_.contains(e.id)) CHECK(by_id_.at(e.id).body == e.body);
      }
    }
    std::map<std::pair<MessageId, MessageStatus>, std::vector<Seq>> receipts;
    for (const auto& [user, events] : inbox_) {
      for (const auto& [seq, e] : events) {
        if (e.kind != EventKind::kReceipt) continue;
        receipts[{e.id, e.status}].push_back(seq);
        auto it = stored.find(e.id);
        REQUIRE(it != stored.end());  // a receipt is about a stored message
        CHECK(it->second.from == user);
        CHECK(it->second.to == e.peer);
      }
    }
    for (const auto& [id, rec] : by_id_) {
      if (!acknowledged_.contains(id)) continue;
      INFO("message " << id);
      CHECK(occurrences[id] == 1);
    }
    for (const auto& [id, n] : occurrences) {
      INFO("message " << id);
      CHECK(n == 1);
      const SendRecord& rec = stored.at(id);
      auto status = sut_.store().Status(rec.to, id);
      COURIER_REQUIRE_OK(status);
      // Quiesce acked everything: all delivered, exactly one receipt.
      CHECK(*status != MessageStatus::kSent);
      const auto& delivered = receipts[{id, MessageStatus::kDelivered}];
      CHECK(delivered.size() == 1);
      const auto& read = receipts[{id, MessageStatus::kRead}];
      if (*status == MessageStatus::kRead) {
        REQUIRE(read.size() == 1);
        REQUIRE(delivered.size() == 1);
        CHECK(delivered[0] < read[0]);
      } else {
        CHECK(read.empty());
      }
    }
    messages_ += occurrences.size();
  }

  std::size_t messages() const { return messages_; }

 private:
  template <typename T>
  T* Pick(std::vector<T*> v) {
    if (v.empty()) return nullptr;
    return v[rng_() % v.size()];
  }
  std::vector<ModelDevice*> Connected() {
    std::vector<ModelDevice*> v;
    for (auto& d : devices_) {
      if (d.session != nullptr) v.push_back(&d);
    }
    return v;
  }
  std::vector<ModelDevice*> Disconnected() {
    std::vector<ModelDevice*> v;
    for (auto& d : devices_) {
      if (d.session == nullptr) v.push_back(&d);
    }
    return v;
  }

  void StartEngine() {
    executor_ = std::make_unique<ManualExecutor>();
    auto encrypted = OpenEncryptingStore(std::unique_ptr<MessageStore>(new Forward(sut_.store())),
                                         std::string(32, 'k'));
    COURIER_REQUIRE_OK(encrypted);
    encrypted_ = *std::move(encrypted);
    faults_ = std::make_unique<memory::FaultInjectingStore>(*encrypted_);
    options_.clock = &clock_;
    options_.commit_executor = executor_.get();
    options_.delivery_executor = executor_.get();
    auto engine = Engine::Create(
        options_, Engine::Deps{faults_.get(), presence_.get(), contacts_.get(), accounts_.get()});
    COURIER_REQUIRE_OK(engine);
    engine_ = *std::move(engine);
  }

  void StopEngine() {
    engine_.reset();    // Shutdown; queued work is dropped with the executor
    executor_.reset();
    faults_.reset();
    encrypted_.reset();
  }

  void Crash() {
    StopEngine();
    for (auto& d : devices_) {
      if (d.session != nullptr) EndConnection(d);
    }
    sut_.Reopen();
    StartEngine();
  }

  void Connect(ModelDevice* d) {
    if (d == nullptr) return;
    std::optional<Seq> since;
    const int r = static_cast<int>(rng_() % 10);
    if (r == 0) {
      since = 0;
      d->local.clear();  // the device lost its state and asks from 0
      d->needs_since = true;
    } else if (d->needs_since || (r == 1 && !d->local.empty())) {
      Seq contiguous = 0;
      while (d->local.contains(contiguous + 1)) ++contiguous;
      since = contiguous;
    }
    d->transport = std::make_shared<memory::RecordingTransport>();
    auto session = engine_->Connect(d->user, d->device, since, d->transport);
    COURIER_REQUIRE_OK(session);
    d->session = *session;
    d->welcomed = false;
    d->synced = 0;
    d->received = 0;
    d->acked_sent = 0;
    d->since = since;
  }

  void EndConnection(ModelDevice& d) {
    Drain(d);
    d.session.reset();
    d.transport.reset();
  }

  void Disconnect(ModelDevice* d) {
    if (d == nullptr) return;
    d->session->Disconnect();
    EndConnection(*d);
  }

  void Send(ModelDevice* d) {
    if (d == nullptr) return;
    std::vector<UserId> others;
    for (const auto& u : users_) {
      if (u != d->user) others.push_back(u);
    }
    const UserId to = others[rng_() % others.size()];
    auto& mine = cids_[d->user];
    if (!mine.empty() && rng_() % 5 == 0) {
      // Retry an earlier cid with its original body and recipient.
      auto it = mine.begin();
      std::advance(it, static_cast<long>(rng_() % mine.size()));
      d->session->Send(it->first, it->second.to, it->second.body);
      return;
    }
    const std::string cid = "c" + std::to_string(next_cid_++);
    const std::string body = "body " + cid + " from " + d->user;
    mine[cid] = SendRecord{d->user, to, body, std::nullopt};
    by_body_[body] = mine[cid];
    d->session->Send(cid, to, body);
  }

  void Ack(ModelDevice* d) {
    if (d == nullptr || d->received == 0) return;
    Seq upto = d->received;
    if (rng_() % 3 == 0) upto = 1 + rng_() % d->received;
    d->session->Ack(upto);
    d->acked_sent = std::max(d->acked_sent, upto);
  }

  void Read(ModelDevice* d) {
    if (d == nullptr) return;
    std::vector<MessageId> ids;
    for (const auto& [seq, e] : d->local) {
      if (e.kind == EventKind::kMessage && rng_() % 2 == 0) ids.push_back(e.id);
    }
    if (ids.empty()) return;
    if (rng_() % 4 == 0) ids.push_back("not-a-message");
    d->session->Read(std::move(ids));
  }

  void RunSome() {
    const int n = 1 + static_cast<int>(rng_() % 6);
    for (int i = 0; i < n; ++i) {
      if (!executor_->RunOne(rng_())) break;
    }
  }

  void RunAll() {
    executor_->RunAll();
    DrainAll();
  }

  void Faults() {
    switch (rng_() % 3) {
      case 0:
        faults_->SetDown(true);
        break;
      case 1:
        faults_->SetDown(false);
        break;
      default:
        faults_->FailAfter(rng_() % 4, 1);
        break;
    }
  }

  void DrainAll() {
    for (auto& d : devices_) {
      if (d.transport != nullptr) {
        Drain(d);
        if (d.transport->closed() && d.session != nullptr) {
          // The engine closed it (replaced, store unavailable at attach).
          d.session->Disconnect();
          d.session.reset();
          d.transport.reset();
        }
      }
    }
  }

  void Drain(ModelDevice& d) {
    if (d.transport == nullptr) return;
    INFO("device " << d.user << "/" << d.device);
    for (ServerFrame& f : d.transport->Take()) {
      if (auto* w = std::get_if<WelcomeFrame>(&f)) {
        REQUIRE_FALSE(d.welcomed);
        d.welcomed = true;
        CHECK(w->cursor <= w->head);
        const Seq start = d.since.has_value() ? std::min(*d.since, w->head) : w->cursor;
        d.next = start + 1;
        d.head_at_welcome = w->head;
      } else if (auto* e = std::get_if<EventFrame>(&f)) {
        REQUIRE(d.welcomed);
        // In order with no gap, except that events the device acked
        // beforehand (it had them from an earlier connection) are skipped.
        REQUIRE(e->event.seq >= d.next);
        if (e->event.seq != d.next) REQUIRE(e->event.seq - 1 <= d.acked_sent);
        d.next = e->event.seq + 1;
        d.received = e->event.seq;
        auto [it, fresh] = inbox_[d.user].emplace(e->event.seq, e->event);
        if (!fresh) {
          INFO("first " << Describe(it->second) << "\nnow   " << Describe(e->event));
          REQUIRE(it->second == e->event);  // one content per seq
        }
        d.local[e->event.seq] = e->event;
      } else if (auto* s = std::get_if<SyncedFrame>(&f)) {
        REQUIRE(d.welcomed);
        CHECK(d.synced == 0);
        ++d.synced;
        d.needs_since = false;
        CHECK(s->seq == d.head_at_welcome);
        CHECK(std::max(d.next - 1, d.acked_sent) >= d.head_at_welcome);
      } else if (auto* sent = std::get_if<SentFrame>(&f)) {
        auto& rec = cids_[d.user].at(sent->cid);
        if (rec.id.has_value()) {
          CHECK(*rec.id == sent->id);  // a repeated cid answers the first id
        } else {
          // duplicate may be true: an earlier send was stored but its `sent`
          // never arrived (disconnect, crash); the id is the stored one.
          rec.id = sent->id;
          by_id_[sent->id] = rec;
        }
        acknowledged_.insert(sent->id);
      } else if (auto* err = std::get_if<ErrorFrame>(&f)) {
        INFO("error " << ErrorCodeName(err->code) << ": " << err->message);
        CHECK((err->code == ErrorCode::kUnavailable));
      }
    }
  }

  // Forwards to the store under test, which outlives engine incarnations.
  class Forward final : public MessageStore {
   public:
    explicit Forward(MessageStore& s) : s_(s) {}
    std::vector<absl::StatusOr<WriteResult>> Write(absl::Span<const WriteOp> ops) override {
      return s_.Write(ops);
    }
    absl::StatusOr<std::vector<Event>> Fetch(const UserId& u, Seq a, std::size_t l) override {
      return s_.Fetch(u, a, l);
    }
    absl::StatusOr<Seq> Head(const UserId& u) override { return s_.Head(u); }
    absl::StatusOr<Seq> Cursor(const UserId& u, const DeviceId& d) override {
      return s_.Cursor(u, d);
    }
    absl::StatusOr<MessageStatus> Status(const UserId& r, const MessageId& id) override {
      return s_.Status(r, id);
    }
    absl::StatusOr<std::size_t> Prune(const PruneOptions& o) override { return s_.Prune(o); }
    absl::StatusOr<std::size_t> DeleteInbox(const UserId& u) override {
      return s_.DeleteInbox(u);
    }
    absl::Status Ping() override { return s_.Ping(); }

   private:
    MessageStore& s_;
  };

  std::mt19937_64 rng_;
  StoreUnderTest& sut_;
  ManualClock clock_;
  EngineOptions options_;
  std::unique_ptr<AccountStore> accounts_;
  std::unique_ptr<PresenceStore> presence_;
  std::unique_ptr<ContactPolicy> contacts_;
  std::unique_ptr<ManualExecutor> executor_;
  std::unique_ptr<MessageStore> encrypted_;
  std::unique_ptr<memory::FaultInjectingStore> faults_;
  std::unique_ptr<Engine> engine_;
  std::vector<UserId> users_;
  std::vector<ModelDevice> devices_;
  std::map<UserId, std::map<std::string, SendRecord>> cids_;
  std::map<MessageId, SendRecord> by_id_;
  std::map<std::string, SendRecord> by_body_;
  std::set<MessageId> acknowledged_;
  std::map<UserId, std::map<Seq, Event>> inbox_;  // every event any device saw
  std::uint64_t next_cid_ = 0;
  std::size_t messages_ = 0;
};

std::uint64_t EnvOr(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v == nullptr ? fallback : std::strtoull(v, nullptr, 10);
}

template <typename MakeStore>
void RunSchedules(const char* name, std::uint64_t default_seeds, MakeStore make) {
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t first = 1, count = EnvOr("COURIER_MODEL_SEEDS", default_seeds);
  if (const char* one = std::getenv("COURIER_MODEL_SEED")) {
    first = std::strtoull(one, nullptr, 10);
    count = 1;
  }
  const int steps = static_cast<int>(EnvOr("COURIER_MODEL_STEPS", 250));
  std::size_t messages = 0;
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    INFO("failing schedule: replay with COURIER_MODEL_SEED=" << seed);
    auto sut = make(seed);
    Model model(seed, *sut);
    for (int i = 0; i < steps; ++i) model.Step();
    model.Quiesce();
    model.Check();
    messages += model.messages();
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "model test [" << name << "]: " << count << " schedules x " << steps
            << " steps, " << messages << " messages checked, " << secs << " s\n";
}

TEST_CASE("Model: random schedules keep every guarantee (memory store)", "[model]") {
  RunSchedules("memory", 10000, [](std::uint64_t) { return std::make_unique<MemoryUnderTest>(); });
}

#ifdef COURIER_HAVE_SQLITE
TEST_CASE("Model: random schedules keep every guarantee across SQLite reopen", "[model][sqlite]") {
  RunSchedules("sqlite", 1000, [](std::uint64_t seed) {
    return std::make_unique<DirStoreUnderTest>("sqlite", seed, [](const std::filesystem::path& d) {
      sqlite::SqliteOptions o = sqlite::SqliteOptions::Fast((d / "model.db").string());
      return sqlite::OpenMessageStore(o);
    });
  });
}
#endif

#ifdef COURIER_HAVE_ROCKSDB
TEST_CASE("Model: random schedules keep every guarantee across RocksDB reopen",
          "[model][rocksdb]") {
  // 300 by default: a RocksDB reopen costs some 25 fsyncs (MANIFEST, OPTIONS,
  // WAL), several times a SQLite reopen.
  RunSchedules("rocksdb", 300, [](std::uint64_t seed) {
    return std::make_unique<DirStoreUnderTest>("rocksdb", seed, [](const std::filesystem::path& d) {
      rocksdb::RocksdbOptions o = rocksdb::RocksdbOptions::Fast((d / "db").string());
      o.write_buffer_bytes = 1 << 20;
      return rocksdb::OpenMessageStore(o);
    });
  });
}
#endif

}  // namespace
}  // namespace courier::testing
