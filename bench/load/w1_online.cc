// w1_online.cc: W1, P pairs of connected users; each sender sends K messages
// to its partner, one at a time (the next when the previous is `sent`); the
// partner acks as it receives. Figures: delivered msgs_per_s (first send to
// last receipt), p50_ms and p99_ms from send to receipt, server_cpu_us_per_msg,
// server_ctx_switches_per_msg and server_syscalls_per_msg.
#include <algorithm>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "workload_common.h"

namespace courier::load {
namespace {

struct Pair {
  std::size_t sender = 0, recipient = 0;  // plan indices
  std::shared_ptr<WsConn> out, in;
  std::size_t next = 0;                    // sender: next index to send
  std::vector<std::int64_t> sent_at_ns;    // sender: when message i went out
  std::vector<double> latency_ms;          // recipient: per message
  InboxCheck check;                        // recipient's inbox
  InboxCheck receipts;                     // sender's inbox (receipts)
  bool welcomed_out = false, welcomed_in = false;
};

struct Shared : PhaseShared {
  std::atomic<std::size_t> welcomed{0};
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::size_t> pairs_done{0};
  std::atomic<std::int64_t> last_receipt_ns{0};
  std::size_t per_sender = 0;
  std::size_t body_bytes = 100;
  std::vector<Pair> pairs;
  const Plan* plan = nullptr;
};

void SendNext(Shared& sh, Pair& p) {
  if (p.next >= sh.per_sender) return;
  const std::size_t i = p.next++;
  p.sent_at_ns[i] = SteadyClock::now().time_since_epoch().count();
  thread_local std::string frame;  // reused: no allocation per message
  frame.clear();
  AppendSendJson(frame, i, sh.plan->users[p.recipient].user, 0, i, sh.body_bytes);
  p.out->Send(frame);
}

class W1Online final : public Workload {
 public:
  std::string name() const override { return "W1"; }

  void AddAccounts(Plan& plan, const Context& ctx) override {
    for (std::size_t i = 0; i < ctx.sizes.pairs; ++i) {
      const std::size_t s = plan.AddUser(absl::StrCat(ctx.prefix, "w1s", i));
      const std::size_t r = plan.AddUser(absl::StrCat(ctx.prefix, "w1r", i));
      plan.AddFriends(s, r);
      indices_.emplace_back(s, r);
    }
    plan_ = &plan;
  }

