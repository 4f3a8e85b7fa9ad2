// courier::rocksdb's durability claim, tested by cutting the power at every
// kind of moment: an acknowledged batch is never lost, a batch is never half
// applied, an inbox's seqs stay gapless, and the store works after recovery.
//
// For each seed: a seeded random workload (batches of append/attach/ack/read
// ops and group changes and sends over a few users, devices and groups) runs in a forked WRITER child on a LazyEnv
// (lazy_env.h) that crashes at a seeded file operation: unsynced bytes are
// lost, a sync may be torn, and the process ends at once. The writer reports
// each batch it starts and each batch whose Write committed. Then a forked
// VERIFIER child reopens the directory on the real disk and checks it against
// the reference model (courier::memory) fed the same batches: there must be a
// K, acked <= K <= sent, such that the recovered store equals the model after
// K batches (every inbox's head and events, every device's cursor, the status
// of every message id the workload used, every group's record and every
// user's groups). It then replays the batches after K
// (their results must equal the model's), checks the final state, and makes
// one more append, which must get head + 1.
//
// The staged case writes each batch as the engine's commit queue does for a
// store that stages writes (MessageStore::WriteStaged, up to three batches
// staged before the oldest one's Sync): a batch is acked when its Sync
// returned, and K may be any count from acked to the batches staged.
//
// The parent never opens RocksDB: RocksDB's background threads would not
// survive the next fork(). Both children report through a pipe, as text.
//
// Environment:
//   COURIER_POWERLOSS_SEEDS=<n>  seeds 1..n (default 2000, 200 in a debug build;
//                                the process-crash case runs a quarter of them)
//   COURIER_POWERLOSS_SEED=<n>   only seed n (to rerun a failure)
//   COURIER_POWERLOSS_TMPDIR     where the databases go (default /dev/shm)
// A failing seed's directory is kept and its path printed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "child_process.h"
#include "courier/group.h"
#include "courier/memory.h"
#include "courier/message_store.h"
#include "courier/rocksdb.h"
#include "courier/types.h"
#include "lazy_env.h"
#include "scratch_dir.h"

namespace courier::rocksdb {
namespace {

using ::courier::testing::ChildOutcome;
using ::courier::testing::CrashMode;
using ::courier::testing::CrashPlan;
using ::courier::testing::kLazyEnvCrashExitCode;
using ::courier::testing::LazyEnv;
using ::courier::testing::RunInChild;
using ::courier::testing::ScratchDir;
using ::courier::testing::WriteAll;

using Results = std::vector<absl::StatusOr<WriteResult>>;
using Batch = std::vector<WriteOp>;

constexpr auto kChildDeadline = std::chrono::seconds(120);
// A test case stops after this many failing seeds.
constexpr int kMaxFailingSeeds = 10;

// ---------------------------------------------------------------------------
// The workload

// Every name the workload uses: the state comparison looks at all of them.
struct Universe {
  std::vector<UserId> users;
  std::map<UserId, std::vector<DeviceId>> devices;
  // Every AppendOp id by recipient; a GroupSendOp's id under every user.
  std::map<UserId, std::vector<MessageId>> ids;
  std::vector<GroupId> groups;  // every group id a GroupChangeOp created
};

struct Workload {
  std::uint64_t seed = 0;
  bool heavy = false;  // big bodies: memtable flushes and compactions happen
  Universe universe;
  std::vector<Batch> batches;
  // The store's tuning for this seed (path, env and durability set later).
  std::size_t cache_max_inboxes = 100'000;
  std::size_t block_cache_bytes = 0;
  // The writer's LazyEnv plan.
  std::uint64_t crash_at_op = 0;
  std::uint64_t torn_seed = 0;
};

// Builds a seeded random workload, op by op, using a model store to pick
// plausible acks (mostly at or below the head, sometimes past it).
class WorkloadGenerator {
 public:
  explicit WorkloadGenerator(std::uint64_t seed)
      : rng_(seed), model_(memory::OpenMessageStore()) {
    w_.seed = seed;
  }

  Workload Generate() {
    w_.heavy = Chance(1.0 / 8);
    MakeUniverse();
    const std::size_t batches = w_.heavy ? Uniform(25, 40) : Uniform(3, 40);
    for (std::size_t i = 0; i < batches; ++i) AddBatch();
    w_.cache_max_inboxes = Pick<std::size_t>({1, 2, 100'000, 100'000});
    w_.block_cache_bytes = Pick<std::size_t>({0, 1u << 20});
    w_.crash_at_op = CrashPoint();
    w_.torn_seed = rng_();
    return std::move(w_);
  }

