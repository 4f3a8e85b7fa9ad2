// Resolve (resolver.h): getaddrinfo_a, waited for with gai_suspend in short
// slices so that the cancel fd is noticed.
#include "resolver.h"

#include <poll.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <mutex>
#include <vector>

#include "text.h"

namespace courier::webpush::internal {
namespace {

// How often a wait looks at the cancel fd.
constexpr std::chrono::milliseconds kSlice{20};

// One lookup's request; glibc's resolver thread writes into it until the
// lookup ends, so it must outlive the lookup.
struct Lookup {
  std::string host;
  std::string port;
  addrinfo hints{};
  gaicb request{};

  ~Lookup() {
    if (request.ar_result != nullptr) ::freeaddrinfo(request.ar_result);
  }
};

// Lookups given up on while glibc was still running them. Each is freed by a
// later Resolve once glibc is done with it (a lookup ends within the system
// resolver's own timeouts), so the list stays as short as the number of
// lookups hanging at once.
class Abandoned {
 public:
  void Add(std::unique_ptr<Lookup> lookup) {
    std::lock_guard lock(mu_);
    lookups_.push_back(std::move(lookup));
  }
  void FreeFinished() {
    std::lock_guard lock(mu_);
    std::erase_if(lookups_, [](const std::unique_ptr<Lookup>& l) {
      return ::gai_error(&l->request) != EAI_INPROGRESS;
    });
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<Lookup>> lookups_;
};

Abandoned& AbandonedLookups() {
  static auto* abandoned = new Abandoned;  // never destroyed: glibc may still write
  return *abandoned;
}

bool Readable(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && p.revents != 0;
}

}  // namespace

absl::StatusOr<AddrInfoList> Resolve(const std::string& host, int port,
                                     std::chrono::steady_clock::time_point deadline,
                                     int cancel_fd) {
  AbandonedLookups().FreeFinished();
  auto lookup = std::make_unique<Lookup>();
  lookup->host = host;
  lookup->port = std::to_string(port);
  lookup->hints.ai_family = AF_UNSPEC;
  lookup->hints.ai_socktype = SOCK_STREAM;
  lookup->hints.ai_flags = AI_NUMERICSERV;
  lookup->request.ar_name = lookup->host.c_str();
  lookup->request.ar_service = lookup->port.c_str();
  lookup->request.ar_request = &lookup->hints;
  gaicb* list[1] = {&lookup->request};
  sigevent none{};
  none.sigev_notify = SIGEV_NONE;
  if (const int rc = ::getaddrinfo_a(GAI_NOWAIT, list, 1, &none); rc != 0) {
    return absl::InternalError(Cat("resolve ", host, ": ", gai_strerror(rc)));
  }

  absl::Status waited = absl::OkStatus();
  while (::gai_error(&lookup->request) == EAI_INPROGRESS) {
    if (Readable(cancel_fd)) {
      waited = absl::CancelledError("sender shut down");
      break;
    }
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) {
      waited = absl::DeadlineExceededError(Cat("resolve ", host, " timed out"));
      break;
    }
    const auto slice = std::min<std::chrono::nanoseconds>(left, kSlice);
    const timespec timeout{0, static_cast<long>(slice.count())};
    const gaicb* const wait_list[1] = {&lookup->request};
    ::gai_suspend(wait_list, 1, &timeout);  // done, timed out or interrupted: look again
  }
  if (!waited.ok()) {
    // Not started yet: taken off glibc's queue. Running: glibc still
    // writes into the request, which must live until it is done.
    if (::gai_cancel(&lookup->request) == EAI_NOTCANCELED) {
      AbandonedLookups().Add(std::move(lookup));
    }
    return waited;
  }
  const int rc = ::gai_error(&lookup->request);
  AddrInfoList result(lookup->request.ar_result);
  lookup->request.ar_result = nullptr;
  if (rc != 0) return absl::UnavailableError(Cat("resolve ", host, ": ", gai_strerror(rc)));
  if (result == nullptr) return absl::UnavailableError(Cat("resolve ", host, ": no address"));
  return result;
}

}  // namespace courier::webpush::internal
