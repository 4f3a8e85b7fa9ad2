// hash_gate.cc: admission by counting, waiting on an absl::Mutex condition.
#include "hash_gate.h"

#include <algorithm>

#include "http_errors.h"

namespace courier::server {

HashGate::HashGate(std::size_t max_running, std::size_t max_waiting, absl::Duration max_wait)
    : max_running_(std::max<std::size_t>(1, max_running)),
      max_waiting_(max_waiting),
      max_wait_(max_wait) {}

absl::Status HashGate::Run(absl::FunctionRef<void()> fn) {
  {
    absl::MutexLock lock(&mu_);
    if (running_ >= max_running_) {
      if (waiting_ >= max_waiting_) {
        ++counters_.refused;
        return WithHttpDetail(
            absl::UnavailableError("the server is busy hashing passwords; retry shortly"), "busy",
            1000);
      }
      ++waiting_;
      auto turn = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return running_ < max_running_; };
      const bool got = mu_.AwaitWithTimeout(absl::Condition(&turn), max_wait_);
      --waiting_;
      if (!got) {
        ++counters_.timed_out;
        return WithHttpDetail(
            absl::UnavailableError("the server is busy hashing passwords; retry shortly"), "busy",
            1000);
      }
    }
    ++running_;
    ++counters_.admitted;
  }
  fn();
  absl::MutexLock lock(&mu_);
  --running_;
  return absl::OkStatus();
}

HashGateStats HashGate::stats() const {
  absl::MutexLock lock(&mu_);
  HashGateStats s = counters_;
  s.running = running_;
  s.waiting = waiting_;
  return s;
}

}  // namespace courier::server
