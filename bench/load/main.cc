// courier-load: drives courier-server over real WebSocket connections on
// loopback through the workloads of BENCH.md and prints one line per figure,
// "<system> <workload> <figure> <value>", on standard output; everything
// else goes to standard error. Every workload verifies what it measured
// (all messages arrived, in seq order, none lost, none twice) before its
// figures are printed; otherwise courier-load exits with status 1.
//
// With no arguments it runs W1..W5 against a courier-server it starts
// itself (the one built beside it, or --server PATH) on a fresh data dir,
// with the rate limit raised by flag, and stops it with SIGTERM after.
// --store rocksdb|sqlite|memory picks the embedded store it gives that
// server (default rocksdb, the server's own default). memory is NOT durable:
// the accounts are then made through the HTTP API, W5 cannot run, W4 must
// come last (its restart empties the store), and every figure line ends
// with "not-durable".
// --connect HOST:PORT uses a running server instead (W4 then needs
// --server-pid; W5 cannot run).
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "courier/version.h"
#include "accounts.h"
#include "http_client.h"
#include "server_process.h"
#include "workload_common.h"
#include "ws_client.h"

#ifndef COURIER_LOAD_DEFAULT_SERVER
#define COURIER_LOAD_DEFAULT_SERVER ""
#endif

namespace courier::load {
namespace {

struct Flags {
  std::string server = COURIER_LOAD_DEFAULT_SERVER;
  std::string connect;
  int server_pid = 0;
  std::string workloads;  // "": W1..W5 (W1..W4 on --store memory)
  std::string setup;  // store | http; default store for an own server
  std::string store = "rocksdb";  // rocksdb | sqlite | memory: the own server's store
  std::string data_dir;
  bool keep_data = false;
  std::string system = "courier";
  std::string latency_out;
  std::vector<std::string> server_args;
  std::size_t threads = 0;
  int stall_timeout_s = 60;
  Sizes sizes;
};

std::string BesideMe() {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  return (self.parent_path() / "courier-server").string();
}

std::string RandomPrefix() {
  std::random_device rd;
  static const char kHex[] = "0123456789abcdef";
  std::string p = "L";
  for (int i = 0; i < 6; ++i) p += kHex[rd() % 16];
  return p + "_";
}

// The engine's commit counters from GET /metrics on the server's admin
// address (name -> value); none for a server given by --connect.
absl::flat_hash_map<std::string, double> CommitMetrics(const ServerProcess* server) {
  absl::flat_hash_map<std::string, double> m;
  if (server == nullptr || server->admin_address().empty()) return m;
  std::optional<tcp::endpoint> endpoint = ParseEndpoint(server->admin_address());
  if (!endpoint) return m;
  HttpClient http(*endpoint);
  absl::StatusOr<HttpAnswer> a = http.Get("/metrics");
  if (!a.ok() || a->status != 200) return m;
  for (absl::string_view line : absl::StrSplit(a->body, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const std::size_t sp = line.rfind(' ');
    if (sp == absl::string_view::npos) continue;
    std::string name(line.substr(0, sp));
    if (name.rfind("courier_commit", 0) != 0 && name.rfind("courier_frames", 0) != 0) continue;
    double v = 0;
    if (absl::SimpleAtod(line.substr(sp + 1), &v)) m[name] = v;
  }
  return m;
}

void LogCommits(const std::string& what, const absl::flat_hash_map<std::string, double>& a,
                const absl::flat_hash_map<std::string, double>& b) {
  auto d = [&](const char* k) {
    auto ia = a.find(k);
    auto ib = b.find(k);
    return (ib == b.end() ? 0 : ib->second) - (ia == a.end() ? 0 : ia->second);
  };
  const double commits = d("courier_commits_total");
  if (commits <= 0) return;
  std::cerr << absl::StrFormat(
      "courier-load: %s: server did %.0f commits of %.1f ops on average, %.2f ms each; "
      "%.0f frames in, %.0f frames out\n",
      what, commits, d("courier_committed_ops_total") / commits,
      d("courier_commit_latency_seconds_total") / commits * 1000, d("courier_frames_in_total"),
      d("courier_frames_out_total"));
}

int Fail(const std::string& what) {
  std::cerr << "courier-load: FAILED: " << what << "\n";
  return 1;
}

int Run(const Flags& f) {
  const std::uint64_t nofile = RaiseOpenFilesLimit();
  const std::size_t threads =
      f.threads > 0 ? f.threads : std::max(1u, std::thread::hardware_concurrency());
  std::cerr << "courier-load: open files limit " << nofile << ", " << threads << " io threads, "
            << std::thread::hardware_concurrency() << " cores, allocator " << COURIER_ALLOCATOR_NAME
            << "\n";

  const bool own = f.connect.empty();
  // A server on --store memory keeps nothing: not when it stops, not when it
  // is killed. Its figures measure the network path without a store's
  // durability, and say so on every line.
  const bool memory = own && f.store == "memory";
  if (memory) {
    std::cerr << "courier-load: --store memory: the server keeps everything in its memory, NOT "
                 "durable; every figure line ends with \"not-durable\"\n";
  }

  // --- the workloads, in the order asked
  const std::string asked =
      !f.workloads.empty() ? f.workloads : memory ? "W1,W2,W3,W4" : "W1,W2,W3,W4,W5";
  absl::StatusOr<WorkloadList> list = ExpandWorkloads(asked);
  if (!list.ok()) return Fail(std::string(list.status().message()));
  for (const std::string& w : list->repeated) {
    std::cerr << "courier-load: " << w << " is asked more than once: it runs once\n";
  }
  std::vector<std::unique_ptr<Workload>> workloads;
  for (const std::string& w : list->names) {
    if (w == "W1") {
      workloads.push_back(MakeW1Online());
    } else if (w == "W2") {
      workloads.push_back(MakeW2Drain());
    } else if (w == "W3" || w == "W3paced") {
      workloads.push_back(MakeW3Storm(/*paced=*/w == "W3paced"));
    } else if (w == "W4") {
      workloads.push_back(MakeW4Idle());
    } else {
      workloads.push_back(MakeW5Crash());
    }
  }
  for (std::size_t i = 0; i < workloads.size(); ++i) {
    const std::string name = workloads[i]->name();
    if (!own && name == "W5") return Fail("W5 needs the server courier-load starts (no --connect)");
    if (memory && name == "W5") {
      return Fail("W5 measures what survives kill -9: --store memory keeps nothing; leave W5 out");
    }
    if (memory && name == "W4" && i + 1 < workloads.size()) {
      return Fail("--store memory: W4 restarts the server, which empties its store: put W4 last");
    }
  }
  const std::string setup = f.setup.empty() ? (own && !memory ? "store" : "http") : f.setup;
  if (setup == "store" && !own) return Fail("--setup store needs the server courier-load starts");
  if (setup == "store" && memory) {
    return Fail("--setup store: a server on --store memory has its accounts in its memory; "
                "they are made through the HTTP API (--setup http, the default)");
  }

  Context ctx;
  ServerSyscalls server_syscalls;
  ctx.syscalls = &server_syscalls;
  ctx.sizes = f.sizes;
  ctx.prefix = RandomPrefix();
  ctx.latency_out = f.latency_out;
  ctx.stall_timeout = std::chrono::seconds(f.stall_timeout_s);
  Plan plan;
  for (const auto& w : workloads) w->AddAccounts(plan, ctx);

  // --- the server
  std::string data_dir = f.data_dir;
  bool made_dir = false;
  std::unique_ptr<ServerProcess> server;
  if (own) {
    if (data_dir.empty()) {
      std::string tmpl = (std::filesystem::temp_directory_path() / "courier-load-XXXXXX").string();
      if (mkdtemp(tmpl.data()) == nullptr) return Fail("cannot make a temporary data dir");
      data_dir = tmpl;
      made_dir = true;
    } else {
      std::filesystem::create_directories(data_dir);
    }
    const std::string secret = data_dir + "/jwt-secret";
    // The store's URL, given to the server and used for seeding.
    const std::string store_url = f.store == "sqlite"   ? "sqlite:" + data_dir + "/courier.db"
                                  : f.store == "memory" ? std::string("memory")
                                                        : "rocksdb:" + data_dir + "/rocksdb";
    if (absl::Status s = WriteSecretFile(secret); !s.ok()) return Fail(std::string(s.message()));
    if (setup == "store") {
      const auto t0 = SteadyClock::now();
      if (absl::Status s = SeedStore(store_url, secret, plan); !s.ok()) {
        return Fail(absl::StrCat("seeding the store: ", s.message()));
      }
      std::cerr << "courier-load: " << plan.users.size() << " users, " << plan.friendships.size()
                << " friendships written to " << store_url << " in "
                << Seconds(SteadyClock::now() - t0) << " s\n";
    }
    const std::size_t max_undelivered = std::max<std::size_t>(100'000, 2 * f.sizes.messages);
    std::vector<std::string> args{"--data-dir", data_dir, "--store", store_url,
                                  "--jwt-secret-file", secret,
                                  "--rate-limit", "1000000000/1",
                                  "--max-undelivered", std::to_string(max_undelivered),
                                  "--idle-timeout-ms", "600000",
                                  "--log-level", "warn"};
    args.insert(args.end(), f.server_args.begin(), f.server_args.end());
    const std::string program = f.server.empty() ? BesideMe() : f.server;
    server = std::make_unique<ServerProcess>(program, args);
    ctx.server = server.get();
    ctx.restart = [&ctx, &server](bool kill) -> absl::Status {
      if (kill) {
        server->Kill();
      } else if (absl::Status s = server->Stop(); !s.ok()) {
        return s;
      }
      absl::StatusOr<std::string> address = server->Start();
      if (!address.ok()) return address.status();
      std::optional<tcp::endpoint> ep = ParseEndpoint(*address);
      if (!ep) return absl::InternalError("bad listening address " + *address);
      ctx.endpoint = *ep;
      ctx.server_pid = server->pid();
      std::cerr << "courier-load: courier-server restarted (pid " << ctx.server_pid << ") on "
                << *address << "\n";
      return absl::OkStatus();
    };
    absl::StatusOr<std::string> address = server->Start();
    if (!address.ok()) return Fail(std::string(address.status().message()));
    ctx.endpoint = *ParseEndpoint(*address);
    ctx.server_pid = server->pid();
    std::cerr << "courier-load: courier-server " << program << " (pid " << ctx.server_pid
              << ") on " << *address << ", data dir " << data_dir << "\n";
  } else {
    std::optional<tcp::endpoint> ep = ParseEndpoint(f.connect);
    if (!ep) return Fail("--connect must be a numeric HOST:PORT, got " + f.connect);
    ctx.endpoint = *ep;
    ctx.server_pid = f.server_pid;
  }
  if (setup == "http") {
    const auto t0 = SteadyClock::now();
    // On --store memory: register the befriended users only, sign the tokens
    // here (accounts.h).
    const std::string secret = memory ? data_dir + "/jwt-secret" : "";
    ctx.memory_jwt_secret = secret;
    if (absl::Status s = SeedHttp(ctx.endpoint, plan, 4, secret); !s.ok()) {
      return Fail(absl::StrCat("HTTP set-up: ", s.message()));
    }
    std::cerr << "courier-load: " << plan.users.size()
              << (memory ? " users (those with friends registered, tokens signed here), "
                         : " users registered and logged in, ")
              << plan.friendships.size() << " friendships made over HTTP in "
              << Seconds(SteadyClock::now() - t0) << " s\n";
  }

  // --- the runs
  int status = 0;
  {
    IoPool io(threads);
    ctx.io = &io;
    Figures figures(f.system, memory ? "not-durable" : "");
    for (const auto& w : workloads) {
      std::cerr << "courier-load: running " << w->name() << "\n";
      const auto m0 = CommitMetrics(ctx.server);
      absl::Status s = w->Run(ctx, figures);
      if (s.ok()) LogCommits(w->name(), m0, CommitMetrics(ctx.server));
      if (!s.ok()) {
        status = Fail(absl::StrCat(w->name(), ": ", s.message()));
        break;
      }
    }
    if (status == 0 && figures.refused() > 0) {
      status = Fail(absl::StrCat(figures.refused(),
                                 " figure(s) could not be measured and were not printed (above)"));
    }
  }
  if (server != nullptr) {
    if (absl::Status s = server->Stop(); !s.ok() && status == 0) {
      status = Fail(std::string(s.message()));
    }
  }
  if (made_dir && !f.keep_data) {
    std::error_code ec;
    std::filesystem::remove_all(data_dir, ec);
  }
  return status;
}

}  // namespace
}  // namespace courier::load

int main(int argc, char** argv) {
  courier::load::Flags f;
  CLI::App app{"courier-load: the BENCH.md workloads against courier-server", "courier-load"};
  app.option_defaults()->always_capture_default();
  app.set_version_flag("--version", std::string("courier-load ") + courier::kVersion + " (commit " +
                                         courier::kGitCommit + ")");
  app.add_option("--server", f.server, "courier-server to start (default: the one built beside)");
  app.add_option("--connect", f.connect, "HOST:PORT of a running server instead");
  app.add_option("--store", f.store,
                 "the started server's embedded store (ignored with --connect); memory is NOT "
                 "durable: no W5, W4 last, every figure line ends with not-durable")
      ->check(CLI::IsMember({"rocksdb", "sqlite", "memory"}));
  app.add_option("--server-pid", f.server_pid,
                 "with --connect: its pid, for the CPU, context switch, syscall and RSS figures");
  app.add_option("--workloads", f.workloads,
                 "comma-separated: W1,W2,W3,W3paced,W4,W5 (default all; W1..W4 on --store memory)");
  app.add_option("--pairs", f.sizes.pairs, "W1: pairs P")->check(CLI::Range(1, 100000));
  app.add_option("--per-sender", f.sizes.per_sender, "W1: messages per sender K")
      ->check(CLI::Range(1, 10000000));
  app.add_option("--messages", f.sizes.messages, "W2/W5: messages M")->check(CLI::Range(1, 100000000));
  app.add_option("--users", f.sizes.users, "W3: offline users U")->check(CLI::Range(1, 100000));
  app.add_option("--conns", f.sizes.conns, "W4: idle connections C")->check(CLI::Range(1, 100000));
  app.add_option("--setup", f.setup, "store: seed the fresh store directly; http: the HTTP API")
      ->check(CLI::IsMember({"store", "http"}));
  app.add_option("--data-dir", f.data_dir, "the server's data dir (default: a fresh temporary one)");
  app.add_flag("--keep-data", f.keep_data, "keep the temporary data dir");
  app.add_option("--system", f.system, "first word of every figure line");
  app.add_option("--latency-out", f.latency_out, "W1: write every latency (ms) to this file");
  app.add_option("--server-arg", f.server_args, "extra flag for the server (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--threads", f.threads, "io threads (default: one per core)");
  app.add_option("--stall-timeout", f.stall_timeout_s, "fail after this many seconds without progress")
      ->check(CLI::Range(1, 3600));
  CLI11_PARSE(app, argc, argv);
  return courier::load::Run(f);
}
