// Resolve (resolver.h): getaddrinfo on a thread of its own, waited for with a
// deadline and the cancel fd.
//
// Not getaddrinfo_a: glibc runs those lookups on threads that sanitizers do
// not know of, and ThreadSanitizer crashes in their first malloc.
#include "resolver.h"

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#include "text.h"

namespace courier::webpush::internal {
namespace {

// How often a wait looks at the cancel fd.
constexpr std::chrono::milliseconds kSlice{20};
// Lookups running at once, abandoned ones included (a resolver that does not
// answer keeps each for its own timeouts, some 30 s): beyond, a push fails
// with kUnavailable instead of starting one more thread.
constexpr int kMaxLookups = 64;
std::atomic<int> running_lookups{0};

// What the lookup thread and the waiter share; the last one to let go frees it.
struct Lookup {
  std::mutex mu;
  std::condition_variable done_cv;
  bool done = false;
  int rc = 0;
  addrinfo* result = nullptr;

  ~Lookup() {
    if (result != nullptr) ::freeaddrinfo(result);
  }
};

bool Readable(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && p.revents != 0;
}

}  // namespace

absl::StatusOr<AddrInfoList> Resolve(const std::string& host, int port,
                                     std::chrono::steady_clock::time_point deadline,
                                     int cancel_fd) {
  if (running_lookups.fetch_add(1, std::memory_order_relaxed) >= kMaxLookups) {
    running_lookups.fetch_sub(1, std::memory_order_relaxed);
    return absl::UnavailableError(
        Cat("resolve ", host, ": ", kMaxLookups, " name lookups already in progress"));
  }
  auto lookup = std::make_shared<Lookup>();
  try {
    std::thread([lookup, host, service = std::to_string(port)] {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_flags = AI_NUMERICSERV;
      addrinfo* list = nullptr;
      const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
      {
        std::lock_guard lock(lookup->mu);
        lookup->rc = rc;
        lookup->result = list;
        lookup->done = true;
      }
      lookup->done_cv.notify_one();
      running_lookups.fetch_sub(1, std::memory_order_relaxed);
    }).detach();
  } catch (const std::system_error& e) {
    running_lookups.fetch_sub(1, std::memory_order_relaxed);
    return absl::InternalError(Cat("resolve ", host, ": no thread: ", e.what()));
  }

  std::unique_lock lock(lookup->mu);
  while (!lookup->done) {
    if (Readable(cancel_fd)) return absl::CancelledError("sender shut down");
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return absl::DeadlineExceededError(Cat("resolve ", host, " timed out"));
    lookup->done_cv.wait_until(lock, std::min(deadline, now + kSlice));
  }
  AddrInfoList result(std::exchange(lookup->result, nullptr));
  if (lookup->rc != 0) {
    return absl::UnavailableError(Cat("resolve ", host, ": ", gai_strerror(lookup->rc)));
  }
  if (result == nullptr) return absl::UnavailableError(Cat("resolve ", host, ": no address"));
  return result;
}

}  // namespace courier::webpush::internal
