// core_bench: Google Benchmark of the core's paths (BENCH.md), no sockets.
//
// Each workload is written once, as a template over a backend, and
// registered for every backend (STYLE.md item 20):
//   BM_Write_<backend>/B        one MessageStore::Write of B appends (the
//                               group commit of B sends in one transaction)
//   BM_Append_<backend>         sends through the engine: 64 sessions send
//                               1,024 messages, the commit queue groups them;
//                               done when every `sent` arrived
//   BM_Drain10k_<backend>       a device connects to an inbox of 10,000
//                               events and receives them all, acking as it
//                               goes (window 256, pages of 512)
//   BM_PresenceLookup_<backend>/N  Lookup of N users (Redis pipelines them)
// Backends: Memory; Sqlite_PowerLoss and Sqlite_ProcessCrash (courier::sqlite
// durability kPowerLoss / kProcessCrash, in a temporary directory); Redis
// presence only when COURIER_BENCH_REDIS_URL is set (redis://host:port).
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "absl/strings/str_cat.h"
#include "courier/clock.h"
#include "courier/contact_policy.h"
#include "courier/engine.h"
#include "courier/memory.h"
#include "courier/transport.h"
#if defined(COURIER_BENCH_WITH_SQLITE)
#include "courier/sqlite.h"
#endif
#if defined(COURIER_BENCH_WITH_REDIS)
#include "courier/redis.h"
#endif

namespace courier::bench {
namespace {

// --- backends: each makes a fresh, empty MessageStore.

struct TempDir {
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "courier-bench-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
  std::string path;
};

struct MemoryBackend {
  std::unique_ptr<MessageStore> Open() { return memory::OpenMessageStore(); }
};

#if defined(COURIER_BENCH_WITH_SQLITE)
template <sqlite::SqliteOptions::Durability D>
struct SqliteBackend {
  TempDir dir;
  int n = 0;
  std::unique_ptr<MessageStore> Open() {
    sqlite::SqliteOptions o = sqlite::SqliteOptions::Durable(absl::StrCat(dir.path, "/s", n++, ".db"));
    o.durability = D;
    auto store = sqlite::OpenMessageStore(o);
    if (!store.ok()) std::abort();
    return *std::move(store);
  }
};
using SqlitePowerLoss = SqliteBackend<sqlite::SqliteOptions::Durability::kPowerLoss>;
using SqliteProcessCrash = SqliteBackend<sqlite::SqliteOptions::Durability::kProcessCrash>;
#endif

const std::string kBody(100, 'x');

AppendOp MakeAppend(const std::string& from, const std::string& to, std::uint64_t n) {
  AppendOp op;
  op.sender = from;
  op.cid = absl::StrCat("c", n);
  op.recipient = to;
  op.id = absl::StrCat("m", n);
  op.body = kBody;
  op.ts = 1;
  op.max_undelivered = 1'000'000'000;
  return op;
}

// --- BM_Write: one transaction of B appends.
template <class Backend>
void BM_Write(benchmark::State& state) {
  Backend backend;
  std::unique_ptr<MessageStore> store = backend.Open();
  const std::size_t batch = static_cast<std::size_t>(state.range(0));
  std::uint64_t n = 0;
  std::vector<WriteOp> ops(batch);
  for (auto _ : state) {
    state.PauseTiming();
    for (std::size_t i = 0; i < batch; ++i) {
      ops[i] = MakeAppend(absl::StrCat("s", i % 16), absl::StrCat("r", i % 64), n++);
    }
    state.ResumeTiming();
    auto results = store->Write(ops);
    benchmark::DoNotOptimize(results);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
}

// --- a transport that counts frames and lets a waiter see them.
class CountingTransport final : public Transport {
 public:
  void Send(std::vector<ServerFrame> frames) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const ServerFrame& f : frames) {
      if (std::holds_alternative<SentFrame>(f)) ++sent_;
      if (const auto* e = std::get_if<EventFrame>(&f)) {
        ++events_;
        last_seq_ = std::max(last_seq_, e->event.seq);
      }
      if (std::holds_alternative<ErrorFrame>(f)) ++errors_;
    }
    cv_.notify_all();
  }
  void Close(CloseCode, std::string_view) override {}

  // Waits until `pred` holds; returns the last event seq seen.
  template <class Pred>
  std::uint64_t Wait(Pred pred) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return pred(sent_, events_, errors_); });
    return last_seq_;
  }
  // Waits for more events than `seen` (or `total`); returns the last seq.
  std::uint64_t WaitEvents(std::uint64_t seen, std::uint64_t& events) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return events_ > seen; });
    events = events_;
    return last_seq_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t sent_ = 0, events_ = 0, errors_ = 0;
  std::uint64_t last_seq_ = 0;
};

struct EngineRig {
  std::unique_ptr<MessageStore> store;
  std::unique_ptr<PresenceStore> presence = memory::OpenPresenceStore(SystemClock());
  std::unique_ptr<ContactPolicy> contacts = MakeOpenPolicy();
  std::unique_ptr<Engine> engine;

  explicit EngineRig(std::unique_ptr<MessageStore> s) : store(std::move(s)) {
    EngineOptions o;
    o.rate_limit.count = 1'000'000'000;
    o.rate_limit.period_ms = 1000;
    o.limits.max_undelivered = 1'000'000'000;
    o.head_poll_ms = 0;
    auto e = Engine::Create(o, Engine::Deps{store.get(), presence.get(), contacts.get(), nullptr});
    if (!e.ok()) std::abort();
    engine = *std::move(e);
  }
  ~EngineRig() { engine->Shutdown(); }
};

