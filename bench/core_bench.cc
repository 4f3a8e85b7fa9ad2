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
//   BM_DrainBacklog_<backend>   one inbox of 65,536 messages fetched 256 at
//                               a time, each page acked after its Fetch
//                               (W2's drain without the engine)
//   BM_W1Mix_<backend>          W1's store traffic without the server: 200
//                               pairs, one message per pair per batch; a
//                               batch (one Write) holds each pair's append,
//                               the recipient's ack of the previous batch's
//                               message (delivered: a receipt in the
//                               sender's inbox) and the sender's ack of the
//                               receipt before that; 500 batches, 100,000
//                               messages, as W1
//   BM_GroupSend_<backend>/N    one Write of one GroupSendOp to a group of N
//                               members (issue 17): N appends, the sender's
//                               own copy included, in one transaction
//   BM_GroupReceipts_<backend>/N  the receipts of one group message from N
//                               members (a group of N + 1 with its sender):
//                               one Write of N acks and N reads, 2N receipts
//                               appended to the sender's inbox
//   BM_PresenceLookup_<backend>/N  Lookup of N users (Redis pipelines them)
// Backends: Memory; Sqlite_PowerLoss and Sqlite_ProcessCrash (courier::sqlite
// durability kPowerLoss / kProcessCrash), Rocksdb_PowerLoss and
// Rocksdb_ProcessCrash (courier::rocksdb, same two durabilities), each in a
// fresh temporary directory per benchmark run; Redis presence only when
// COURIER_BENCH_REDIS_URL is set (redis://host:port).
//
// Counters besides Google Benchmark's columns (whose CPU column is the
// benchmark thread only, while the engine and RocksDB work on threads of
// their own): cpu_us_per_item / cpu_us_per_msg is the whole process's CPU
// (every thread: engine, RocksDB flushes and compactions) while the timer
// runs, per item; bytes_written_per_msg is what the process handed to
// write(2) and friends (/proc/self/io wchar: WAL, pages, table files), and
// keys_per_msg (RocksDB) the keys written, from the database's last sequence
// number once the store is closed.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "courier/clock.h"
#include "courier/contact_policy.h"
#include "courier/engine.h"
#include "courier/group.h"
#include "courier/memory.h"
#include "courier/transport.h"
#if defined(COURIER_BENCH_WITH_SQLITE)
#include "courier/sqlite.h"
#endif
#if defined(COURIER_BENCH_WITH_ROCKSDB)
#include "courier/rocksdb.h"
#endif
#if defined(COURIER_BENCH_WITH_ROCKSDB_KEYS)
#include <rocksdb/db.h>
#include <rocksdb/options.h>
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

#if defined(COURIER_BENCH_WITH_ROCKSDB)
template <rocksdb::RocksdbOptions::Durability D>
struct RocksdbBackend {
  TempDir dir;
  int n = 0;
  std::string last_path;
  std::unique_ptr<MessageStore> Open() {
    last_path = absl::StrCat(dir.path, "/r", n++);
    rocksdb::RocksdbOptions o = rocksdb::RocksdbOptions::Durable(last_path);
    o.durability = D;
    auto store = rocksdb::OpenMessageStore(o);
    if (!store.ok()) {
      std::fprintf(stderr, "core_bench: %s\n", store.status().ToString().c_str());
      std::abort();
    }
    return *std::move(store);
  }
  // The keys ever written to the last database opened (puts, deletes and
  // range deletions each take one sequence number); call after its store was
  // destroyed. Empty when it cannot be read.
  std::optional<std::uint64_t> KeysWritten() const {
#if defined(COURIER_BENCH_WITH_ROCKSDB_KEYS)
    ::rocksdb::DBOptions db_options;
    std::vector<std::string> names;
    if (!::rocksdb::DB::ListColumnFamilies(db_options, last_path, &names).ok()) return std::nullopt;
    std::vector<::rocksdb::ColumnFamilyDescriptor> families;
    for (const std::string& name : names) families.emplace_back(name, ::rocksdb::ColumnFamilyOptions());
    std::vector<::rocksdb::ColumnFamilyHandle*> handles;
    ::rocksdb::DB* db = nullptr;
    if (!::rocksdb::DB::OpenForReadOnly(db_options, last_path, families, &handles, &db).ok()) {
      return std::nullopt;
    }
    const std::uint64_t last = db->GetLatestSequenceNumber();
    for (auto* h : handles) (void)db->DestroyColumnFamilyHandle(h);
    delete db;
    return last;
#else
    return std::nullopt;
#endif
  }
};
using RocksdbPowerLoss = RocksdbBackend<rocksdb::RocksdbOptions::Durability::kPowerLoss>;
using RocksdbProcessCrash = RocksdbBackend<rocksdb::RocksdbOptions::Durability::kProcessCrash>;
#endif

