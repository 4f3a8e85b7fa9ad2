// One hiredis connection: connect with timeouts, AUTH/SELECT, commands,
// pipelines, and the raw send/read steps a subscriber's poll loop needs.
#ifndef COURIER_ADAPTERS_REDIS_REDIS_CONNECTION_H_
#define COURIER_ADAPTERS_REDIS_REDIS_CONNECTION_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "courier/redis.h"

struct redisContext;
struct redisReply;

namespace courier::redis {

struct ReplyDeleter {
  void operator()(redisReply* reply) const;
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;
using Command = std::vector<std::string>;

// Not thread-safe: one thread at a time (the store guards it with a mutex or
// keeps it on one thread). After any error the connection is unusable.
class RedisConnection {
 public:
  // Connects within connect_timeout_ms, then sets command_timeout_ms for
  // every read and write, TCP keepalive, AUTH and SELECT.
  static absl::StatusOr<std::unique_ptr<RedisConnection>> Open(const RedisPresenceOptions& options);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // One command and its reply; an error reply is an error status.
  absl::StatusOr<Reply> Run(const Command& command);
  // Sends all `commands` in one write, then reads every reply; the first
  // failure (after reading everything) is returned.
  absl::StatusOr<std::vector<Reply>> Pipeline(const std::vector<Command>& commands);

  // Subscriber steps. Send writes `commands` without waiting for replies.
  absl::Status Send(const std::vector<Command>& commands);
  // Reads what the socket holds (one read; call when poll says readable)
  // and returns every complete reply.
  absl::StatusOr<std::vector<Reply>> ReadAvailable();
  int fd() const;

 private:
  explicit RedisConnection(redisContext* context) : context_(context) {}
  absl::Status Append(const Command& command);
  absl::Status Flush();
  redisContext* context_;
};

}  // namespace courier::redis

#endif  // COURIER_ADAPTERS_REDIS_REDIS_CONNECTION_H_