// --- BM_Append: sends through the engine, grouped by the commit queue.
template <class Backend>
void BM_Append(benchmark::State& state) {
  Backend backend;
  EngineRig rig(backend.Open());
  constexpr int kSenders = 64;
  constexpr int kPerSender = 16;
  std::vector<std::shared_ptr<CountingTransport>> transports;
  std::vector<std::shared_ptr<Session>> sessions;
  for (int i = 0; i < kSenders; ++i) {
    transports.push_back(std::make_shared<CountingTransport>());
    auto s = rig.engine->Connect(absl::StrCat("s", i), "d", std::nullopt, transports.back());
    if (!s.ok()) std::abort();
    sessions.push_back(*s);
  }
  std::uint64_t round = 0;
  for (auto _ : state) {
    ++round;
    for (int k = 0; k < kPerSender; ++k) {
      for (int i = 0; i < kSenders; ++i) {
        sessions[i]->Send(absl::StrCat("c", round, "-", k), absl::StrCat("r", i % 8), kBody);
      }
    }
    for (auto& t : transports) {
      t->Wait([&](std::uint64_t sent, std::uint64_t, std::uint64_t errors) {
        return sent + errors >= round * kPerSender;
      });
    }
  }
  for (auto& s : sessions) s->Disconnect();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kSenders * kPerSender));
  const EngineStats st = rig.engine->stats();
  state.counters["ops_per_commit"] =
      st.commits == 0 ? 0 : static_cast<double>(st.committed_ops) / static_cast<double>(st.commits);
}

// --- BM_Drain10k: 10,000 queued events to one fresh device.
template <class Backend>
void BM_Drain10k(benchmark::State& state) {
  constexpr std::uint64_t kEvents = 10'000;
  Backend backend;
  std::unique_ptr<MessageStore> store = backend.Open();
  {
    std::vector<WriteOp> ops;
    for (std::uint64_t i = 0; i < kEvents; ++i) ops.push_back(MakeAppend("alice", "bob", i));
    auto results = store->Write(ops);
    for (auto& r : results) {
      if (!r.ok()) std::abort();
    }
  }
  EngineRig rig(std::move(store));
  int device = 0;
  for (auto _ : state) {
    auto transport = std::make_shared<CountingTransport>();
    auto session = rig.engine->Connect("bob", absl::StrCat("d", device++), std::nullopt, transport);
    if (!session.ok()) std::abort();
    std::uint64_t events = 0;
    while (events < kEvents) {
      const std::uint64_t seq = transport->WaitEvents(events, events);
      (*session)->Ack(seq);  // acks as it receives, as a device does
    }
    state.PauseTiming();
    (*session)->Disconnect();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kEvents));
}

// --- BM_PresenceLookup: N users, half of them online.
void PresenceLookup(benchmark::State& state, PresenceStore& presence) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  std::vector<UserId> users;
  for (std::size_t i = 0; i < n; ++i) {
    users.push_back(absl::StrCat("bench-user-", i));
    if (i % 2 == 0) (void)presence.Connect(users.back(), "d", "bench-node", SystemClock().NowMs());
  }
  for (auto _ : state) {
    auto result = presence.Lookup(users);
    if (!result.ok()) {
      state.SkipWithError("lookup failed");
      break;
    }
    benchmark::DoNotOptimize(result);
  }
  for (std::size_t i = 0; i < n; i += 2) {
    (void)presence.Disconnect(users[i], "d", "bench-node", SystemClock().NowMs());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

void BM_PresenceLookup_Memory(benchmark::State& state) {
  auto presence = memory::OpenPresenceStore(SystemClock());
  PresenceLookup(state, *presence);
}

#define COURIER_BENCH_BACKEND(NAME, TYPE)                                                     \
  BENCHMARK_TEMPLATE(BM_Write, TYPE)->Name("BM_Write_" NAME)->Arg(1)->Arg(64)->Arg(512);    \
  BENCHMARK_TEMPLATE(BM_Append, TYPE)->Name("BM_Append_" NAME)->UseRealTime();              \
  BENCHMARK_TEMPLATE(BM_Drain10k, TYPE)->Name("BM_Drain10k_" NAME)->UseRealTime()->Unit(   \
      benchmark::kMillisecond);

COURIER_BENCH_BACKEND("Memory", MemoryBackend)
#if defined(COURIER_BENCH_WITH_SQLITE)
COURIER_BENCH_BACKEND("Sqlite_PowerLoss", SqlitePowerLoss)
COURIER_BENCH_BACKEND("Sqlite_ProcessCrash", SqliteProcessCrash)
#endif
BENCHMARK(BM_PresenceLookup_Memory)->Arg(1)->Arg(100);

}  // namespace
}  // namespace courier::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::unique_ptr<courier::PresenceStore> redis;
#if defined(COURIER_BENCH_WITH_REDIS)
  if (const char* url = std::getenv("COURIER_BENCH_REDIS_URL"); url != nullptr && *url != '\0') {
    auto options = courier::redis::RedisOptionsFromUrl(url);
    if (options.ok()) {
      auto store = courier::redis::OpenPresenceStore(*options, courier::SystemClock());
      if (store.ok()) redis = *std::move(store);
    }
    if (redis == nullptr) {
      std::fprintf(stderr, "core_bench: cannot open Redis at %s; BM_PresenceLookup_Redis off\n", url);
    } else {
      benchmark::RegisterBenchmark("BM_PresenceLookup_Redis",
                                   [&redis](benchmark::State& state) {
                                     courier::bench::PresenceLookup(state, *redis);
                                   })
          ->Arg(1)
          ->Arg(100)
          ->UseRealTime();
    }
  } else {
    std::fprintf(stderr, "core_bench: COURIER_BENCH_REDIS_URL unset; BM_PresenceLookup_Redis off\n");
  }
#endif
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