// --- measuring helpers

double CpuSeconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// The whole process's CPU time while the benchmark's timer runs: process CPU
// from Start to Stop, minus the benchmark thread's own CPU between Pause and
// Resume (other threads are counted all along: their work was caused by the
// timed part). Pause and Resume pause and resume `state`'s timer too, so the
// two always cover the same code.
class ProcessCpu {
 public:
  explicit ProcessCpu(benchmark::State& state) : state_(state) {}

  void Start() { start_ = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID); }
  void Pause() {
    state_.PauseTiming();
    paused_at_ = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
  }
  void Resume() {
    paused_ += CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - paused_at_;
    state_.ResumeTiming();
  }
  double Stop() const { return CpuSeconds(CLOCK_PROCESS_CPUTIME_ID) - start_ - paused_; }

 private:
  benchmark::State& state_;
  double start_ = 0, paused_at_ = 0, paused_ = 0;
};

// Bytes this process passed to write-like system calls (/proc/self/io wchar).
std::uint64_t BytesWritten() {
  std::ifstream in("/proc/self/io");
  std::string key;
  std::uint64_t value = 0;
  while (in >> key >> value) {
    if (key == "wchar:") return value;
  }
  return 0;
}

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
  ProcessCpu cpu(state);
  cpu.Start();
  for (auto _ : state) {
    cpu.Pause();
    for (std::size_t i = 0; i < batch; ++i) {
      ops[i] = MakeAppend(absl::StrCat("s", i % 16), absl::StrCat("r", i % 64), n++);
    }
    cpu.Resume();
    auto results = store->Write(ops);
    for (const auto& r : results) {
      if (!r.ok() || std::get<AppendResult>(*r).duplicate) {
        state.SkipWithError(r.ok() ? "duplicate append" : r.status().ToString().c_str());
        return;
      }
    }
    benchmark::DoNotOptimize(results);
  }
  const double items = static_cast<double>(state.iterations() * batch);
  state.SetItemsProcessed(static_cast<std::int64_t>(items));
  state.counters["cpu_us_per_item"] = cpu.Stop() * 1e6 / items;
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

  std::uint64_t errors() {
    std::lock_guard<std::mutex> lock(mu_);
    return errors_;
  }

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
  ProcessCpu cpu(state);
  cpu.Start();
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
  const double cpu_s = cpu.Stop();
  for (auto& s : sessions) s->Disconnect();
  for (auto& t : transports) {
    if (t->errors() != 0) {
      state.SkipWithError("a send was answered with an error");
      return;
    }
  }
  const double items = static_cast<double>(state.iterations() * kSenders * kPerSender);
  state.SetItemsProcessed(static_cast<std::int64_t>(items));
  state.counters["cpu_us_per_item"] = cpu_s * 1e6 / items;
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
  const std::uint64_t commits_before = rig.engine->stats().commits;
  ProcessCpu cpu(state);
  cpu.Start();
  for (auto _ : state) {
    auto transport = std::make_shared<CountingTransport>();
    auto session = rig.engine->Connect("bob", absl::StrCat("d", device++), std::nullopt, transport);
    if (!session.ok()) std::abort();
    std::uint64_t events = 0;
    std::uint64_t seq = 0;
    while (events < kEvents) {
      seq = transport->WaitEvents(events, events);
      (*session)->Ack(seq);  // acks as it receives, as a device does
    }
    if (events != kEvents || seq != kEvents || transport->errors() != 0) {
      state.SkipWithError(absl::StrCat("drain saw ", events, " events up to seq ", seq).c_str());
      return;
    }
    cpu.Pause();
    (*session)->Disconnect();
    cpu.Resume();
  }
  const double items = static_cast<double>(state.iterations() * kEvents);
  state.SetItemsProcessed(static_cast<std::int64_t>(items));
  state.counters["cpu_us_per_item"] = cpu.Stop() * 1e6 / items;
  // Store transactions per 1,000 drained events: the acks' commits (a
  // draining device's acks are held, device_session.h), the attaches and
  // the disconnects' held acks.
  state.counters["commits_per_1k"] =
      static_cast<double>(rig.engine->stats().commits - commits_before) * 1e3 / items;
}

