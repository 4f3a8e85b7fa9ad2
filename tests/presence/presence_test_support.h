// tests/presence/presence_test_support.h: helpers shared by the presence
// tests: a signal collector.
#ifndef COURIER_TESTS_PRESENCE_PRESENCE_TEST_SUPPORT_H_
#define COURIER_TESTS_PRESENCE_PRESENCE_TEST_SUPPORT_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "courier/presence_store.h"
#include "support/status_matchers.h"

namespace courier::testing {

// Collects signals from a handler running on the store's thread.
class SignalInbox {
 public:
  absl::AnyInvocable<void(const Signal&)> Handler() {
    return [this](const Signal& s) {
      std::lock_guard<std::mutex> lock(mu_);
      signals_.push_back(s);
      threads_.push_back(std::this_thread::get_id());
      cv_.notify_all();
    };
  }

  // Waits until at least `n` signals arrived; false after a generous deadline.
  bool WaitFor(std::size_t n, std::chrono::seconds deadline = std::chrono::seconds(20)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, deadline, [&] { return signals_.size() >= n; });
  }

  std::vector<Signal> signals() {
    std::lock_guard<std::mutex> lock(mu_);
    return signals_;
  }
  std::vector<std::thread::id> threads() {
    std::lock_guard<std::mutex> lock(mu_);
    return threads_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Signal> signals_;
  std::vector<std::thread::id> threads_;
};

}  // namespace courier::testing

#endif  // COURIER_TESTS_PRESENCE_PRESENCE_TEST_SUPPORT_H_
