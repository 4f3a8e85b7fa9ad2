// courier-cli: hello, welcome and keep-alive pings over one WebSocket.
#include "chat_session.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace courier_cli {

namespace {

constexpr auto kPingEvery = std::chrono::seconds(20);

}  // namespace

absl::Status FrameError(const rapidjson::Value& frame) {
  const std::string code = StringField(frame, "code").value_or("error");
  const std::string text =
      absl::StrCat("the server answered ", code, ": ", StringField(frame, "message").value_or(""));
  if (code == "unauthorized") return absl::UnauthenticatedError(text);
  if (code == "not_friends") return absl::FailedPreconditionError(text);
  if (code == "unknown_user" || code == "unknown_group") return absl::NotFoundError(text);
  if (code == "not_member" || code == "not_admin") return absl::PermissionDeniedError(text);
  if (code == "too_large" || code == "bad_frame" || code == "bad_seq") return absl::InvalidArgumentError(text);
  if (code == "rate_limited" || code == "queue_full" || code == "group_full" || code == "too_many_groups") {
    return absl::ResourceExhaustedError(text);
  }
  if (code == "unavailable") return absl::UnavailableError(text);
  return absl::UnknownError(text);
}

absl::StatusOr<std::unique_ptr<ChatSession>> ChatSession::Open(Context& ctx, const Credentials& me,
                                                               const std::string& device,
                                                               std::optional<int64_t> since) {
  std::unique_ptr<ChatSession> session(new ChatSession(ctx));
  auto connection = Connect(*ctx.runner, ctx.connect);
  if (!connection.ok()) return connection.status();
  session->connection_ = std::move(*connection);
  if (absl::Status s = session->connection_->Upgrade("/v1/ws"); !s.ok()) return s;
  JsonObject hello;
  hello.Add("op", "hello").Add("token", me.token).Add("device", device);
  if (since) hello.Add("since", *since);
  if (absl::Status s = session->Write(hello.str()); !s.ok()) return s;
  const Clock::time_point deadline = Clock::now() + ctx.connect.timeout;
  for (;;) {
    auto frame = session->Next(deadline);
    if (!frame.ok()) {
      if (absl::IsUnauthenticated(frame.status())) {
        return absl::UnauthenticatedError(absl::StrCat("the server refused the token of ", me.user, " (",
                                                       frame.status().message(),
                                                       "): run `courier-cli login` again"));
      }
      return frame.status();
    }
    const std::string op = StringField(*frame, "op").value_or("");
    if (op == "welcome") {
      session->welcome_ = std::move(*frame);
      return session;
    }
    if (op == "error") return FrameError(*frame);
  }
}

ChatSession::~ChatSession() { Close(); }

absl::Status ChatSession::Write(std::string_view frame) {
  last_write_ = Clock::now();
  return connection_->Write(frame);
}

absl::StatusOr<rapidjson::Document> ChatSession::Next(Clock::time_point deadline) {
  for (;;) {
    auto text = connection_->Read(tick_, [&]() -> absl::Status {
      if (idle_hook_) {
        if (absl::Status s = idle_hook_(); !s.ok()) return s;
      }
      const auto now = Clock::now();
      if (now >= deadline) return absl::DeadlineExceededError("no answer from the server in time");
      if (now - last_write_ >= kPingEvery) return Write(R"({"op":"ping"})");
      return absl::OkStatus();
    });
    if (!text.ok()) return text.status();
    auto frame = ParseObject(*text);
    if (frame.ok() && StringField(*frame, "op")) return frame;
    std::fprintf(stderr, "courier-cli: ignoring a frame that is not a JSON object with an op\n");
  }
}

void ChatSession::Close() {
  if (connection_) {
    connection_->Close();
    connection_.reset();
  }
}

}  // namespace courier_cli