// Appends `count` messages from ten senders to `user`, 1,024 a Write;
// false (and the benchmark skipped with the error) when one fails.
bool FillBacklog(MessageStore& store, const std::string& user, std::uint64_t count,
                 std::uint64_t& n, benchmark::State& state) {
  constexpr std::uint64_t kStep = 1'024;
  for (std::uint64_t done = 0; done < count; done += kStep) {
    std::vector<WriteOp> ops;
    for (std::uint64_t i = 0; i < kStep; ++i) {
      ops.push_back(MakeAppend(absl::StrCat("s", i % 10), user, n++));
    }
    for (const auto& r : store.Write(ops)) {
      if (!r.ok()) {
        state.SkipWithError(r.status().ToString().c_str());
        return false;
      }
    }
  }
  return true;
}

// --- BM_AckBacklog: the store's side of a drain's acks.
//
// One inbox per iteration gets kBacklog messages from ten senders (untimed,
// batches of kStep); then its one device acks them kStep at a time, each
// ack one Write, as W2's drain does: every ack marks kStep messages
// delivered and appends their receipts to the senders' inboxes. The backlog
// is larger than what a writer remembers per inbox (4,096 in RocksDB), so
// most acks read the messages they pass back from the database, as after a
// restart. Reports the whole process's CPU per acked message.
template <class Backend>
void BM_AckBacklog(benchmark::State& state) {
  constexpr std::uint64_t kBacklog = 65'536;
  constexpr std::uint64_t kStep = 1'024;
  Backend backend;
  std::unique_ptr<MessageStore> store = backend.Open();
  std::uint64_t n = 0;
  int inbox = 0;
  std::uint64_t receipts = 0;
  ProcessCpu cpu(state);
  cpu.Start();
  for (auto _ : state) {
    cpu.Pause();
    const std::string user = absl::StrCat("backlog", inbox++);
    if (!FillBacklog(*store, user, kBacklog, n, state)) return;
    cpu.Resume();
    for (std::uint64_t seq = kStep; seq <= kBacklog; seq += kStep) {
      std::vector<WriteOp> ops;
      ops.push_back(AckOp{user, "d", seq, 2});
      auto results = store->Write(ops);
      if (!results[0].ok()) {
        state.SkipWithError(results[0].status().ToString().c_str());
        return;
      }
      receipts += std::get<AckResult>(*results[0]).appended.size();
    }
  }
  const double items = static_cast<double>(state.iterations() * kBacklog);
  if (receipts != state.iterations() * kBacklog) {
    state.SkipWithError(absl::StrCat("acks appended ", receipts, " receipts, not ",
                                     state.iterations() * kBacklog).c_str());
    return;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(items));
  state.counters["cpu_us_per_item"] = cpu.Stop() * 1e6 / items;
}

// --- BM_DrainBacklog: the store's side of W2's drain, Fetch and acks.
//
// As BM_AckBacklog, but as the engine drains: each page of kPage events is
// fetched (a delivery thread's Fetch) before the ack that passes it (one
// Write each, the window's ack). Most messages are beyond what the writer
// remembers per inbox, so the acks find them in what Fetch just read
// (RocksDB) or read them back. Reports the whole process's CPU per message.
template <class Backend>
void BM_DrainBacklog(benchmark::State& state) {
  constexpr std::uint64_t kBacklog = 65'536;
  constexpr std::uint64_t kPage = 256;
  Backend backend;
  std::unique_ptr<MessageStore> store = backend.Open();
  std::uint64_t n = 0;
  int inbox = 0;
  std::uint64_t receipts = 0;
  ProcessCpu cpu(state);
  cpu.Start();
  for (auto _ : state) {
    cpu.Pause();
    const std::string user = absl::StrCat("drain", inbox++);
    if (!FillBacklog(*store, user, kBacklog, n, state)) return;
    cpu.Resume();
    for (std::uint64_t seq = 0; seq < kBacklog; seq += kPage) {
      auto page = store->Fetch(user, seq, kPage);
      if (!page.ok() || page->size() != kPage) {
        state.SkipWithError("a page came back short");
        return;
      }
      std::vector<WriteOp> ops;
      ops.push_back(AckOp{user, "d", seq + kPage, 2});
      auto results = store->Write(ops);
      if (!results[0].ok()) {
        state.SkipWithError(results[0].status().ToString().c_str());
        return;
      }
      receipts += std::get<AckResult>(*results[0]).appended.size();
    }
  }
  const double items = static_cast<double>(state.iterations() * kBacklog);
  if (receipts != state.iterations() * kBacklog) {
    state.SkipWithError(absl::StrCat("acks appended ", receipts, " receipts, not ",
                                     state.iterations() * kBacklog).c_str());
    return;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(items));
  state.counters["cpu_us_per_item"] = cpu.Stop() * 1e6 / items;
}