 private:
  std::uint64_t Uniform(std::uint64_t lo, std::uint64_t hi) {  // inclusive
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng_);
  }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T>
  T Pick(const std::vector<T>& from) {
    return from[Uniform(0, from.size() - 1)];
  }

  // The file operation at which the writer crashes. Opening a new store
  // takes 48-52; then each batch about 2 (the WAL's append and sync), 4 in a
  // heavy workload (flushes, compactions). One seed in 8 crashes in the
  // open; the others spread over the batches, some past the end (they crash
  // at the workload's end).
  std::uint64_t CrashPoint() {
    constexpr std::uint64_t kOpenOps = 52;
    if (Chance(1.0 / 8)) return Uniform(1, kOpenOps);
    const std::uint64_t per_batch = w_.heavy ? 4 : 2;
    return Uniform(kOpenOps + 1, kOpenOps + per_batch * w_.batches.size() * 21 / 20);
  }

  // 1-3 chars of [a-z0-9]; a third of the names extend an earlier one (a
  // prefix of another name is what a key encoding gets wrong).
  std::string NewName(const std::vector<std::string>& taken) {
    static constexpr std::string_view kChars = "abcdefghijklmnopqrstuvwxyz0123456789";
    for (;;) {
      std::string name = !taken.empty() && Chance(1.0 / 3) ? Pick(taken) : "";
      const std::size_t extra = Uniform(1, 3);
      for (std::size_t i = 0; i < extra; ++i) name += kChars[Uniform(0, kChars.size() - 1)];
      if (std::find(taken.begin(), taken.end(), name) == taken.end()) return name;
    }
  }

  void MakeUniverse() {
    const std::size_t users = Uniform(2, 4);
    for (std::size_t u = 0; u < users; ++u) {
      const UserId user = NewName(w_.universe.users);
      w_.universe.users.push_back(user);
      auto& devices = w_.universe.devices[user];
      const std::size_t count = Uniform(1, 3);
      for (std::size_t d = 0; d < count; ++d) devices.push_back(NewName(devices));
    }
  }