  absl::Status Run(Context& ctx, Figures& figures) override {
    auto sh = std::make_shared<Shared>();
    sh->per_sender = ctx.sizes.per_sender;
    sh->body_bytes = ctx.sizes.body_bytes;
    sh->plan = plan_;
    sh->pairs.resize(indices_.size());
    for (std::size_t i = 0; i < indices_.size(); ++i) {
      Pair& p = sh->pairs[i];
      p.sender = indices_[i].first;
      p.recipient = indices_[i].second;
      // Atomic-free: the slot is written by the sender's thread before the
      // send and read by the recipient's thread after the message came
      // back through the server (a syscall boundary each way).
      p.sent_at_ns.assign(sh->per_sender, 0);
      p.latency_ms.reserve(sh->per_sender);
      p.check.next_index.assign(1, 0);
      p.receipts.next_index.assign(1, 0);
    }
    for (Pair& p : sh->pairs) {
      p.out = Connect(ctx, sh, p, /*sender=*/true);
      p.in = Connect(ctx, sh, p, /*sender=*/false);
    }
    const std::size_t conns = 2 * sh->pairs.size();
    const std::uint64_t total = sh->pairs.size() * sh->per_sender;
    auto describe = [&] {
      return absl::StrCat("W1: ", sh->welcomed.load(), "/", conns, " welcomed, ",
                          sh->delivered.load(), "/", total, " delivered");
    };
    absl::Status s = WaitFor(
        ctx, sh->failure, [&] { return sh->welcomed.load() == conns; },
        [&] { return sh->welcomed.load(); }, describe);
    CpuSample before{}, after{};
    SteadyClock::time_point first_send{};
    if (s.ok()) {
      before = SampleCpu(ctx);
      first_send = SteadyClock::now();
      for (Pair& p : sh->pairs) p.out->Post([sh, &p] { SendNext(*sh, p); });
      s = WaitFor(
          ctx, sh->failure, [&] { return sh->pairs_done.load() == sh->pairs.size(); },
          [&] { return sh->delivered.load(); }, describe);
      after = SampleCpu(ctx);
    }
    for (Pair& p : sh->pairs) {
      p.out->Close();
      p.in->Close();
    }
    PollUntil([&] { return sh->ended.load() >= conns; }, std::chrono::seconds(10));
    if (!s.ok()) return s;

    // Verify: every message arrived once, in order.
    std::uint64_t received = 0, dup = 0, reordered = 0, foreign = 0;
    std::vector<double> all;
    all.reserve(total);
    for (const Pair& p : sh->pairs) {
      received += p.check.received;
      dup += p.check.dup + p.receipts.dup;
      reordered += p.check.reordered;
      foreign += p.check.foreign;
      all.insert(all.end(), p.latency_ms.begin(), p.latency_ms.end());
    }
    if (received != total || dup != 0 || reordered != 0 || foreign != 0 || all.size() != total) {
      return absl::DataLossError(absl::StrCat("W1 check failed: received ", received, "/", total,
                                              ", dup ", dup, ", reordered ", reordered,
                                              ", foreign ", foreign));
    }
    std::sort(all.begin(), all.end());
    auto pct = [&](double q) {
      const std::size_t i = std::min(all.size() - 1, static_cast<std::size_t>(q * all.size()));
      return all[i];
    };
    const SteadyClock::time_point last{SteadyClock::duration(sh->last_receipt_ns.load())};
    const double secs = Seconds(last - first_send);
    const ServerPerMsg server = ReportCpu(ctx, "W1", before, after, total);
    if (!ctx.latency_out.empty()) {
      std::ofstream out(ctx.latency_out);
      for (double v : all) out << v << "\n";
    }
    std::cerr << "courier-load: W1: " << total << " messages over " << sh->pairs.size()
              << " pairs in " << secs << " s; max latency " << all.back() << " ms\n";
    figures.Add("W1", "msgs_per_s", static_cast<double>(total) / secs);
    figures.Add("W1", "p50_ms", pct(0.50));
    figures.Add("W1", "p99_ms", pct(0.99));
    AddServerFigures(figures, "W1", server);  // CPU, context switches, syscalls
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<WsConn> Connect(Context& ctx, const std::shared_ptr<Shared>& sh, Pair& p,
                                  bool sender) {
    WsConn::Callbacks cb;
    cb.on_frame = [sh, &p, sender](WsConn& c, const InFrame& f) {
      bool& welcomed = sender ? p.welcomed_out : p.welcomed_in;
      switch (f.op) {
        case InFrame::Op::kWelcome:
          if (!welcomed) {
            welcomed = true;
            (sender ? p.receipts : p.check).next_seq = f.cursor + 1;
            sh->welcomed.fetch_add(1);
          }
          break;
        case InFrame::Op::kSent:
          if (sender) SendNext(*sh, p);
          break;
        case InFrame::Op::kMsg: {
          const std::int64_t now = SteadyClock::now().time_since_epoch().count();
          std::size_t tag = 0, index = 0;
          if (!sender && p.check.OnMsg(f.seq, f.body) && ParseBody(f.body, tag, index) &&
              index < p.sent_at_ns.size()) {
            p.latency_ms.push_back(static_cast<double>(now - p.sent_at_ns[index]) / 1e6);
            sh->delivered.fetch_add(1);
            if (p.check.received == sh->per_sender) {
              std::int64_t prev = sh->last_receipt_ns.load();
              while (prev < now && !sh->last_receipt_ns.compare_exchange_weak(prev, now)) {
              }
              sh->pairs_done.fetch_add(1);
            }
          }
          c.Ack(f.seq);
          break;
        }
        case InFrame::Op::kReceipt:
          if (f.seq < p.receipts.next_seq) ++p.receipts.dup;
          p.receipts.next_seq = std::max(p.receipts.next_seq, f.seq + 1);
          c.Ack(f.seq);
          break;
        case InFrame::Op::kError:
          sh->failure.Set(absl::StrCat("W1 ", sender ? "sender" : "recipient", ": error ", std::string(f.code),
                                       ": ", std::string(f.message)));
          break;
        default:
          break;
      }
    };
    cb.on_end = [sh](WsConn&, beast::error_code ec, std::string_view where) {
      sh->ended.fetch_add(1);
      if (ec && sh->pairs_done.load() < sh->pairs.size()) {
        sh->failure.Set(absl::StrCat("W1 connection: ", std::string(where), ": ", ec.message()));
      }
    };
    auto conn = std::make_shared<WsConn>(ctx.io->Next(), ctx.endpoint, std::move(cb));
    conn->Start(HelloJson(plan_->users[sender ? p.sender : p.recipient].token, "load"));
    return conn;
  }

  std::vector<std::pair<std::size_t, std::size_t>> indices_;
  const Plan* plan_ = nullptr;
};

}  // namespace

std::unique_ptr<Workload> MakeW1Online() { return std::make_unique<W1Online>(); }

}  // namespace courier::load
