// w2_drain.h: the offline queue of W2, shared with W5: one recipient, the
// senders, the enqueue and the drain.
// Thread-safety: used from the main thread only.
#ifndef COURIER_BENCH_LOAD_W2_DRAIN_H_
#define COURIER_BENCH_LOAD_W2_DRAIN_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "workload_common.h"

namespace courier::load {

// The workload of W2 and W5: one offline recipient and its senders. The
// subclass's Run fills the queue and drains it (W5 kills the server between
// the two).
class OfflineQueueWorkload : public Workload {
 public:
  // `name` is the workload's ("W2"); `tag` starts its account names ("w2").
  OfflineQueueWorkload(std::string name, std::string tag)
      : name_(std::move(name)), tag_(std::move(tag)) {}
  std::string name() const final { return name_; }
  // One recipient and sizes.w2_senders senders, all friends of it.
  void AddAccounts(Plan& plan, const Context& ctx) final;

 protected:
  // The senders send sizes.messages messages in total to the recipient.
  absl::StatusOr<EnqueueResult> Fill(Context& ctx, std::function<void()> on_all_sent = {});
  // The recipient connects and drains them all.
  absl::StatusOr<DrainResult> DrainAll(Context& ctx);

 private:
  const std::string name_;
  const std::string tag_;
  std::size_t recipient_ = 0;
  std::vector<std::size_t> senders_;
  std::size_t messages_ = 0;
  const Plan* plan_ = nullptr;
  std::vector<SenderJob> jobs_;
};

}  // namespace courier::load

#endif  // COURIER_BENCH_LOAD_W2_DRAIN_H_