// --- BM_W1Mix: W1's store traffic, without the engine or the network.
//
// W1 (bench/README.md) costs the store three ops per message: the append to
// the recipient's inbox; the recipient device's ack of it once delivered,
// which marks it delivered and appends the delivered receipt to the sender's
// inbox; the sender device's ack of that receipt. Here 200 sender/recipient
// pairs, each with one device attached at set-up, send one message per pair
// per batch, and every batch (one Write, synced at the store's durability)
// also carries the acks the engine would have gathered by then: the
// recipients' acks of the previous batch's messages and the senders' acks of
// the receipts those produced. So after two filling batches (untimed) every
// batch holds 600 ops for 200 messages: per pair, the sender's ack, the
// recipient's ack, the append. 500 timed batches: 100,000 messages, as W1.
//
// Checked before anything is reported (SkipWithError otherwise): every op's
// result (ok, the appended seq is head + 1 and not a duplicate, an ack's
// cursor is its seq, the recipient's ack appended exactly one delivered
// receipt for that message at the sender's head + 1, the sender's ack
// appended nothing), and at the end every inbox's head and cursor, the
// status of the last acked and the last unacked message, and the sender's
// receipts as Fetch returns them.
struct W1Pair {
  UserId sender, recipient;
  Seq message_head = 0;  // the recipient's inbox: messages appended
  Seq receipt_head = 0;  // the sender's inbox: receipts appended
  Seq unacked_message = 0;  // appended, the recipient's ack goes next batch
  MessageId unacked_id;
  Seq unacked_receipt = 0;  // appended, the sender's ack goes next batch
  MessageId last_delivered_id;
};

enum class W1OpKind { kSenderAck, kRecipientAck, kAppend };

// Builds the next batch from the pairs' state; `kinds` names each op's role.
void BuildW1Batch(std::vector<W1Pair>& pairs, std::uint64_t& n, TimeMs ts, std::mt19937_64& gen,
                  std::vector<WriteOp>& ops, std::vector<std::pair<W1OpKind, std::size_t>>& kinds) {
  static const DeviceId kDevice = "d";
  ops.clear();
  kinds.clear();
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    W1Pair& p = pairs[i];
    if (p.unacked_receipt != 0) {
      ops.emplace_back(AckOp{p.sender, kDevice, p.unacked_receipt, ts});
      kinds.emplace_back(W1OpKind::kSenderAck, i);
    }
    if (p.unacked_message != 0) {
      ops.emplace_back(AckOp{p.recipient, kDevice, p.unacked_message, ts});
      kinds.emplace_back(W1OpKind::kRecipientAck, i);
    }
    AppendOp op;
    op.sender = p.sender;
    op.cid = absl::StrCat("c", n++);
    op.recipient = p.recipient;
    // As the engine's ids (engine.cc NewMessageId): time-ordered, then random.
    const std::uint64_t hi = (static_cast<std::uint64_t>(ts) << 20) | (n & 0xFFFFF);
    op.id = absl::StrFormat("%016x%016x", hi, gen());
    op.body = kBody;
    op.ts = ts;
    op.max_undelivered = 1'000'000'000;
    ops.emplace_back(std::move(op));
    kinds.emplace_back(W1OpKind::kAppend, i);
  }
}

// Checks one batch's results against the pairs' state and advances it.
std::string CheckW1Batch(std::vector<W1Pair>& pairs, const std::vector<WriteOp>& ops,
                         const std::vector<std::pair<W1OpKind, std::size_t>>& kinds,
                         const std::vector<absl::StatusOr<WriteResult>>& results) {
  if (results.size() != ops.size()) return absl::StrCat(results.size(), " results for ", ops.size(), " ops");
  for (std::size_t k = 0; k < ops.size(); ++k) {
    if (!results[k].ok()) return absl::StrCat("op ", k, ": ", results[k].status().ToString());
    W1Pair& p = pairs[kinds[k].second];
    switch (kinds[k].first) {
      case W1OpKind::kAppend: {
        const auto* r = std::get_if<AppendResult>(&*results[k]);
        const auto& op = std::get<AppendOp>(ops[k]);
        if (r == nullptr || r->duplicate || r->seq != p.message_head + 1 || r->id != op.id ||
            r->appended.size() != 1 || r->appended[0].user != p.recipient ||
            r->appended[0].event.seq != r->seq || r->appended[0].event.kind != EventKind::kMessage) {
          return absl::StrCat("append to ", p.recipient, ": unexpected result (head ", p.message_head, ")");
        }
        p.message_head = r->seq;
        p.unacked_message = r->seq;
        p.unacked_id = op.id;
        break;
      }
      case W1OpKind::kRecipientAck: {
        const auto* r = std::get_if<AckResult>(&*results[k]);
        const Seq seq = std::get<AckOp>(ops[k]).seq;
        if (r == nullptr || r->cursor != seq || r->appended.size() != 1) {
          return absl::StrCat("ack by ", p.recipient, " of ", seq, ": unexpected result");
        }
        const Appended& a = r->appended[0];
        if (a.user != p.sender || a.event.kind != EventKind::kReceipt ||
            a.event.status != MessageStatus::kDelivered || a.event.id != p.unacked_id ||
            a.event.peer != p.recipient || a.event.seq != p.receipt_head + 1) {
          return absl::StrCat("ack by ", p.recipient, " of ", seq, ": wrong receipt");
        }
        p.receipt_head = a.event.seq;
        p.unacked_receipt = a.event.seq;
        p.last_delivered_id = p.unacked_id;
        p.unacked_message = 0;
        break;
      }
      case W1OpKind::kSenderAck: {
        const auto* r = std::get_if<AckResult>(&*results[k]);
        const Seq seq = std::get<AckOp>(ops[k]).seq;
        if (r == nullptr || r->cursor != seq || !r->appended.empty()) {
          return absl::StrCat("ack by ", p.sender, " of ", seq, ": unexpected result");
        }
        p.unacked_receipt = 0;
        break;
      }
    }
  }
  return "";
}

