// The retry loop (delivery.h).
#include "delivery.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>

#include "http_response.h"
#include "text.h"

namespace courier::webpush::internal {
namespace {

// The answer's body goes into logs: printable ASCII only, no quotes.
std::string Printable(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\') c = '.';
  }
  return out;
}

}  // namespace

Verdict ClassifyHttpStatus(int status) {
  if (status >= 200 && status <= 299) return Verdict::kDelivered;
  if (status == 404 || status == 410) return Verdict::kGone;
  if (status == 429 || (status >= 500 && status <= 599)) return Verdict::kRetry;
  return Verdict::kGiveUp;
}

Verdict ClassifyError(const absl::Status& error) {
  switch (error.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return Verdict::kRetry;
    default:
      return Verdict::kGiveUp;
  }
}

absl::Duration BackoffDelay(int attempt, absl::Duration base, absl::Duration cap, double unit) {
  absl::Duration d = base;
  for (int i = 1; i < attempt && d < cap; ++i) d *= 2;
  d = std::min(d, cap);
  return d * (0.5 + 0.5 * std::clamp(unit, 0.0, 1.0));
}

absl::StatusOr<std::unique_ptr<CancelSignal>> CancelSignal::Create() {
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return absl::InternalError(Cat("eventfd: ", std::strerror(errno)));
  return std::unique_ptr<CancelSignal>(new CancelSignal(fd));
}

CancelSignal::~CancelSignal() { ::close(fd_); }

void CancelSignal::Raise() {
  const std::uint64_t one = 1;
  // The counter never resets (nobody reads it), so one write is enough.
  [[maybe_unused]] const ssize_t n = ::write(fd_, &one, sizeof one);
}

bool CancelSignal::raised() const {
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

bool CancelSignal::Sleep(absl::Duration d) const {
  const absl::Time until = absl::Now() + d;
  while (true) {
    if (raised()) return false;
    const absl::Duration left = until - absl::Now();
    if (left <= absl::ZeroDuration()) return true;
    pollfd p{fd_, POLLIN, 0};
    const std::int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)));
    ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(ms, 60'000)));
  }
}

absl::StatusOr<SendResult> Deliver(const HttpClient& client, const Url& url,
                                   absl::FunctionRef<Headers()> headers, std::string_view body,
                                   AddressPolicy policy, const SenderOptions& options,
                                   const CancelSignal& cancel) {
  thread_local std::minstd_rand jitter(std::random_device{}());
  SendResult result;
  while (true) {
    if (cancel.raised()) return absl::CancelledError("sender shut down");
    ++result.attempts;
    auto answer = client.Post(url, headers(), body, policy, cancel.fd());
    Verdict verdict;
    std::optional<absl::Duration> retry_after;
    if (answer.ok()) {
      result.http_status = answer->status;
      result.detail = Cat("HTTP ", answer->status, answer->body_prefix.empty() ? "" : ": ",
                          Printable(answer->body_prefix));
      verdict = ClassifyHttpStatus(answer->status);
      if (answer->retry_after) retry_after = ParseRetryAfter(*answer->retry_after, absl::Now());
    } else {
      if (answer.status().code() == absl::StatusCode::kCancelled) return answer.status();
      result.http_status = 0;
      result.detail = std::string(answer.status().message());
      verdict = ClassifyError(answer.status());
    }
    // The outcome should this attempt be the last; only kRetry, with attempts
    // left, goes round again.
    result.outcome = verdict == Verdict::kDelivered ? Outcome::kDelivered
                     : verdict == Verdict::kGone    ? Outcome::kGone
                                                    : Outcome::kGaveUp;
    if (verdict != Verdict::kRetry || result.attempts >= options.max_attempts) return result;
    absl::Duration wait;
    if (retry_after) {
      if (*retry_after > options.max_retry_after) {
        Append(&result.detail, " (Retry-After ", absl::FormatDuration(*retry_after),
               " is over the limit)");
        return result;
      }
      wait = *retry_after;
    } else {
      wait = BackoffDelay(result.attempts, options.backoff_base, options.backoff_cap,
                          std::uniform_real_distribution<double>(0, 1)(jitter));
    }
    if (!cancel.Sleep(wait)) return absl::CancelledError("sender shut down");
  }
}

}  // namespace courier::webpush::internal
