// Reading a push service's answer: the status line and headers of an
// HTTP/1.x response, and the Retry-After header. Pure functions over bytes
// from the network (untrusted): tests/fuzz/fuzz_webpush_http.cc runs them.
//
// The senders need only the status code and Retry-After: every exchange is
// one request on its own connection (Connection: close), so once the head is
// read the connection is closed and the body is not waited for; the body
// bytes that came with the head are kept for logs.
//
// Thread-safety: pure functions. Blocking: no.
#ifndef COURIER_ADAPTERS_WEBPUSH_SRC_HTTP_RESPONSE_H_
#define COURIER_ADAPTERS_WEBPUSH_SRC_HTTP_RESPONSE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace courier::webpush::internal {

inline constexpr std::size_t kMaxHeaderLines = 100;
inline constexpr int kMaxInterimHeads = 4;  // 1xx answers before the final one

struct ResponseHead {
  int status = 0;                          // 200..599 (1xx answers are skipped)
  std::optional<std::string> retry_after;  // the Retry-After value, trimmed
  std::size_t size = 0;                    // bytes of `buffer` up to the body
};

// Parses the final response head at the start of `buffer`, skipping interim
// 1xx heads (100 Continue ...). Returns std::nullopt when `buffer` holds no
// complete head yet. Lines end with CRLF; a status line
// "HTTP/1.0|1.1 SSS[ reason]" with SSS in 100..599; header lines
// "name: value" with a token name, at most kMaxHeaderLines of them; no
// obsolete line folding, no NUL, at most kMaxInterimHeads 1xx heads first.
// kInvalidArgument with the reason otherwise.
// The caller bounds `buffer`; 101 Switching Protocols is refused.
absl::StatusOr<std::optional<ResponseHead>> ParseResponseHead(std::string_view buffer);

// Retry-After (RFC 9110 section 10.2.3): delta-seconds (at most 9 digits)
// or an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"); a date in the past is
// zero. std::nullopt when the value is neither.
std::optional<absl::Duration> ParseRetryAfter(std::string_view value, absl::Time now);

}  // namespace courier::webpush::internal

#endif  // COURIER_ADAPTERS_WEBPUSH_SRC_HTTP_RESPONSE_H_
