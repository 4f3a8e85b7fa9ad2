// w5_crash.cc: W5, W2's offline queue, but the server is killed with SIGKILL
// right after the last `sent`, then restarted on the same data dir; the
// recipient then drains. Figure: survive_kill9 N/M, M the messages answered
// `sent`, N those the recipient received after the restart. Anything but
// M/M fails the run.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "w2_drain.h"

namespace courier::load {
namespace {

class W5Crash final : public OfflineQueueWorkload {
 public:
  W5Crash() : OfflineQueueWorkload("W5", "w5") {}

  absl::Status Run(Context& ctx, Figures& figures) override {
    if (ctx.server == nullptr || !ctx.restart) {
      return absl::FailedPreconditionError("W5 kills the server: it needs the server courier-load starts");
    }
    ServerProcess* server = ctx.server;
    absl::StatusOr<EnqueueResult> enq = Fill(ctx, [server] { server->Kill(); });
    if (!enq.ok()) return enq.status();
    std::cerr << "courier-load: W5: " << enq->messages << " sent; server killed with SIGKILL\n";
    if (absl::Status s = ctx.restart(/*kill=*/true); !s.ok()) return s;
    absl::StatusOr<DrainResult> drain = DrainAll(ctx);
    if (!drain.ok()) return drain.status();
    const std::string ratio = absl::StrCat(drain->received, "/", enq->messages);
    std::cerr << "courier-load: W5: survived " << ratio << " (dup " << drain->dup << ", reordered "
              << drain->reordered << ")\n";
    if (drain->received != enq->messages || drain->dup != 0 || drain->reordered != 0 ||
        drain->foreign != 0) {
      return absl::DataLossError(absl::StrCat("W5: only ", ratio, " survived kill -9"));
    }
    figures.Add("W5", "survive_kill9", ratio);
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Workload> MakeW5Crash() { return std::make_unique<W5Crash>(); }

}  // namespace courier::load