// The store's view after the run, against what the results said.
std::string CheckW1Final(MessageStore& store, const std::vector<W1Pair>& pairs) {
  auto expect = [](const absl::StatusOr<Seq>& got, Seq want, const std::string& what) -> std::string {
    if (!got.ok()) return absl::StrCat(what, ": ", got.status().ToString());
    if (*got != want) return absl::StrCat(what, " is ", *got, ", expected ", want);
    return "";
  };
  for (const W1Pair& p : pairs) {
    for (std::string e : {expect(store.Head(p.recipient), p.message_head, p.recipient + " head"),
                          expect(store.Cursor(p.recipient, "d"), p.message_head - 1, p.recipient + " cursor"),
                          expect(store.Head(p.sender), p.receipt_head, p.sender + " head"),
                          expect(store.Cursor(p.sender, "d"), p.receipt_head - 1, p.sender + " cursor")}) {
      if (!e.empty()) return e;
    }
    auto delivered = store.Status(p.recipient, p.last_delivered_id);
    auto sent = store.Status(p.recipient, p.unacked_id);
    if (!delivered.ok() || *delivered != MessageStatus::kDelivered || !sent.ok() ||
        *sent != MessageStatus::kSent) {
      return absl::StrCat(p.recipient, ": wrong message status");
    }
  }
  // One sender's whole inbox: receipts 1..head, in order (paged).
  const W1Pair& p = pairs.front();
  Seq seen = 0;
  while (seen < p.receipt_head) {
    auto events = store.Fetch(p.sender, seen, 256);
    if (!events.ok() || events->empty()) return p.sender + ": Fetch ended early";
    for (const Event& e : *events) {
      if (e.seq != seen + 1 || e.kind != EventKind::kReceipt ||
          e.status != MessageStatus::kDelivered || e.peer != p.recipient) {
        return absl::StrCat(p.sender, ": Fetch returned a wrong event at ", seen + 1);
      }
      ++seen;
    }
  }
  if (seen != p.receipt_head) return p.sender + ": Fetch returned more than the head";
  return "";
}

