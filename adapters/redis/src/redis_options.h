// Checks on RedisPresenceOptions, shared by the factory and the URL parser.
#ifndef COURIER_ADAPTERS_REDIS_REDIS_OPTIONS_H_
#define COURIER_ADAPTERS_REDIS_REDIS_OPTIONS_H_

#include "absl/status/status.h"
#include "courier/redis.h"

namespace courier::redis {

// kInvalidArgument naming the first field out of range (see courier/redis.h).
absl::Status ValidateOptions(const RedisPresenceOptions& options);

}  // namespace courier::redis

#endif  // COURIER_ADAPTERS_REDIS_REDIS_OPTIONS_H_