  void AddBatch() {
    now_ += static_cast<TimeMs>(Uniform(0, 2'000));
    if (Chance(1.0 / 20)) now_ -= static_cast<TimeMs>(Uniform(1, 10'000));  // a clock step
    Batch batch;
    const std::size_t ops = w_.heavy ? Uniform(2, 5) : Uniform(1, 6);
    for (std::size_t i = 0; i < ops; ++i) batch.push_back(NextOp());
    model_->Write(batch);
    w_.batches.push_back(std::move(batch));
  }

  WriteOp NextOp() {
    const std::uint64_t roll = Uniform(0, 99);
    if (roll < 40) return NextAppend();
    if (roll < 60) return NextAck();
    if (roll < 72) return NextRead();
    if (roll < 80) return NextAttach();
    if (roll < 90) return NextGroupChange();
    return NextGroupSend();
  }

  UserId AnyUser() { return Pick(w_.universe.users); }
  DeviceId AnyDevice(const UserId& user) { return Pick(w_.universe.devices.at(user)); }

  AppendOp NextAppend() {
    AppendOp op;
    op.sender = AnyUser();
    op.recipient = AnyUser();  // may be the sender: a note to oneself
    std::vector<std::string>& sent = cids_[op.sender];
    op.cid = !sent.empty() && Chance(0.1) ? Pick(sent) : NewCid();  // a retried send
    sent.push_back(op.cid);
    op.id = NewMessageId();
    w_.universe.ids[op.recipient].push_back(op.id);
    op.body = Body();
    op.ts = now_;
    if (Chance(1.0 / 12)) op.max_undelivered = Uniform(1, 4);  // queue_full sometimes
    return op;
  }

  // A change of a random group (a new one a third of the time; sometimes one
  // that was deleted, or with limits small enough to refuse it).
  GroupChangeOp NextGroupChange() {
    GroupChangeOp op;
    op.actor = AnyUser();
    op.id = NewMessageId();
    op.ts = now_;
    if (Chance(1.0 / 6)) op.limits.max_members = Uniform(1, 3);
    if (Chance(1.0 / 6)) op.limits.max_groups_per_user = Uniform(1, 2);
    if (w_.universe.groups.empty() || Chance(1.0 / 3)) {
      op.action = GroupAction::kCreate;
      op.group = "g" + std::to_string(w_.universe.groups.size() + 1);
      w_.universe.groups.push_back(op.group);
      for (const UserId& user : w_.universe.users) {
        if (Chance(0.5)) op.members.push_back(user);  // the actor too, sometimes
      }
      op.name = "team";
      return op;
    }
    op.group = Pick(w_.universe.groups);
    op.action = Pick<GroupAction>(
        {GroupAction::kAdd, GroupAction::kRemove, GroupAction::kLeave, GroupAction::kRename});
    if (op.action == GroupAction::kAdd || op.action == GroupAction::kRemove) {
      const std::size_t count = Uniform(1, 2);
      for (std::size_t i = 0; i < count; ++i) op.members.push_back(AnyUser());
    }
    if (op.action == GroupAction::kRename) op.name = Pick<std::string>({"team", "crew"});
    return op;
  }

  // A send to a random group, from a random user (a member or not).
  GroupSendOp NextGroupSend() {
    GroupSendOp op;
    op.sender = AnyUser();
    op.group = w_.universe.groups.empty() ? "g0" : Pick(w_.universe.groups);
    std::vector<std::string>& sent = cids_[op.sender];
    op.cid = !sent.empty() && Chance(0.1) ? Pick(sent) : NewCid();  // shared with 1:1
    sent.push_back(op.cid);
    op.id = NewMessageId();
    for (const UserId& user : w_.universe.users) w_.universe.ids[user].push_back(op.id);
    op.body = Body();
    op.ts = now_;
    if (Chance(1.0 / 8)) op.max_undelivered = Uniform(1, 4);  // some members skipped
    return op;
  }

  // Unique; mostly short, sometimes 64 bytes of anything but NUL.
  std::string NewCid() {
    std::string cid = "c" + std::to_string(++cids_made_) + "-";
    if (Chance(1.0 / 8)) {
      while (cid.size() < kMaxIdBytes) cid += static_cast<char>(Uniform(1, 255));
    }
    return cid;
  }

  // Unique; mostly short, sometimes padded to 64 chars of [A-Za-z0-9_-].
  MessageId NewMessageId() {
    static constexpr std::string_view kChars =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    MessageId id = "m" + std::to_string(++ids_made_) + "_";
    if (Chance(1.0 / 8)) {
      while (id.size() < kMaxIdBytes) id += kChars[Uniform(0, kChars.size() - 1)];
    }
    return id;
  }

  // Any bytes (bodies are ciphertext when encrypted at rest).
  std::string Body() {
    const std::size_t size = w_.heavy ? Uniform(32u << 10, 160u << 10) : Uniform(0, 300);
    std::string body;
    body.reserve(size + 8);
    while (body.size() < size) {
      const std::uint64_t bits = rng_();
      body.append(reinterpret_cast<const char*>(&bits), sizeof bits);
    }
    body.resize(size);
    return body;
  }

  AckOp NextAck() {
    AckOp op;
    op.user = AnyUser();
    op.device = AnyDevice(op.user);
    const Seq head = model_->Head(op.user).value_or(0);
    if (Chance(1.0 / 12)) {
      op.seq = head + Uniform(1, 2);  // past the head: kOutOfRange unless this batch grew it
    } else {
      op.seq = Chance(0.4) ? head : Uniform(0, head);
    }
    op.ts = now_;
    return op;
  }

  ReadOp NextRead() {
    ReadOp op;
    op.user = AnyUser();
    const std::vector<MessageId>& own = w_.universe.ids[op.user];
    const std::size_t count = Uniform(1, 4);
    for (std::size_t i = 0; i < count; ++i) {
      if (!own.empty() && Chance(0.85)) {
        op.ids.push_back(Pick(own));
      } else {
        const std::vector<MessageId>& other = w_.universe.ids[AnyUser()];
        op.ids.push_back(other.empty() ? "unknown" : Pick(other));  // ignored unless ours
      }
    }
    op.ts = now_;
    return op;
  }

  AttachOp NextAttach() {
    AttachOp op;
    op.user = AnyUser();
    op.device = AnyDevice(op.user);
    return op;
  }

  std::mt19937_64 rng_;
  std::unique_ptr<MessageStore> model_;
  Workload w_;
  std::map<UserId, std::vector<std::string>> cids_;  // cids used, by sender
  std::uint64_t cids_made_ = 0;
  std::uint64_t ids_made_ = 0;
  TimeMs now_ = 1'700'000'000'000;
};

// ---------------------------------------------------------------------------
// Rendering: results and states as text, so that two stores compare as
// strings and a difference prints readably. Bodies are shown as their size
// and a hash. A result is one line; a state is one line per fact.

// The same in every process of one test run: they are forks of one binary.
std::string Fingerprint(std::string_view bytes) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016zx", std::hash<std::string_view>()(bytes));
  return std::to_string(bytes.size()) + ":" + hex;
}

std::string Render(const absl::Status& s) {
  return "error " + absl::StatusCodeToString(s.code());
}

std::string Render(const Event& e) {
  std::ostringstream out;
  out << "#" << e.seq << " kind=" << static_cast<int>(e.kind) << " " << e.id
      << " peer=" << e.peer << " status=" << MessageStatusName(e.status) << " ts=" << e.ts
      << " body=" << Fingerprint(e.body) << " group=" << e.group;
  return out.str();
}

std::string Render(const GroupRecord& g) {
  std::ostringstream out;
  out << g.id << " name=" << g.name << " by=" << g.created_by << " created=" << g.created
      << " version=" << g.version << " members=";
  for (const GroupMember& m : g.members) {
    out << m.user << ":" << GroupRoleName(m.role) << ":" << m.since << ",";
  }
  return out.str();
}

std::string Render(const std::vector<Appended>& appended) {
  std::string out = " appended[";
  for (const Appended& a : appended) out += " " + a.user + Render(a.event) + ";";
  return out + "]";
}

std::string Render(const WriteResult& result) {
  std::ostringstream out;
  if (const auto* r = std::get_if<AppendResult>(&result)) {
    out << "append id=" << r->id << " seq=" << r->seq << " ts=" << r->ts
        << " duplicate=" << r->duplicate << Render(r->appended);
  } else if (const auto* r = std::get_if<AttachResult>(&result)) {
    out << "attach cursor=" << r->cursor << " head=" << r->head;
  } else if (const auto* r = std::get_if<AckResult>(&result)) {
    out << "ack cursor=" << r->cursor << Render(r->appended);
  } else if (const auto* r = std::get_if<GroupSendResult>(&result)) {
    out << "group send id=" << r->id << " seq=" << r->seq << " ts=" << r->ts
        << " duplicate=" << r->duplicate << " recipients=" << r->recipients << " skipped=";
    for (const UserId& user : r->skipped) out << user << ",";
    out << Render(r->appended);
  } else if (const auto* r = std::get_if<GroupChangeResult>(&result)) {
    out << "group change changed=" << r->changed
        << " group=" << (r->group.has_value() ? Render(*r->group) : "deleted")
        << Render(r->appended);
  } else {
    out << "read" << Render(std::get<ReadResult>(result).appended);
  }
  return out.str();
}

std::string Render(const Results& results) {
  std::string out;
  for (const auto& r : results) out += (r.ok() ? Render(*r) : Render(r.status())) + " | ";
  return out;
}

// The errors an op may return on its own (message_store.h; group.h's
// GroupError codes); any other error means the transaction did not commit.
bool IsOpError(absl::StatusCode code) {
  return code == absl::StatusCode::kResourceExhausted || code == absl::StatusCode::kOutOfRange ||
         code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kAlreadyExists ||
         code == absl::StatusCode::kNotFound || code == absl::StatusCode::kPermissionDenied;
}

bool Committed(const Results& results) {
  return std::all_of(results.begin(), results.end(),
                     [](const auto& r) { return r.ok() || IsOpError(r.status().code()); });
}

void RenderInbox(MessageStore& store, const UserId& user, std::string* out) {
  for (Seq after = 0;;) {
    auto page = store.Fetch(user, after, 100);
    if (!page.ok()) {
      *out += "  fetch after " + std::to_string(after) + ": " + Render(page.status()) + "\n";
      return;
    }
    for (const Event& e : *page) *out += "  " + Render(e) + "\n";
    if (page->size() < 100) return;
    after = page->back().seq;
  }
}

// Everything the store says about the universe's names, one fact a line.
std::string RenderState(MessageStore& store, const Universe& universe) {
  std::string out;
  for (const GroupId& id : universe.groups) {
    auto group = store.Group(id);
    out += "group " + (group.ok() ? Render(*group) : id + " " + Render(group.status())) + "\n";
  }
  for (const UserId& user : universe.users) {
    auto head = store.Head(user);
    out += "user " + user + " head " + (head.ok() ? std::to_string(*head) : Render(head.status())) +
           "\n";
    auto groups = store.GroupsOf(user);
    out += "  groups";
    if (groups.ok()) {
      for (const GroupRecord& g : *groups) out += " " + g.id;
    } else {
      out += " " + Render(groups.status());
    }
    out += "\n";
    RenderInbox(store, user, &out);
    for (const DeviceId& device : universe.devices.at(user)) {
      auto cursor = store.Cursor(user, device);
      out += "  cursor " + device + " " +
             (cursor.ok() ? std::to_string(*cursor) : Render(cursor.status())) + "\n";
    }
    auto ids = universe.ids.find(user);
    if (ids == universe.ids.end()) continue;
    for (const MessageId& id : ids->second) {
      auto status = store.Status(user, id);
      out += "  status " + id + " " +
             (status.ok() ? std::string(MessageStatusName(*status)) : Render(status.status())) +
             "\n";
    }
  }
  return out;
}

// The first few lines where `got` differs from `want`.
std::string Differences(const std::string& want, const std::string& got) {
  std::istringstream w(want), g(got);
  std::string out, wl, gl;
  int shown = 0;
  for (int line = 1; shown < 6; ++line) {
    const bool more_w = static_cast<bool>(std::getline(w, wl));
    const bool more_g = static_cast<bool>(std::getline(g, gl));
    if (!more_w && !more_g) break;
    if (more_w && more_g && wl == gl) continue;
    out += "    line " + std::to_string(line) + ": want \"" + (more_w ? wl : "<end>") +
           "\"\n" + std::string(std::to_string(line).size() + 11, ' ') + "got  \"" +
           (more_g ? gl : "<end>") + "\"\n";
    ++shown;
  }
  return out;
}

// The model's results of every batch, run from an empty store.
std::vector<std::string> ModelResults(const Workload& w) {
  auto model = memory::OpenMessageStore();
  std::vector<std::string> results;
  for (const Batch& batch : w.batches) results.push_back(Render(model->Write(batch)));
  return results;
}

// ---------------------------------------------------------------------------
// The children

RocksdbOptions StoreOptions(const Workload& w, const std::string& path, CrashMode mode) {
  RocksdbOptions options;
  options.path = path;
  options.durability = mode == CrashMode::kPowerLoss ? RocksdbOptions::Durability::kPowerLoss
                                                     : RocksdbOptions::Durability::kProcessCrash;
  options.write_buffer_bytes = 1u << 20;
  options.block_cache_bytes = w.block_cache_bytes;
  options.cache_max_inboxes = w.cache_max_inboxes;
  return options;
}

// Writes whole lines to a child's pipe, one thread at a time (the crash may
// come from a RocksDB background thread while the main thread reports).
class Reporter {
 public:
  explicit Reporter(int fd) : fd_(fd) {}
  void Line(const std::string& line) {
    std::lock_guard lock(mu_);
    WriteAll(fd_, line + "\n");
  }

 private:
  int fd_;
  std::mutex mu_;
};

// The writer: runs the workload on a LazyEnv until the planned crash (or the
// workload's end, where it crashes too). Reports "begin <i>" before each
// Write, "ok <i> <results>" after one that committed, "failed <i> <results>"
// after one that did not, "end" when out of batches, and "crash <what>".
// Never returns.
//
// `staged`: the batches are written as the engine's commit queue writes a
// store that stages writes: WriteStaged, then up to w.seed % 3 more batches
// staged before the oldest one's Sync ("ok" after that Sync).
[[noreturn]] void RunWriter(const Workload& w, const std::string& path, CrashMode mode,
                            bool staged, int fd) {
  Reporter report(fd);
  CrashPlan plan;
  plan.mode = mode;
  plan.crash_at_op = w.crash_at_op;
  plan.torn_seed = w.torn_seed;
  plan.on_crash = [&report](const std::string& what) { report.Line("crash " + what); };
  LazyEnv env(std::move(plan));

  RocksdbOptions options = StoreOptions(w, path, mode);
  options.stage_writes = staged;
  options.env = env.env();
  auto store = OpenMessageStore(options);
  if (!store.ok()) {
    report.Line("open-failed " + store.status().ToString());
    env.CrashNow("open failed");
  }
  auto answer = [&](std::size_t i, const Results& results) {
    const bool committed = Committed(results);
    report.Line((committed ? "ok " : "failed ") + std::to_string(i) + " " + Render(results));
    if (!committed) env.CrashNow("a write failed");
  };
  std::deque<std::pair<std::size_t, MessageStore::StagedWrite>> waiting;  // staged, not synced
  auto sync_oldest = [&] {
    auto [i, batch] = std::move(waiting.front());
    waiting.pop_front();
    const absl::Status synced = batch.sync != nullptr ? batch.sync->Sync() : absl::OkStatus();
    answer(i, ResultsAfterSync(std::move(batch), synced));
  };
  const std::size_t ahead = w.seed % 3;  // batches staged beyond the one waiting
  for (std::size_t i = 0; i < w.batches.size(); ++i) {
    report.Line("begin " + std::to_string(i));
    if (!staged) {
      answer(i, (*store)->Write(w.batches[i]));
      continue;
    }
    MessageStore::StagedWrite batch = (*store)->WriteStaged(w.batches[i]);
    if (!Committed(batch.results)) env.CrashNow("staging a batch failed");
    waiting.emplace_back(i, std::move(batch));
    if (waiting.size() > ahead) sync_oldest();
  }
  while (!waiting.empty()) sync_oldest();
  report.Line("end");
  env.CrashNow("the workload's end");
}

// What the writer's report says.
struct WriterLog {
  std::size_t sent = 0;   // batches whose Write was called
  std::size_t acked = 0;  // batches whose Write returned committed
  std::string crash;      // the LazyEnv's description of the crash
  bool ran_out = false;   // crashed at the workload's end
  std::vector<std::string> problems;
};

WriterLog ParseWriterLog(const ChildOutcome& child, const std::vector<std::string>& expected) {
  WriterLog log;
  std::istringstream lines(child.output);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string kind;
    std::size_t index = 0;
    fields >> kind;
    // Batches begin and are answered in order; at most three begun and
    // not answered (the staged writer's).
    if (kind == "begin" && fields >> index && index == log.sent && log.sent - log.acked < 3) {
      ++log.sent;
    } else if (kind == "ok" && fields >> index && index == log.acked && index < log.sent) {
      const std::string got = line.substr(line.find(' ', 3) + 1);
      if (got != expected[index]) {
        log.problems.push_back("batch " + std::to_string(index) + " returned\n    " + got +
                               "\n  the model returned\n    " + expected[index]);
      }
      ++log.acked;
    } else if (kind == "crash") {
      log.crash = line.substr(6);
    } else if (kind == "end") {
      log.ran_out = true;
    } else {
      log.problems.push_back("the writer reported: " + line);  // failed, open-failed, disorder
    }
  }
  if (!child.exited || child.exit_code != kLazyEnvCrashExitCode) {
    log.problems.push_back("the writer ended with " + child.Describe() +
                           ", not the planned crash");
  } else if (log.crash.empty()) {
    log.problems.push_back("the writer crashed without reporting the crash");
  }
  return log;
}

// In the verifier: the model after `k` batches, advanced from `*done`.
void AdvanceModel(MessageStore& model, const Workload& w, std::size_t* done, std::size_t k) {
  for (; *done < k; ++*done) model.Write(w.batches[*done]);
}

// Explains a recovered state that matches no allowed prefix: which prefix it
// matches, if any, and how it differs from the nearest allowed ones.
std::string ExplainMismatch(const Workload& w, const std::string& recovered, std::size_t acked,
                            std::size_t sent) {
  auto model = memory::OpenMessageStore();
  std::string out = "the recovered store equals the model after no K in [acked " +
                    std::to_string(acked) + ", sent " + std::to_string(sent) + "]";
  std::map<std::size_t, std::string> nearest;
  for (std::size_t k = 0; k <= w.batches.size(); ++k) {
    if (k > 0) model->Write(w.batches[k - 1]);
    const std::string state = RenderState(*model, w.universe);
    if (state == recovered) out += "; it equals the model after " + std::to_string(k) + " batches";
    if (k == acked || k == sent) nearest[k] = state;
  }
  for (const auto& [k, state] : nearest) {
    out += "\n  vs the model after " + std::to_string(k) + " batches:\n" +
           Differences(state, recovered);
  }
  return out;
}

// After the replay: one more append to the first user gets head + 1.
std::string CheckOneMoreAppend(MessageStore& store, const Universe& universe) {
  const UserId& user = universe.users.front();
  auto head = store.Head(user);
  if (!head.ok()) return "Head after recovery: " + head.status().ToString();
  AppendOp op;
  op.sender = universe.users.back();
  op.cid = "after-recovery";
  op.recipient = user;
  op.id = "after-recovery";
  op.body = "still works";
  op.ts = 1;
  const Results results = store.Write({WriteOp(op)});
  const auto* appended = results.front().ok() ? std::get_if<AppendResult>(&*results.front())
                                              : nullptr;
  if (appended == nullptr || appended->seq != *head + 1 || appended->duplicate) {
    return "one more append to " + user + " (head " + std::to_string(*head) + ") returned " +
           Render(results);
  }
  return "";
}

// The verifier: reopens the directory on the real disk, finds K, replays the
// rest of the workload and appends once more. Reports "recovered <K>" (or
// "recovered none"), then one block of text per problem found.
void RunVerifier(const Workload& w, const std::vector<std::string>& expected,
                 const std::string& path, CrashMode mode, std::size_t acked, std::size_t sent,
                 int fd) {
  Reporter report(fd);
  auto opened = OpenMessageStore(StoreOptions(w, path, mode));
  if (!opened.ok()) {
    report.Line("recovered none\nreopen failed: " + opened.status().ToString());
    return;
  }
  MessageStore& store = **opened;
  const std::string recovered = RenderState(store, w.universe);

  auto model = memory::OpenMessageStore();
  std::size_t done = 0;
  std::optional<std::size_t> k;
  for (std::size_t candidate = acked; candidate <= sent && !k; ++candidate) {
    AdvanceModel(*model, w, &done, candidate);
    if (RenderState(*model, w.universe) == recovered) k = candidate;
  }
  if (!k) {
    report.Line("recovered none\n" + ExplainMismatch(w, recovered, acked, sent));
    return;
  }
  report.Line("recovered " + std::to_string(*k));
  for (std::size_t i = *k; i < w.batches.size(); ++i) {
    const std::string got = Render(store.Write(w.batches[i]));
    if (got != expected[i]) {
      report.Line("after recovery at K = " + std::to_string(*k) + ", batch " + std::to_string(i) +
                  " returned\n    " + got + "\n  the model returned\n    " + expected[i]);
      return;
    }
  }
  AdvanceModel(*model, w, &done, w.batches.size());
  const std::string want = RenderState(*model, w.universe);
  const std::string got = RenderState(store, w.universe);
  if (got != want) {
    report.Line("after replaying the rest, the store differs from the model:\n" +
                Differences(want, got));
  }
  if (std::string problem = CheckOneMoreAppend(store, w.universe); !problem.empty()) {
    report.Line(problem);
  }
}

// ---------------------------------------------------------------------------
// The parent

struct SeedOutcome {
  std::vector<std::string> problems;
  WriterLog writer;
  std::optional<std::size_t> recovered;
  std::string dir;
};

void CheckRecovery(const Workload& w, const std::vector<std::string>& expected,
                   const std::string& path, CrashMode mode, SeedOutcome* outcome) {
  const std::size_t acked = outcome->writer.acked;
  const std::size_t sent = outcome->writer.sent;
  const ChildOutcome verifier = RunInChild(
      [&](int fd) { RunVerifier(w, expected, path, mode, acked, sent, fd); }, kChildDeadline);
  std::istringstream report(verifier.output);
  std::string first;
  std::getline(report, first);
  if (first.rfind("recovered ", 0) == 0 && first != "recovered none") {
    outcome->recovered = std::stoull(first.substr(10));
  }
  std::string rest((std::istreambuf_iterator<char>(report)), std::istreambuf_iterator<char>());
  if (first == "recovered none" || !rest.empty()) outcome->problems.push_back(rest);
  if (!verifier.exited || verifier.exit_code != 0) {
    outcome->problems.push_back("the verifier ended with " + verifier.Describe() +
                                (first.empty() ? "" : " after reporting: " + first));
  }
}

SeedOutcome RunSeed(std::uint64_t seed, CrashMode mode, bool staged, const ScratchDir& base) {
  const Workload w = WorkloadGenerator(seed).Generate();
  const std::vector<std::string> expected = ModelResults(w);
  SeedOutcome outcome;
  outcome.dir = base.File("seed-" + std::to_string(seed));
  const ChildOutcome writer =
      RunInChild([&](int fd) { RunWriter(w, outcome.dir, mode, staged, fd); }, kChildDeadline);
  outcome.writer = ParseWriterLog(writer, expected);
  outcome.problems = outcome.writer.problems;
  CheckRecovery(w, expected, outcome.dir, mode, &outcome);
  if (outcome.problems.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(outcome.dir, ignored);
  }
  return outcome;
}

// How the seeds went, printed after each test case.
struct Tally {
  int seeds = 0;
  int failed = 0;
  int ran_out = 0;     // crashed at the workload's end
  int torn = 0;        // crashed inside a sync
  int in_open = 0;     // crashed before the first batch began
  int lost_sent = 0;   // recovered K == sent - 1 == acked: the batch in flight was lost
  std::size_t batches = 0;

  void Add(const SeedOutcome& o) {
    ++seeds;
    failed += o.problems.empty() ? 0 : 1;
    ran_out += o.writer.ran_out ? 1 : 0;
    torn += o.writer.crash.find("torn") != std::string::npos ? 1 : 0;
    in_open += o.writer.sent == 0 ? 1 : 0;
    lost_sent += o.recovered && o.writer.sent > o.writer.acked && *o.recovered == o.writer.acked;
    batches += o.writer.acked;
  }
  std::string Summary() const {
    std::ostringstream out;
    out << seeds << " seeds, " << failed << " failed; crashed: " << in_open << " in open, "
        << torn << " in a torn sync, " << ran_out << " at the workload's end; " << lost_sent
        << " lost the batch in flight; " << batches << " batches acknowledged in all";
    return out.str();
  }
};

std::optional<std::uint64_t> EnvNumber(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::stoull(v);
}

// The seeds to run: COURIER_POWERLOSS_SEED alone, or 1..n.
std::vector<std::uint64_t> Seeds(std::uint64_t divisor) {
  if (auto one = EnvNumber("COURIER_POWERLOSS_SEED")) return {*one};
#ifdef NDEBUG
  const std::uint64_t fallback = 2000;
#else
  const std::uint64_t fallback = 200;
#endif
  const std::uint64_t n = std::max<std::uint64_t>(
      1, EnvNumber("COURIER_POWERLOSS_SEEDS").value_or(fallback) / divisor);
  std::vector<std::uint64_t> seeds;
  for (std::uint64_t s = 1; s <= n; ++s) seeds.push_back(s);
  return seeds;
}

void RunSeeds(CrashMode mode, std::uint64_t divisor, bool staged = false) {
  ScratchDir base;
  Tally tally;
  const auto start = std::chrono::steady_clock::now();
  for (const std::uint64_t seed : Seeds(divisor)) {
    const SeedOutcome outcome = RunSeed(seed, mode, staged, base);
    tally.Add(outcome);
    if (outcome.problems.empty()) continue;
    base.Keep();
    std::string text;
    for (const std::string& p : outcome.problems) text += "\n  " + p;
    INFO("seed " << seed);
    FAIL_CHECK("seed " << seed << " (writer: sent " << outcome.writer.sent << ", acked "
                       << outcome.writer.acked << ", crash: " << outcome.writer.crash
                       << "):" << text << "\n  database kept in " << outcome.dir
                       << "\n  rerun: COURIER_POWERLOSS_SEED=" << seed);
    if (tally.failed >= kMaxFailingSeeds) break;
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start).count();
  std::cout << (mode == CrashMode::kPowerLoss ? "power loss" : "process crash")
            << (staged ? ", staged writes: " : ": ")
            << tally.Summary() << "; " << ms << " ms\n";
}

TEST_CASE("RocksdbStore: a power cut anywhere loses no acknowledged batch and no half batch",
          "[rocksdb][power_loss]") {
  RunSeeds(CrashMode::kPowerLoss, 1);
}

TEST_CASE("RocksdbStore: a power cut anywhere during staged writes loses no synced batch and "
          "no half batch",
          "[rocksdb][power_loss][staged]") {
  RunSeeds(CrashMode::kPowerLoss, 2, /*staged=*/true);
}

TEST_CASE("RocksdbStore: a process crash anywhere (kProcessCrash) loses no returned batch",
          "[rocksdb][power_loss]") {
  RunSeeds(CrashMode::kProcessCrash, 4);
}

}  // namespace
}  // namespace courier::rocksdb