template <class Backend>
void BM_W1Mix(benchmark::State& state) {
  constexpr std::size_t kPairs = 200;
  Backend backend;
  std::unique_ptr<MessageStore> store = backend.Open();
  std::vector<W1Pair> pairs(kPairs);
  std::vector<WriteOp> ops;
  for (std::size_t i = 0; i < kPairs; ++i) {
    pairs[i].sender = absl::StrFormat("w1-sender-%03d", i);
    pairs[i].recipient = absl::StrFormat("w1-recipient-%03d", i);
    ops.emplace_back(AttachOp{pairs[i].sender, "d"});
    ops.emplace_back(AttachOp{pairs[i].recipient, "d"});
  }
  for (const auto& r : store->Write(ops)) {
    if (!r.ok() || std::get<AttachResult>(*r).head != 0) {
      state.SkipWithError("attach failed");
      return;
    }
  }
  std::mt19937_64 gen(42);
  std::uint64_t n = 0;
  TimeMs ts = 1'700'000'000'000;
  std::vector<std::pair<W1OpKind, std::size_t>> kinds;
  std::string error;
  for (int fill = 0; fill < 2 && error.empty(); ++fill) {  // the pipeline fills
    BuildW1Batch(pairs, n, ts++, gen, ops, kinds);
    error = CheckW1Batch(pairs, ops, kinds, store->Write(ops));
  }
  if (!error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  const std::uint64_t filled = n;
  BuildW1Batch(pairs, n, ts++, gen, ops, kinds);
  const std::uint64_t bytes0 = BytesWritten();
  ProcessCpu cpu(state);
  // Real time of each Write: the first and the last 100 batches' means show
  // a store that slows down as it grows (an LSM's flushes and compactions).
  std::vector<double> write_ms;
  write_ms.reserve(static_cast<std::size_t>(state.max_iterations));
  cpu.Start();
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    auto results = store->Write(ops);
    write_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    cpu.Pause();
    error = CheckW1Batch(pairs, ops, kinds, results);
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      return;
    }
    BuildW1Batch(pairs, n, ts++, gen, ops, kinds);
    cpu.Resume();
  }
  const double cpu_s = cpu.Stop();
  const std::uint64_t bytes = BytesWritten() - bytes0;
  if (error = CheckW1Final(*store, pairs); !error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  const double msgs = static_cast<double>(state.iterations() * kPairs);
  state.SetItemsProcessed(static_cast<std::int64_t>(msgs));
  state.counters["cpu_us_per_msg"] = cpu_s * 1e6 / msgs;
  state.counters["bytes_written_per_msg"] = static_cast<double>(bytes) / msgs;
  const std::size_t k = std::min<std::size_t>(100, write_ms.size());
  if (k > 0) {
    double first = 0, last = 0;
    for (std::size_t i = 0; i < k; ++i) {
      first += write_ms[i];
      last += write_ms[write_ms.size() - 1 - i];
    }
    state.counters["first100_ms_per_batch"] = first / static_cast<double>(k);
    state.counters["last100_ms_per_batch"] = last / static_cast<double>(k);
  }
  if constexpr (requires { backend.KeysWritten(); }) {
    store.reset();  // closes the database
    // Over the whole run (set-up and filling included: 400 attaches for
    // `filled` + timed messages).
    const double all_msgs = static_cast<double>(filled) + msgs;
    if (std::optional<std::uint64_t> keys = backend.KeysWritten()) {
      state.counters["keys_per_msg"] = static_cast<double>(*keys) / all_msgs;
    }
  }
}

// --- Groups (issue 17): a group of `members` users, "gm-000" its admin.
// Returns its members, or an empty vector (and the error in `error`).
std::vector<UserId> CreateBenchGroup(MessageStore& store, std::size_t members,
                                     std::string& error) {
  std::vector<UserId> users;
  for (std::size_t i = 0; i < members; ++i) users.push_back(absl::StrFormat("gm-%03d", i));
  GroupChangeOp create;
  create.action = GroupAction::kCreate;
  create.actor = users[0];
  create.group = "bench-group";
  create.members.assign(users.begin() + 1, users.end());
  create.name = "bench";
  create.id = "bench-group-create";
  create.ts = 1;
  create.limits.max_members = members;
  std::vector<WriteOp> ops = {create};
  for (const UserId& u : users) ops.emplace_back(AttachOp{u, "d"});
  auto results = store.Write(ops);
  for (const auto& r : results) {
    if (!r.ok()) {
      error = r.status().ToString();
      return {};
    }
  }
  const auto& created = std::get<GroupChangeResult>(*results[0]);
  if (!created.group.has_value() || created.group->members.size() != members ||
      created.appended.size() != members) {
    error = "the group was not created with every member";
    return {};
  }
  return users;
}

GroupSendOp MakeGroupSend(const UserId& sender, std::uint64_t n) {
  GroupSendOp op;
  op.sender = sender;
  op.cid = absl::StrCat("gc", n);
  op.group = "bench-group";
  op.id = absl::StrCat("gm", n);
  op.body = kBody;
  op.ts = 2;
  op.max_undelivered = 1'000'000'000;
  return op;
}

// Checks the answer to a batch of one group send, `send`: stored once in
// each of `members` inboxes. "" when so, else what went wrong.
std::string CheckGroupSend(const std::vector<absl::StatusOr<WriteResult>>& results,
                           const WriteOp& send, std::size_t members) {
  if (results.size() != 1) return "not one result for one group send";
  const absl::StatusOr<WriteResult>& r = results[0];
  const GroupSendOp& op = std::get<GroupSendOp>(send);
  if (!r.ok()) return r.status().ToString();
  const auto* g = std::get_if<GroupSendResult>(&*r);
  if (g == nullptr || g->duplicate || g->id != op.id || g->recipients != members ||
      !g->skipped.empty() || g->appended.size() != members) {
    return "the group send did not reach every member once";
  }
  return "";
}

