// http_errors.h: what an absl::Status carries to the HTTP answer besides its
// code: an error code word for the JSON body and a Retry-After time, as
// status payloads, so the layers below (accounts, throttle, hash gate) can
// say "429 throttled, retry in 8 s" without knowing HTTP.
//
// Thread-safety: pure functions. Blocking: never.
#ifndef COURIER_EXAMPLES_SERVER_HTTP_ERRORS_H_
#define COURIER_EXAMPLES_SERVER_HTTP_ERRORS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "courier/websocket/http.h"

namespace courier::server {

// `status` with the error word `code` (the JSON "error" field: "throttled",
// "busy", "registration_closed", ...) and, when retry_after_ms > 0, a
// Retry-After of ceil(retry_after_ms / 1000) seconds (at least 1).
absl::Status WithHttpDetail(absl::Status status, std::string_view code,
                            std::int64_t retry_after_ms = 0);

// The error word set by WithHttpDetail, if any.
std::optional<std::string> ErrorCodeOf(const absl::Status& status);
// The Retry-After in whole seconds (>= 1) set by WithHttpDetail, if any.
std::optional<std::int64_t> RetryAfterSecondsOf(const absl::Status& status);

// The JSON error answer every route gives: {"error": code, "message": ...}
// with HTTP status `status`.
websocket::HttpResponse JsonError(int status, std::string_view code, std::string_view message);

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_HTTP_ERRORS_H_
