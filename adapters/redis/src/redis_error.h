// The one place where hiredis errors become absl::Status values.
#ifndef COURIER_ADAPTERS_REDIS_REDIS_ERROR_H_
#define COURIER_ADAPTERS_REDIS_REDIS_ERROR_H_

#include <string_view>

#include "absl/status/status.h"

struct redisContext;
struct redisReply;

namespace courier::redis {

// The status of the last operation on `context` that produced `reply`
// (nullptr when hiredis returned none), with `what` and hiredis's or the
// server's text in the message:
//   connection errors (context->err):
//     REDIS_ERR_IO with a timeout      -> kDeadlineExceeded
//     REDIS_ERR_IO, REDIS_ERR_EOF,
//     REDIS_ERR_OTHER (refused, DNS)   -> kUnavailable
//     REDIS_ERR_OOM                    -> kResourceExhausted
//     REDIS_ERR_PROTOCOL               -> kInternal
//   error replies (reply->type == REDIS_REPLY_ERROR), by the server's prefix:
//     LOADING, BUSY, TRYAGAIN, READONLY,
//     MASTERDOWN, NOSCRIPT, CLUSTERDOWN -> kUnavailable
//     NOAUTH, WRONGPASS                 -> kUnauthenticated
//     NOPERM                            -> kPermissionDenied
//     OOM                               -> kResourceExhausted
//     anything else (ERR, WRONGTYPE)    -> kInternal
//   no context error and no reply      -> kUnavailable
// OK for any other reply.
absl::Status RedisStatus(const redisContext* context, const redisReply* reply,
                         std::string_view what);

}  // namespace courier::redis

#endif  // COURIER_ADAPTERS_REDIS_REDIS_ERROR_H_