// Opens a store of `backend` holding a group of `members` (their names in
// `users`); null when that failed (the benchmark is skipped with the error).
template <class Backend>
std::unique_ptr<MessageStore> OpenWithGroup(benchmark::State& state, Backend& backend,
                                            std::size_t members, std::vector<UserId>& users) {
  std::unique_ptr<MessageStore> store = backend.Open();
  std::string error;
  users = CreateBenchGroup(*store, members, error);
  if (users.empty()) {
    state.SkipWithError(error.c_str());
    return nullptr;
  }
  return store;
}

// --- BM_GroupSend: one transaction appending one message to N inboxes.
template <class Backend>
void BM_GroupSend(benchmark::State& state) {
  const std::size_t members = static_cast<std::size_t>(state.range(0));
  Backend backend;
  std::vector<UserId> users;
  std::unique_ptr<MessageStore> store = OpenWithGroup(state, backend, members, users);
  if (store == nullptr) return;
  std::uint64_t n = 0;
  std::vector<WriteOp> ops(1);
  double write_s = 0;  // real time inside Write
  const std::uint64_t bytes0 = BytesWritten();
  ProcessCpu cpu(state);
  cpu.Start();
  for (auto _ : state) {
    cpu.Pause();
    // Senders take turns, as members of a busy group do.
    ops[0] = MakeGroupSend(users[n % members], n);
    ++n;
    cpu.Resume();
    const auto t0 = std::chrono::steady_clock::now();
    auto results = store->Write(ops);
    write_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (const std::string error = CheckGroupSend(results, ops[0], members); !error.empty()) {
      state.SkipWithError(error.c_str());
      return;
    }
    benchmark::DoNotOptimize(results);
  }
  const double cpu_s = cpu.Stop();
  const std::uint64_t bytes = BytesWritten() - bytes0;
  // Every member's inbox holds the create and every send, in order.
  for (const UserId& u : {users.front(), users.back()}) {
    auto head = store->Head(u);
    if (!head.ok() || *head != n + 1) {
      state.SkipWithError(absl::StrCat(u, ": wrong head after the run").c_str());
      return;
    }
  }
  const double sends = static_cast<double>(state.iterations());
  const double copies = sends * static_cast<double>(members);
  state.SetItemsProcessed(state.iterations());  // items_per_second: sends/s
  state.counters["sends_per_s"] = sends / write_s;
  state.counters["us_per_fanout"] = write_s * 1e6 / copies;  // real time per member copy
  state.counters["cpu_us_per_copy"] = cpu_s * 1e6 / copies;
  state.counters["bytes_written_per_copy"] = static_cast<double>(bytes) / copies;
}

// --- BM_GroupReceipts: every member but the sender acks and reads one group
// message, in one Write; each ack and each read appends one receipt to the
// sender's inbox.
template <class Backend>
void BM_GroupReceipts(benchmark::State& state) {
  const std::size_t readers = static_cast<std::size_t>(state.range(0));
  const std::size_t members = readers + 1;
  Backend backend;
  std::vector<UserId> users;
  std::unique_ptr<MessageStore> store = OpenWithGroup(state, backend, members, users);
  if (store == nullptr) return;
  const UserId& sender = users[0];
  std::uint64_t n = 0;
  std::size_t receipts = 0;
  std::vector<WriteOp> send(1), ops;
  double write_s = 0;  // real time inside the receipts' Write
  Seq sender_head = 1;  // the create
  const std::uint64_t bytes0 = BytesWritten();
  ProcessCpu cpu(state);
  cpu.Start();
  for (auto _ : state) {
    cpu.Pause();
    send[0] = MakeGroupSend(sender, n++);
    auto sent = store->Write(send);
    if (const std::string error = CheckGroupSend(sent, send[0], members); !error.empty()) {
      state.SkipWithError(error.c_str());
      return;
    }
    ++sender_head;
    const MessageId id = std::get<GroupSendOp>(send[0]).id;
    ops.clear();
    for (const Appended& a : std::get<GroupSendResult>(*sent[0]).appended) {
      if (a.user != sender) ops.emplace_back(AckOp{a.user, "d", a.event.seq, 3});
    }
    for (const UserId& u : users) {
      if (u != sender) ops.emplace_back(ReadOp{u, {id}, 4});
    }
    cpu.Resume();
    const auto t0 = std::chrono::steady_clock::now();
    auto results = store->Write(ops);
    write_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    cpu.Pause();
    // Exactly one receipt per op, in the sender's inbox, gap-free.
    for (const auto& r : results) {
      const std::vector<Appended>* appended = nullptr;
      if (r.ok()) {
        if (const auto* ack = std::get_if<AckResult>(&*r)) appended = &ack->appended;
        if (const auto* read = std::get_if<ReadResult>(&*r)) appended = &read->appended;
      }
      if (appended == nullptr || appended->size() != 1 || (*appended)[0].user != sender ||
          (*appended)[0].event.id != id || (*appended)[0].event.seq != sender_head + 1) {
        state.SkipWithError(r.ok() ? "not one receipt per ack and read" : r.status().ToString().c_str());
        return;
      }
      ++sender_head;
      ++receipts;
    }
    cpu.Resume();
  }
  const double cpu_s = cpu.Stop();
  const std::uint64_t bytes = BytesWritten() - bytes0;
  auto head = store->Head(sender);
  if (!head.ok() || *head != sender_head) {
    state.SkipWithError("the sender's head is not the receipts counted");
    return;
  }
  const double msgs = static_cast<double>(state.iterations());
  const double all = static_cast<double>(receipts);
  state.SetItemsProcessed(static_cast<std::int64_t>(receipts));  // receipts/s
  state.counters["receipts_per_msg"] = all / msgs;
  state.counters["us_per_receipt"] = write_s * 1e6 / all;  // real time per receipt
  state.counters["ms_per_message"] = write_s * 1e3 / msgs;  // the Write of one message's 2N
  state.counters["cpu_us_per_receipt"] = cpu_s * 1e6 / all;
  state.counters["bytes_written_per_receipt"] = static_cast<double>(bytes) / all;
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
      benchmark::kMillisecond);                                                              \
  BENCHMARK_TEMPLATE(BM_AckBacklog, TYPE)->Name("BM_AckBacklog_" NAME)->Iterations(3)         \
      ->UseRealTime()->Unit(benchmark::kMillisecond);                             \
  BENCHMARK_TEMPLATE(BM_DrainBacklog, TYPE)->Name("BM_DrainBacklog_" NAME)->Iterations(3)     \
      ->UseRealTime()->Unit(benchmark::kMillisecond);

