// http_errors.cc: status payloads for the HTTP error word and Retry-After.
#include "http_errors.h"

#include <charconv>

#include "absl/strings/cord.h"

namespace courier::server {
namespace {

constexpr absl::string_view kCodeUrl = "courier.example/http-error";
constexpr absl::string_view kRetryUrl = "courier.example/retry-after-s";

}  // namespace

absl::Status WithHttpDetail(absl::Status status, std::string_view code,
                            std::int64_t retry_after_ms) {
  status.SetPayload(kCodeUrl, absl::Cord(absl::string_view(code.data(), code.size())));
  if (retry_after_ms > 0) {
    const std::int64_t seconds = std::max<std::int64_t>(1, (retry_after_ms + 999) / 1000);
    status.SetPayload(kRetryUrl, absl::Cord(std::to_string(seconds)));
  }
  return status;
}

std::optional<std::string> ErrorCodeOf(const absl::Status& status) {
  auto code = status.GetPayload(kCodeUrl);
  if (!code.has_value()) return std::nullopt;
  return std::string(*code);
}

std::optional<std::int64_t> RetryAfterSecondsOf(const absl::Status& status) {
  auto text = status.GetPayload(kRetryUrl);
  if (!text.has_value()) return std::nullopt;
  const std::string s(*text);
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 1) return std::nullopt;
  return v;
}

websocket::HttpResponse JsonError(int status, std::string_view code, std::string_view message) {
  return websocket::HttpResponse::JsonError(status, code, message);
}

}  // namespace courier::server
