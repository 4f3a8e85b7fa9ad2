// workload_common.h: what every workload of BENCH.md shares.
//
// Sizes (the flags), the run Context (io threads, server address and
// process), Figures (the only lines on standard output), and the helpers
// that several workloads use: frames, bodies, the per-inbox order check,
// CPU meters, the wait loop, and two building blocks:
//   Enqueue  senders connect and send their messages, each keeping up to
//            `window` sends without their `sent`; every send must be
//            answered `sent` (not dup, no error).
//   Drain    recipients connect (all at once, or at most `pace` connecting
//            at any moment) and receive their queued messages, acking as
//            they go (cumulatively, every 32 events until `synced`, then
//            each); each inbox is checked for order, loss and duplicates.
#ifndef COURIER_BENCH_LOAD_WORKLOAD_COMMON_H_
#define COURIER_BENCH_LOAD_WORKLOAD_COMMON_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "accounts.h"
#include "proc_stats.h"
#include "server_process.h"
#include "syscall_counter.h"
#include "ws_client.h"

namespace courier::load {

struct Sizes {
  std::size_t pairs = 200;          // W1 P
  std::size_t per_sender = 500;     // W1 K
  std::size_t messages = 100'000;   // W2/W5 M
  std::size_t users = 2'000;        // W3 U
  std::size_t conns = 5'000;        // W4 C
  std::size_t w2_senders = 10;
  std::size_t w2_window = 50;
  std::size_t w3_queued = 10;       // per W3 user
  std::size_t w3_pace = 100;        // W3paced: connecting at once
  std::size_t body_bytes = 100;
};

// The only lines on standard output: "<system> <workload> <figure> <value>",
// and "<system> <workload> <figure> <value> <note>" when the run has a note
// (`not-durable` for a server on --store memory).
class Figures {
 public:
  explicit Figures(std::string system, std::string note = "")
      : system_(std::move(system)), note_(std::move(note)) {}
  void Add(const std::string& workload, const std::string& figure, const std::string& value);
  void Add(const std::string& workload, const std::string& figure, double value);
  // A figure that could not be measured: `why` on standard error, no line on
  // standard output; courier-load then exits with status 1.
  void Refuse(const std::string& workload, const std::string& figure, const absl::Status& why);
  std::size_t refused() const { return refused_; }

 private:
  std::string system_;
  std::string note_;
  std::size_t refused_ = 0;
};

struct Context {
  Sizes sizes;
  IoPool* io = nullptr;
  tcp::endpoint endpoint;
  pid_t server_pid = 0;            // 0: unknown (no CPU/RSS figures possible)
  ServerProcess* server = nullptr; // null with --connect
  // The server's read/write system calls, from the syscall tracepoints
  // (syscall_counter.h); null, or tracepoints not usable: /proc/PID/io's
  // syscr + syscw, which miss socket calls (recvfrom, sendmsg ...).
  ServerSyscalls* syscalls = nullptr;
  std::string prefix;              // of every user name of this run
  std::string latency_out;         // W1: file for every latency (ms), or ""
  std::chrono::seconds stall_timeout{60};
  // Set for a server on --store memory that courier-load started: the data
  // dir's JWT secret, with which tokens are signed here (accounts.h). Such a
  // server's restart empties its accounts.
  std::string memory_jwt_secret;
  // Restarts the server on the same data dir after `kill` (SIGKILL) or a
  // clean stop; updates endpoint and server_pid.
  std::function<absl::Status(bool kill)> restart;
};

class Workload {
 public:
  virtual ~Workload() = default;
  virtual std::string name() const = 0;
  // Adds the users and friendships this workload needs.
  virtual void AddAccounts(Plan& plan, const Context& ctx) = 0;
  // Runs and verifies; adds figures only when everything checked out.
  virtual absl::Status Run(Context& ctx, Figures& figures) = 0;
};

// The workloads of a --workloads list, in order: "W3" is W3 then W3paced.
// A workload named twice (by itself, or through W3) runs once, at its first
// place, and is listed in `repeated`: every workload's accounts are made once
// and used by one run (two runs of one would make the same accounts twice,
// and the second's inboxes would start where the first left them).
struct WorkloadList {
  std::vector<std::string> names;
  std::vector<std::string> repeated;
};
// kInvalidArgument for a name that is not a workload.
absl::StatusOr<WorkloadList> ExpandWorkloads(std::string_view asked);

std::unique_ptr<Workload> MakeW1Online();
std::unique_ptr<Workload> MakeW2Drain();
std::unique_ptr<Workload> MakeW3Storm(bool paced);
std::unique_ptr<Workload> MakeW4Idle();
std::unique_ptr<Workload> MakeW5Crash();

// --- frames and bodies
std::string HelloJson(const std::string& token, const std::string& device);
// "<tag>:<index>:" padded with 'x' to `bytes` (at least the prefix).
std::string Body(std::size_t tag, std::size_t index, std::size_t bytes);
// Appends {"op":"send","cid":"c<cid>","to":"<to>","body":"<Body(tag, index,
// bytes)>"} to `out`, built in place (no allocation once `out` has grown).
void AppendSendJson(std::string& out, std::size_t cid, std::string_view to, std::size_t tag,
                    std::size_t index, std::size_t bytes);
// Parses Body's tag and index; false when the body is not one of ours.
bool ParseBody(std::string_view body, std::size_t& tag, std::size_t& index);

// Order and loss check of one inbox (seq 1, 2, 3... and each sender's
// messages in their send order).
struct InboxCheck {
  std::uint64_t next_seq = 1;
  std::vector<std::size_t> next_index;  // per sender tag
  std::uint64_t received = 0;           // distinct messages
  std::uint64_t dup = 0;                // a seq seen before
  std::uint64_t reordered = 0;          // a seq skipped ahead, or a sender's order broken
  std::uint64_t foreign = 0;            // a body that is not ours
  // Returns true when the message is new.
  bool OnMsg(std::uint64_t seq, std::string_view body);
};

// --- measuring
// The server's counters (proc_stats.h) and courier-load's own CPU, read at
// one point: the start or the end of a measured phase.
struct CpuSample {
  pid_t server_pid = 0;  // whose counters these are; 0: unknown, none read
  absl::StatusOr<std::uint64_t> server_us = absl::UnknownError("not read");
  absl::StatusOr<ThreadSwitches> server_switches = absl::UnknownError("not read");
  // Thread by thread, for the breakdown on stderr only.
  absl::StatusOr<ThreadDetails> server_threads = absl::UnknownError("not read");
  absl::StatusOr<ProcIo> server_io = absl::UnknownError("not read");
  bool io_from_tracepoints = false;  // server_io: tracepoints, or /proc/PID/io
  std::uint64_t client_us = 0;
  std::uint64_t client_switches = 0;  // courier-load's voluntary + involuntary
  SteadyClock::time_point at;
};
CpuSample SampleCpu(const Context& ctx);

// The server's figures per message between two samples. Each is checked
// before it can be printed: both readings made, of the same process, the
// counters not going backwards, no server thread lost (context switches),
// at least one message; otherwise it holds why not.
struct ServerPerMsg {
  bool known = false;  // false: no server pid (--connect without --server-pid)
  absl::StatusOr<double> cpu_us = absl::UnknownError("not measured");
  absl::StatusOr<double> ctx_switches = absl::UnknownError("not measured");
  absl::StatusOr<double> syscalls = absl::UnknownError("not measured");
};
// Logs client vs server CPU, the server's context switches and read/write
// system calls between two samples to stderr; returns the server's figures.
ServerPerMsg ReportCpu(const Context& ctx, const std::string& what, const CpuSample& a,
                       const CpuSample& b, std::uint64_t messages);
// server_cpu_us_per_msg, server_ctx_switches_per_msg, server_syscalls_per_msg:
// added when measured, refused (Figures::Refuse) when they could not be;
// nothing when the server is unknown.
void AddServerFigures(Figures& figures, const std::string& workload, const ServerPerMsg& m);

// A first error shared by many connections.
class Failure {
 public:
  void Set(std::string why);
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  std::string why() const;

