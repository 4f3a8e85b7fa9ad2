// Name resolution with a deadline and a cancel descriptor.
//
// getaddrinfo(3) has no timeout: with a resolver that does not answer, a
// push would hold its sender thread for as long as the C library retries
// (30 s and more), and Shutdown could not end it. Resolve runs getaddrinfo on
// a thread of its own and waits for its answer, the deadline or the cancel fd
// (looked at every 20 ms), whichever comes first. A lookup given up on is
// left to finish on its thread, which then frees what it holds. At most 64
// lookups run at once, abandoned ones included; beyond, kUnavailable.
//
// Thread-safety: Resolve may be called from several threads at once.
// Blocking: until the answer, the deadline or the cancel fd, at most.
#ifndef COURIER_ADAPTERS_WEBPUSH_SRC_RESOLVER_H_
#define COURIER_ADAPTERS_WEBPUSH_SRC_RESOLVER_H_

#include <netdb.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace courier::webpush::internal {

struct AddrInfoDeleter {
  void operator()(addrinfo* list) const { ::freeaddrinfo(list); }
};
using AddrInfoList = std::unique_ptr<addrinfo, AddrInfoDeleter>;

// The TCP addresses of host:port (numeric port; IPv4 and IPv6). Errors:
// kUnavailable (the name does not resolve, or the resolver failed),
// kDeadlineExceeded ("resolve timed out"), kCancelled (cancel_fd readable;
// -1 for none), kInternal (no thread could be made).
absl::StatusOr<AddrInfoList> Resolve(const std::string& host, int port,
                                     std::chrono::steady_clock::time_point deadline,
                                     int cancel_fd);

}  // namespace courier::webpush::internal

#endif  // COURIER_ADAPTERS_WEBPUSH_SRC_RESOLVER_H_
