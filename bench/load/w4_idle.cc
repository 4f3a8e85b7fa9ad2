// w4_idle.cc: W4, C idle authenticated connections. Figure: rss_bytes_per_conn,
// the server's VmRSS growth from before the first connect to after the last
// welcome (plus a second to settle), divided by C. When courier-load runs
// the server, W4 restarts it first (same data dir), so that memory freed by
// earlier workloads does not hide the connections' cost.
//
// On --store memory that restart empties the accounts, and the server
// refuses a token whose account does not exist. Registering C users would
// cost C Argon2id hashes (64 MiB each), so W4 there registers kMemoryUsers
// users after the restart and opens its C connections as devices of them
// (connection i: user i % kMemoryUsers, device "w4d<i>"). The per-user state
// is then shared by C / kMemoryUsers connections: on memory, the figure is a
// lower bound of a connection's cost.
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "workload_common.h"

namespace courier::load {
namespace {

struct Shared : PhaseShared {
  std::atomic<std::size_t> welcomed{0};
  std::atomic<std::size_t> started{0};
  std::atomic<bool> closing{false};
};

// Users W4 registers on a memory store (above): an even number.
constexpr std::size_t kMemoryUsers = 8;

class W4Idle final : public Workload {
 public:
  std::string name() const override { return "W4"; }

  void AddAccounts(Plan& plan, const Context& ctx) override {
    users_.clear();
    for (std::size_t i = 0; i < ctx.sizes.conns; ++i) {
      users_.push_back(plan.AddUser(absl::StrCat(ctx.prefix, "w4u", i)));
    }
    plan_ = &plan;
  }

  absl::Status Run(Context& ctx, Figures& figures) override {
    if (ctx.server_pid <= 0) {
      return absl::FailedPreconditionError("W4 reads the server's /proc/PID/status: give --server-pid");
    }
    if (ctx.restart) {
      if (absl::Status s = ctx.restart(/*kill=*/false); !s.ok()) return s;
    }
    std::vector<std::string> tokens;  // connection i's token
    if (!ctx.memory_jwt_secret.empty()) {
      Plan fresh;  // the users of this server's (now empty) memory store
      for (std::size_t j = 0; j < kMemoryUsers; ++j) {
        fresh.AddUser(absl::StrCat(ctx.prefix, "w4m", j));
        if (j % 2 == 1) fresh.AddFriends(j - 1, j);  // befriended: SeedHttp registers them
      }
      if (absl::Status s = SeedHttp(ctx.endpoint, fresh, 4, ctx.memory_jwt_secret); !s.ok()) {
        return s;
      }
      for (std::size_t i = 0; i < users_.size(); ++i) {
        tokens.push_back(fresh.users[i % kMemoryUsers].token);
      }
    } else {
      for (std::size_t u : users_) tokens.push_back(plan_->users[u].token);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    absl::StatusOr<std::uint64_t> before = ProcessRssBytes(ctx.server_pid);
    if (!before.ok()) return before.status();

    auto sh = std::make_shared<Shared>();
    std::vector<std::shared_ptr<WsConn>> conns;
    conns.reserve(users_.size());
    constexpr std::size_t kBatch = 200;  // connecting at once
    absl::Status s;
    for (std::size_t i = 0; i < users_.size() && s.ok(); ++i) {
      WsConn::Callbacks cb;
      cb.on_frame = [sh](WsConn&, const InFrame& f) {
        if (f.op == InFrame::Op::kWelcome) sh->welcomed.fetch_add(1);
        if (f.op == InFrame::Op::kError) sh->failure.Set(absl::StrCat("W4: error ", std::string(f.code)));
      };
      cb.on_end = [sh](WsConn&, beast::error_code ec, std::string_view where) {
        sh->ended.fetch_add(1);
        if (ec && !sh->closing.load()) {
          sh->failure.Set(absl::StrCat("W4 connection: ", std::string(where), ": ", ec.message()));
        }
      };
      conns.push_back(std::make_shared<WsConn>(ctx.io->Next(), ctx.endpoint, std::move(cb)));
      conns.back()->Start(HelloJson(
          tokens[i], ctx.memory_jwt_secret.empty() ? std::string("load") : absl::StrCat("w4d", i)));
      sh->started.fetch_add(1);
      if (sh->started.load() - sh->welcomed.load() >= kBatch) {
        s = WaitFor(
            ctx, sh->failure, [&] { return sh->started.load() - sh->welcomed.load() < kBatch / 2; },
            [&] { return sh->welcomed.load(); }, [&] { return Describe(*sh); });
      }
    }
    if (s.ok()) {
      s = WaitFor(
          ctx, sh->failure, [&] { return sh->welcomed.load() == users_.size(); },
          [&] { return sh->welcomed.load(); }, [&] { return Describe(*sh); });
    }
    absl::StatusOr<std::uint64_t> after = absl::UnknownError("not measured");
    if (s.ok()) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      after = ProcessRssBytes(ctx.server_pid);
      if (sh->failure.failed()) s = absl::InternalError(sh->failure.why());
    }
    sh->closing.store(true);
    for (auto& c : conns) c->Close();
    PollUntil([&] { return sh->ended.load() >= conns.size(); }, std::chrono::seconds(30));
    if (!s.ok()) return s;
    if (!after.ok()) return after.status();
    const double per_conn =
        (static_cast<double>(*after) - static_cast<double>(*before)) / static_cast<double>(users_.size());
    std::cerr << "courier-load: W4: server RSS " << *before / 1024 << " KiB -> " << *after / 1024
              << " KiB with " << users_.size() << " connections\n";
    figures.Add("W4", "rss_bytes_per_conn", per_conn);
    return absl::OkStatus();
  }

 private:
  std::string Describe(const Shared& sh) const {
    return absl::StrCat("W4: ", sh.started.load(), " started, ", sh.welcomed.load(), "/",
                        users_.size(), " welcomed");
  }

  std::vector<std::size_t> users_;
  const Plan* plan_ = nullptr;
};

}  // namespace

std::unique_ptr<Workload> MakeW4Idle() { return std::make_unique<W4Idle>(); }

}  // namespace courier::load
