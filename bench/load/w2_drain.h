// w2_drain.h: the offline queue of W2, shared with W5: one recipient, the
// senders, the enqueue and the drain.
// Thread-safety: used from the main thread only.
#ifndef COURIER_BENCH_LOAD_W2_DRAIN_H_
#define COURIER_BENCH_LOAD_W2_DRAIN_H_

#include <functional>
#include <string>
#include <vector>

#include "workload_common.h"

namespace courier::load {

class OfflineQueue {
 public:
  // One recipient and sizes.w2_senders senders, all friends of it.
  void AddAccounts(Plan& plan, const Context& ctx, const std::string& tag);
  // The senders send sizes.messages messages in total to the recipient.
  absl::StatusOr<EnqueueResult> Fill(Context& ctx, std::function<void()> on_all_sent = {});
  // The recipient connects and drains them all.
  absl::StatusOr<DrainResult> DrainAll(Context& ctx);
  std::size_t messages() const { return messages_; }

 private:
  std::size_t recipient_ = 0;
  std::vector<std::size_t> senders_;
  std::size_t messages_ = 0;
  const Plan* plan_ = nullptr;
  std::vector<SenderJob> jobs_;
};

}  // namespace courier::load

#endif  // COURIER_BENCH_LOAD_W2_DRAIN_H_
