// tests/presence/presence_test_support.h: helpers shared by the presence
// tests: a signal collector, and the check that it got what was published.
#ifndef COURIER_TESTS_PRESENCE_PRESENCE_TEST_SUPPORT_H_
#define COURIER_TESTS_PRESENCE_PRESENCE_TEST_SUPPORT_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
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

// Every field of `s`, for comparing two signals with a readable failure.
inline std::string Describe(const Signal& s) {
  return "kind=" + std::to_string(static_cast<int>(s.kind)) + " user=" + s.user +
         " device=" + s.device + " from_node=" + s.from_node +
         " close_code=" + std::to_string(s.close_code) + " from_user=" + s.from_user +
         " group=" + s.group + " on=" + (s.on ? "1" : "0");
}

// Waits until `inbox` got as many signals as `published` and requires them
// to be exactly those, in order, each field as it was published.
inline void RequireReceived(SignalInbox& inbox, const std::vector<Signal>& published) {
  REQUIRE(inbox.WaitFor(published.size()));
  const std::vector<Signal> got = inbox.signals();
  REQUIRE(got.size() == published.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("signal " << i);
    CHECK(Describe(got[i]) == Describe(published[i]));
  }
}

}  // namespace courier::testing

#endif  // COURIER_TESTS_PRESENCE_PRESENCE_TEST_SUPPORT_H_
