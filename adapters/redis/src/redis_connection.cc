#include "redis_connection.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "courier/status.h"
#include "redis_error.h"

namespace courier::redis {
namespace {

timeval ToTimeval(TimeMs ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

}  // namespace

void ReplyDeleter::operator()(redisReply* reply) const { freeReplyObject(reply); }

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisConnection::Open(
    const RedisPresenceOptions& options) {
  redisContext* context = redisConnectWithTimeout(options.host.c_str(), options.port,
                                                  ToTimeval(options.connect_timeout_ms));
  if (context == nullptr) {
    return absl::ResourceExhaustedError("redis connect: cannot allocate a context");
  }
  std::unique_ptr<RedisConnection> connection(new RedisConnection(context));
  const std::string where = absl::StrCat("connect to ", options.host, ":", options.port);
  if (context->err != 0) return RedisStatus(context, nullptr, where);
  if (redisSetTimeout(context, ToTimeval(options.command_timeout_ms)) != REDIS_OK ||
      redisEnableKeepAlive(context) != REDIS_OK) {
    return RedisStatus(context, nullptr, where);
  }
  if (!options.password.empty()) {
    Command auth = {"AUTH"};
    if (!options.username.empty()) auth.push_back(options.username);
    auth.push_back(options.password);
    COURIER_RETURN_IF_ERROR(connection->Run(auth).status());
  }
  if (options.db != 0) {
    COURIER_RETURN_IF_ERROR(connection->Run({"SELECT", std::to_string(options.db)}).status());
  }
  return connection;
}

RedisConnection::~RedisConnection() { redisFree(context_); }

int RedisConnection::fd() const { return context_->fd; }

absl::Status RedisConnection::Append(const Command& command) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv.reserve(command.size());
  lengths.reserve(command.size());
  for (const std::string& arg : command) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(),
                             lengths.data()) != REDIS_OK) {
    return RedisStatus(context_, nullptr, command.empty() ? "command" : command.front());
  }
  return absl::OkStatus();
}

absl::Status RedisConnection::Flush() {
  int done = 0;
  while (done == 0) {
    if (redisBufferWrite(context_, &done) != REDIS_OK) {
      return RedisStatus(context_, nullptr, "write");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Reply> RedisConnection::Run(const Command& command) {
  COURIER_ASSIGN_OR_RETURN(std::vector<Reply> replies, Pipeline({command}));
  return std::move(replies.front());
}

absl::StatusOr<std::vector<Reply>> RedisConnection::Pipeline(const std::vector<Command>& commands) {
  for (const Command& command : commands) COURIER_RETURN_IF_ERROR(Append(command));
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  absl::Status first_error;
  for (const Command& command : commands) {
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK) {
      return RedisStatus(context_, nullptr, command.front());
    }
    Reply reply(static_cast<redisReply*>(raw));
    absl::Status status = RedisStatus(context_, reply.get(), command.front());
    if (!status.ok() && first_error.ok()) first_error = status;
    replies.push_back(std::move(reply));
  }
  if (!first_error.ok()) return first_error;
  return replies;
}

absl::Status RedisConnection::Send(const std::vector<Command>& commands) {
  for (const Command& command : commands) COURIER_RETURN_IF_ERROR(Append(command));
  return Flush();
}

absl::StatusOr<std::vector<Reply>> RedisConnection::ReadAvailable() {
  if (redisBufferRead(context_) != REDIS_OK) return RedisStatus(context_, nullptr, "read");
  std::vector<Reply> replies;
  while (true) {
    void* raw = nullptr;
    if (redisGetReplyFromReader(context_, &raw) != REDIS_OK) {
      return RedisStatus(context_, nullptr, "read");
    }
    if (raw == nullptr) break;
    replies.emplace_back(static_cast<redisReply*>(raw));
  }
  return replies;
}

}  // namespace courier::redis
