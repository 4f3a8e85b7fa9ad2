// w3_storm.cc: W3, U offline users with 10 queued messages each connect at
// once (W3paced: at most 100 connecting at any moment). Figures: storm_s
// from the first connect until every message is received (and acked), and
// server_cpu_us_per_msg, server_ctx_switches_per_msg and
// server_syscalls_per_msg over the storm. Any refused or failed connection
// fails the run.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "workload_common.h"

namespace courier::load {
namespace {

class W3Storm final : public Workload {
 public:
  explicit W3Storm(bool paced) : paced_(paced) {}
  std::string name() const override { return paced_ ? "W3paced" : "W3"; }

  void AddAccounts(Plan& plan, const Context& ctx) override {
    const std::string tag = paced_ ? "w3p" : "w3";
    const std::size_t senders = std::max<std::size_t>(1, std::min<std::size_t>(10, ctx.sizes.users));
    senders_.clear();
    users_.clear();
    for (std::size_t i = 0; i < senders; ++i) {
      senders_.push_back(plan.AddUser(absl::StrCat(ctx.prefix, tag, "s", i)));
    }
    for (std::size_t i = 0; i < ctx.sizes.users; ++i) {
      users_.push_back(plan.AddUser(absl::StrCat(ctx.prefix, tag, "u", i)));
      plan.AddFriends(senders_[i % senders], users_.back());
    }
    plan_ = &plan;
  }

  absl::Status Run(Context& ctx, Figures& figures) override {
    const std::size_t per_user = ctx.sizes.w3_queued;
    const std::size_t ns = senders_.size();
    std::vector<SenderJob> jobs(ns);
    for (std::size_t s = 0; s < ns; ++s) {
      jobs[s].sender = &plan_->users[senders_[s]];
      jobs[s].tag = 0;
    }
    // Sender s serves users s, s+ns, ...; sending round-robin over them
    // queues per_user messages for each.
    for (std::size_t u = 0; u < users_.size(); ++u) {
      jobs[u % ns].to.push_back(&plan_->users[users_[u]]);
    }
    for (SenderJob& j : jobs) j.count = j.to.size() * per_user;
    jobs.erase(std::remove_if(jobs.begin(), jobs.end(), [](const SenderJob& j) { return j.count == 0; }),
               jobs.end());
    absl::StatusOr<EnqueueResult> enq = Enqueue(ctx, jobs, ctx.sizes.w2_window);
    if (!enq.ok()) return enq.status();
    std::cerr << "courier-load: " << name() << ": queued " << enq->messages << " messages in "
              << enq->seconds << " s\n";

    std::vector<DrainJob> drains;
    drains.reserve(users_.size());
    for (std::size_t u : users_) drains.push_back(DrainJob{&plan_->users[u], per_user, 1});
    const CpuSample c0 = SampleCpu(ctx);
    absl::StatusOr<DrainResult> drain =
        Drain(ctx, drains, paced_ ? ctx.sizes.w3_pace : 0, /*from_connect=*/true);
    const CpuSample c1 = SampleCpu(ctx);
    if (!drain.ok()) return drain.status();
    const std::uint64_t total = users_.size() * per_user;
    const ServerPerMsg server = ReportCpu(ctx, name(), c0, c1, total);
    // Per user, messages of one sender: their order within the inbox is the
    // send order, which InboxCheck verifies with the index of the body.
    if (drain->lost != 0 || drain->dup != 0 || drain->foreign != 0 || drain->connect_failures != 0 ||
        drain->received != total) {
      return absl::DataLossError(absl::StrCat(name(), " check failed: received ", drain->received,
                                              "/", total, ", lost ", drain->lost, ", dup ",
                                              drain->dup, ", failed connects ",
                                              drain->connect_failures));
    }
    if (drain->reordered != 0) {
      return absl::DataLossError(absl::StrCat(name(), ": ", drain->reordered, " out of order"));
    }
    figures.Add(name(), "storm_s", drain->seconds);
    AddServerFigures(figures, name(), server);  // CPU, context switches, syscalls
    return absl::OkStatus();
  }

 private:
  bool paced_;
  std::vector<std::size_t> senders_, users_;
  const Plan* plan_ = nullptr;
};

}  // namespace

std::unique_ptr<Workload> MakeW3Storm(bool paced) { return std::make_unique<W3Storm>(paced); }

}  // namespace courier::load
