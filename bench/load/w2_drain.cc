// w2_drain.cc: W2, one offline recipient; 10 senders send M messages in
// total, each keeping up to 50 sends without their `sent`; then the
// recipient connects and drains. Figures: enqueue_msgs_per_s,
// drain_msgs_per_s (hello to the last msg received and acked),
// server_cpu_us_per_msg, server_ctx_switches_per_msg and
// server_syscalls_per_msg (over the drain), lost, dup, reordered (all 0).
//
// W5 is this workload with a SIGKILL of the server right after the last
// `sent` and a restart before the drain (w5_crash.cc).
#include <iostream>

#include "absl/strings/str_cat.h"
#include "w2_drain.h"

namespace courier::load {

void OfflineQueueWorkload::AddAccounts(Plan& plan, const Context& ctx) {
  recipient_ = plan.AddUser(absl::StrCat(ctx.prefix, tag_, "r"));
  senders_.clear();
  for (std::size_t i = 0; i < ctx.sizes.w2_senders; ++i) {
    senders_.push_back(plan.AddUser(absl::StrCat(ctx.prefix, tag_, "s", i)));
    plan.AddFriends(senders_.back(), recipient_);
  }
  plan_ = &plan;
  messages_ = ctx.sizes.messages;
}

absl::StatusOr<EnqueueResult> OfflineQueueWorkload::Fill(Context& ctx, std::function<void()> on_all_sent) {
  std::vector<SenderJob> jobs(senders_.size());
  const std::size_t n = senders_.size();
  for (std::size_t i = 0; i < n; ++i) {
    jobs[i].sender = &plan_->users[senders_[i]];
    jobs[i].tag = i;
    jobs[i].to = {&plan_->users[recipient_]};
    jobs[i].count = messages_ / n + (i < messages_ % n ? 1 : 0);
  }
  jobs_ = std::move(jobs);
  return Enqueue(ctx, jobs_, ctx.sizes.w2_window, std::move(on_all_sent));
}

absl::StatusOr<DrainResult> OfflineQueueWorkload::DrainAll(Context& ctx) {
  std::vector<DrainJob> jobs{DrainJob{&plan_->users[recipient_], messages_, senders_.size()}};
  return Drain(ctx, jobs, /*pace=*/0, /*from_connect=*/false);
}

namespace {

class W2Drain final : public OfflineQueueWorkload {
 public:
  W2Drain() : OfflineQueueWorkload("W2", "w2") {}

  absl::Status Run(Context& ctx, Figures& figures) override {
    const CpuSample e0 = SampleCpu(ctx);
    absl::StatusOr<EnqueueResult> enq = Fill(ctx);
    if (!enq.ok()) return enq.status();
    const CpuSample e1 = SampleCpu(ctx);
    ReportCpu(ctx, "W2 enqueue", e0, e1, enq->messages);
    const CpuSample d0 = SampleCpu(ctx);
    absl::StatusOr<DrainResult> drain = DrainAll(ctx);
    if (!drain.ok()) return drain.status();
    const CpuSample d1 = SampleCpu(ctx);
    const ServerPerMsg server = ReportCpu(ctx, "W2 drain", d0, d1, drain->received);
    std::cerr << "courier-load: W2: enqueued " << enq->messages << " in " << enq->seconds
              << " s, drained " << drain->received << " in " << drain->seconds << " s\n";
    if (drain->lost != 0 || drain->dup != 0 || drain->reordered != 0 || drain->foreign != 0) {
      return absl::DataLossError(absl::StrCat("W2 check failed: lost ", drain->lost, ", dup ",
                                              drain->dup, ", reordered ", drain->reordered,
                                              ", foreign ", drain->foreign));
    }
    figures.Add("W2", "enqueue_msgs_per_s", static_cast<double>(enq->messages) / enq->seconds);
    figures.Add("W2", "drain_msgs_per_s", static_cast<double>(drain->received) / drain->seconds);
    AddServerFigures(figures, "W2", server);  // CPU, context switches, syscalls
    figures.Add("W2", "lost", "0");
    figures.Add("W2", "dup", "0");
    figures.Add("W2", "reordered", "0");
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Workload> MakeW2Drain() { return std::make_unique<W2Drain>(); }

}  // namespace courier::load
