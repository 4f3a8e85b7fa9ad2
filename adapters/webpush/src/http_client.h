// One HTTP/1.1 POST over a new TCP (and TLS) connection, with a deadline on
// every phase and a cancel descriptor. What both senders use per attempt.
//
// Errors, which the retry policy reads (retry.h):
//   kUnavailable       name resolution, connect, reset, TLS handshake, a
//                      malformed or over-long answer, closed before a head
//   kDeadlineExceeded  a phase (name resolution included) ran past its timeout
//   kPermissionDenied  the host resolves only to addresses `policy` forbids
//                      (address_policy.h); no connection was made
//   kFailedPrecondition the server's certificate did not verify
//   kCancelled         the cancel descriptor became readable
//
// Not copyable (it owns its Impl). Thread-safety: an HttpClient may be used
// by several threads at once (the SSL_CTX is only read after Create).
// Blocking: Post blocks (see courier/webpush/sender.h for the timeouts; name
// resolution has its own, resolver.h).
#ifndef COURIER_ADAPTERS_WEBPUSH_SRC_HTTP_CLIENT_H_
#define COURIER_ADAPTERS_WEBPUSH_SRC_HTTP_CLIENT_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "address_policy.h"
#include "courier/webpush/sender.h"
#include "courier/webpush/subscription.h"

namespace courier::webpush::internal {

struct HttpAnswer {
  int status = 0;
  std::optional<std::string> retry_after;
  std::string body_prefix;  // at most 200 bytes of the body that came with the head
};

using Headers = std::vector<std::pair<std::string, std::string>>;

class HttpClient {
 public:
  // Builds the TLS context (system CAs or options.ca_file). Errors:
  // kNotFound / kInvalidArgument for ca_file, kInternal.
  static absl::StatusOr<std::unique_ptr<HttpClient>> Create(const SenderOptions& options);
  ~HttpClient();

  // POSTs `body` to `url` with `headers` (Host, Content-Length, User-Agent
  // and Connection: close are added), connecting only to addresses `policy`
  // allows. `cancel_fd`: an fd polled for readability alongside the socket,
  // or -1.
  absl::StatusOr<HttpAnswer> Post(const Url& url, const Headers& headers, std::string_view body,
                                  AddressPolicy policy, int cancel_fd) const;

  struct Impl;

 private:
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace courier::webpush::internal

#endif  // COURIER_ADAPTERS_WEBPUSH_SRC_HTTP_CLIENT_H_
