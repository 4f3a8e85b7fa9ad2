// The retry policy both senders share (courier/webpush/sender.h states it
// for users) and the cancel signal that Shutdown raises.
//
// Thread-safety: CancelSignal may be raised and waited on from any threads;
// Deliver is safe to call concurrently. Blocking: Deliver and
// CancelSignal::Sleep block.
#ifndef COURIER_ADAPTERS_WEBPUSH_SRC_DELIVERY_H_
#define COURIER_ADAPTERS_WEBPUSH_SRC_DELIVERY_H_

#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "courier/webpush/sender.h"
#include "http_client.h"

namespace courier::webpush::internal {

// What to do after one attempt.
enum class Verdict { kDelivered, kGone, kRetry, kGiveUp };
Verdict ClassifyHttpStatus(int status);
// For an attempt that got no answer (HttpClient::Post's errors).
Verdict ClassifyError(const absl::Status& error);

// The wait before attempt `attempt + 1` without Retry-After:
// min(cap, base * 2^(attempt-1)) scaled by 0.5 + 0.5 * unit (unit in [0, 1]).
absl::Duration BackoffDelay(int attempt, absl::Duration base, absl::Duration cap, double unit);

// An eventfd that becomes readable once Raise() is called, forever after.
class CancelSignal {
 public:
  // kInternal if no eventfd can be made.
  static absl::StatusOr<std::unique_ptr<CancelSignal>> Create();
  ~CancelSignal();
  CancelSignal(const CancelSignal&) = delete;
  CancelSignal& operator=(const CancelSignal&) = delete;

  void Raise();
  bool raised() const;
  int fd() const { return fd_; }
  // Sleeps `d`; false when the signal was raised first (or meanwhile).
  bool Sleep(absl::Duration d) const;

 private:
  explicit CancelSignal(int fd) : fd_(fd) {}
  int fd_;
};

// Posts `body` to `url` up to options.max_attempts times, asking
// `headers` for each attempt's extra headers, to the addresses `policy`
// allows. kCancelled when `cancel` is raised before an outcome; otherwise a
// SendResult.
absl::StatusOr<SendResult> Deliver(const HttpClient& client, const Url& url,
                                   absl::FunctionRef<Headers()> headers, std::string_view body,
                                   AddressPolicy policy, const SenderOptions& options,
                                   const CancelSignal& cancel);

}  // namespace courier::webpush::internal

#endif  // COURIER_ADAPTERS_WEBPUSH_SRC_DELIVERY_H_