 private:
  std::atomic<bool> failed_{false};
  mutable std::mutex mu_;
  std::string why_;
};

// Waits until done() or a failure; fails when progress() stays the same for
// ctx.stall_timeout. describe() says where it stood.
absl::Status WaitFor(const Context& ctx, const Failure& failure, const std::function<bool()>& done,
                     const std::function<std::uint64_t()>& progress,
                     const std::function<std::string()>& describe);

// What the connections of one phase share with the thread that runs it,
// besides the phase's own counters: the first failure, and how many
// connections have ended (their on_end ran).
struct PhaseShared {
  Failure failure;
  std::atomic<std::size_t> ended{0};
};

// Calls done() every millisecond until it is true or `limit` has passed;
// its last answer. (For the bounded waits on closes.)
bool PollUntil(const std::function<bool()>& done, SteadyClock::duration limit);

double Seconds(SteadyClock::duration d);

// --- building blocks

struct EnqueueResult {
  double seconds = 0;          // first send to the last `sent`
  std::uint64_t messages = 0;  // all answered `sent`
};

struct SenderJob {
  const Account* sender = nullptr;
  std::size_t tag = 0;                        // the body tag recipients check
  std::vector<const Account*> to;             // round-robin recipients
  std::size_t count = 0;                      // messages to send
};

// Connects the senders, sends every job's messages with up to `window`
// outstanding per sender, waits for every `sent`, then closes them.
// `on_all_sent` runs on an io thread right after the last `sent` (W5 kills
// the server there).
absl::StatusOr<EnqueueResult> Enqueue(Context& ctx, const std::vector<SenderJob>& jobs,
                                      std::size_t window,
                                      std::function<void()> on_all_sent = {});

struct DrainJob {
  const Account* recipient = nullptr;
  std::uint64_t expected = 0;  // messages queued for it
  std::size_t senders = 0;     // distinct sender tags (0..senders-1)
};

struct DrainResult {
  double seconds = 0;                 // first hello (or connect) to the last ack written
  std::uint64_t received = 0, dup = 0, reordered = 0, lost = 0, foreign = 0;
  std::uint64_t connect_failures = 0;
};

// Connects the recipients (at most `pace` connecting at once; 0 = all at
// once) and waits until each has received `expected` messages and written
// the ack of the last one. Timing starts at the first connect when
// `from_connect`, else at the first hello.
absl::StatusOr<DrainResult> Drain(Context& ctx, const std::vector<DrainJob>& jobs,
                                  std::size_t pace, bool from_connect);

}  // namespace courier::load

#endif  // COURIER_BENCH_LOAD_WORKLOAD_COMMON_H_
