// courier-cli: an authenticated WebSocket session (hello → welcome), frame by frame.
//
// Ownership: borrows the Context's Runner, which must outlive it.
// Thread-safety: single-threaded. Blocking: each call blocks (see connection.h).
#ifndef COURIER_EXAMPLES_CLI_CHAT_SESSION_H_
#define COURIER_EXAMPLES_CLI_CHAT_SESSION_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "commands.h"
#include "connection.h"
#include "credentials.h"
#include "json.h"

namespace courier_cli {

class ChatSession {
 public:
  // Connects to /v1/ws, says hello as `device` (with `since` when given) and waits
  // for `welcome`. Errors: kUnauthenticated when the server refuses the token,
  // kUnavailable / kDeadlineExceeded on the network, kCancelled on a signal.
  static absl::StatusOr<std::unique_ptr<ChatSession>> Open(Context& ctx, const Credentials& me,
                                                           const std::string& device,
                                                           std::optional<int64_t> since);
  ChatSession(const ChatSession&) = delete;
  ChatSession& operator=(const ChatSession&) = delete;
  ~ChatSession();

  // The `welcome` frame: user, device, cursor, head.
  const rapidjson::Document& welcome() const { return welcome_; }

  absl::Status Write(std::string_view frame);

  // The next frame from the server (a JSON object). Sends `ping` while it waits,
  // so the server's idle timeout never closes a quiet session. Errors: those of
  // Connection::Read, and kDeadlineExceeded at `deadline`.
  absl::StatusOr<rapidjson::Document> Next(Clock::time_point deadline = Clock::time_point::max());

  void Close();

  // While Next waits, `hook` runs every `every` (default: none, 500 ms ticks); an
  // error it returns ends that Next with the error. For the chat mode, which
  // writes what was typed while a read is pending.
  void SetIdleHook(std::chrono::milliseconds every, std::function<absl::Status()> hook) {
    tick_ = every;
    idle_hook_ = std::move(hook);
  }

 private:
  explicit ChatSession(Context& ctx) : ctx_(ctx) {}

  Context& ctx_;
  std::unique_ptr<Connection> connection_;
  rapidjson::Document welcome_;
  Clock::time_point last_write_ = Clock::now();
  std::chrono::milliseconds tick_{500};
  std::function<absl::Status()> idle_hook_;
};

// The Status for an `error` frame, by its code (docs/PROTOCOL.md "Error codes").
absl::Status FrameError(const rapidjson::Value& frame);

}  // namespace courier_cli

#endif  // COURIER_EXAMPLES_CLI_CHAT_SESSION_H_
