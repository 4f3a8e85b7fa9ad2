#include "redis_error.h"

#include <hiredis/hiredis.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace courier::redis {
namespace {

bool IsTimeoutText(const char* text) {
  return std::strcmp(text, std::strerror(EAGAIN)) == 0 ||
         std::strcmp(text, std::strerror(ETIMEDOUT)) == 0 ||
         std::strstr(text, "timed out") != nullptr;
}

absl::Status FromContext(int err, const char* errstr, std::string_view what) {
  std::string message = absl::StrCat("redis ", std::string(what), ": ", errstr);
  switch (err) {
    case REDIS_ERR_IO:
      if (IsTimeoutText(errstr)) return absl::DeadlineExceededError(message);
      return absl::UnavailableError(message);
    case REDIS_ERR_EOF:
    case REDIS_ERR_OTHER:
      return absl::UnavailableError(message);
    case REDIS_ERR_OOM:
      return absl::ResourceExhaustedError(message);
    case REDIS_ERR_PROTOCOL:
      return absl::InternalError(message);
    default:
      return absl::UnknownError(message);
  }
}

absl::Status FromErrorReply(std::string_view text, std::string_view what) {
  std::string message = absl::StrCat("redis ", std::string(what), ": ", std::string(text));
  for (std::string_view prefix : {"LOADING", "BUSY", "TRYAGAIN", "READONLY", "MASTERDOWN",
                                  "NOSCRIPT", "CLUSTERDOWN"}) {
    if (text.starts_with(prefix)) return absl::UnavailableError(message);
  }
  if (text.starts_with("NOAUTH") || text.starts_with("WRONGPASS")) {
    return absl::UnauthenticatedError(message);
  }
  if (text.starts_with("NOPERM")) return absl::PermissionDeniedError(message);
  if (text.starts_with("OOM")) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

}  // namespace

absl::Status RedisStatus(const redisContext* context, const redisReply* reply,
                         std::string_view what) {
  if (context != nullptr && context->err != 0) {
    return FromContext(context->err, context->errstr, what);
  }
  if (reply == nullptr) {
    return absl::UnavailableError(absl::StrCat("redis ", std::string(what), ": no reply"));
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    return FromErrorReply(std::string_view(reply->str, reply->len), what);
  }
  return absl::OkStatus();
}

}  // namespace courier::redis