// W1Mix: 500 batches (100,000 messages) per run, whatever the store's speed,
// so that every store writes as much (RocksDB flushes its memtable in it).
#define COURIER_BENCH_W1MIX(NAME, TYPE)                                                      \
  BENCHMARK_TEMPLATE(BM_W1Mix, TYPE)->Name("BM_W1Mix_" NAME)->Iterations(500)->UseRealTime()-> \
      Unit(benchmark::kMillisecond);

COURIER_BENCH_BACKEND("Memory", MemoryBackend)
#if defined(COURIER_BENCH_WITH_SQLITE)
COURIER_BENCH_BACKEND("Sqlite_PowerLoss", SqlitePowerLoss)
COURIER_BENCH_BACKEND("Sqlite_ProcessCrash", SqliteProcessCrash)
#endif
#if defined(COURIER_BENCH_WITH_ROCKSDB)
COURIER_BENCH_BACKEND("Rocksdb_PowerLoss", RocksdbPowerLoss)
COURIER_BENCH_BACKEND("Rocksdb_ProcessCrash", RocksdbProcessCrash)
#endif
// Groups: a fixed number of sends per run, so that every store's inboxes
// grow as much (256 x 500 copies).
#define COURIER_BENCH_GROUPS(NAME, TYPE)                                                      \
  BENCHMARK_TEMPLATE(BM_GroupSend, TYPE)->Name("BM_GroupSend_" NAME)->Arg(256)->Iterations(500) \
      ->UseRealTime();                                                                        \
  BENCHMARK_TEMPLATE(BM_GroupReceipts, TYPE)->Name("BM_GroupReceipts_" NAME)->Arg(256)       \
      ->Iterations(200)->UseRealTime();

COURIER_BENCH_W1MIX("Memory", MemoryBackend)
COURIER_BENCH_GROUPS("Memory", MemoryBackend)
#if defined(COURIER_BENCH_WITH_SQLITE)
COURIER_BENCH_GROUPS("Sqlite_PowerLoss", SqlitePowerLoss)
#endif
#if defined(COURIER_BENCH_WITH_ROCKSDB)
COURIER_BENCH_GROUPS("Rocksdb_PowerLoss", RocksdbPowerLoss)
#endif
#if defined(COURIER_BENCH_WITH_SQLITE)
COURIER_BENCH_W1MIX("Sqlite_PowerLoss", SqlitePowerLoss)
#endif
#if defined(COURIER_BENCH_WITH_ROCKSDB)
COURIER_BENCH_W1MIX("Rocksdb_PowerLoss", RocksdbPowerLoss)
#endif
BENCHMARK(BM_PresenceLookup_Memory)->Arg(1)->Arg(100);

}  // namespace
}  // namespace courier::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  // Which malloc this program runs on (cmake/CourierAllocator.cmake): the
  // stores' CPU per item depends on it.
  benchmark::AddCustomContext("allocator", COURIER_ALLOCATOR_NAME);
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
