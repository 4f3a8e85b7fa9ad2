// courier-cli: the subcommands. Each prints its result on standard output as one
// JSON line (listen: one line per inbox event) and returns a Status whose code
// main() turns into the exit code.
//
// Ownership: the Context borrows its Runner. Thread-safety: single-threaded.
// Blocking: every command blocks until done, its deadline, or SIGINT/SIGTERM.
#ifndef COURIER_EXAMPLES_CLI_COMMANDS_H_
#define COURIER_EXAMPLES_CLI_COMMANDS_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "connection.h"
#include "credentials.h"

namespace courier_cli {

struct Context {
  Runner* runner = nullptr;  // not owned
  ConnectOptions connect;    // the server and how to reach it
  std::string token_file;
};

// HTTP API (docs/PROTOCOL.md "HTTP").
absl::Status Register(Context& ctx, const std::string& user, const std::string& password);
absl::Status Login(Context& ctx, const std::string& user, const std::string& password);
absl::Status RequestFriend(Context& ctx, const std::string& user);
absl::Status AcceptFriend(Context& ctx, const std::string& user);
absl::Status ListFriends(Context& ctx);

// WebSocket (docs/PROTOCOL.md "WebSocket").
struct SendOptions {
  std::string to;
  std::string body;
  std::string cid;     // empty: a random one
  std::string device;  // the device this connection says hello as
  std::chrono::milliseconds wait{30000};  // for `sent`, retries included
};
absl::Status Send(Context& ctx, const SendOptions& options);

struct ListenOptions {
  std::string device;
  std::optional<int64_t> since;  // none: resume from the device's cursor
  int64_t count = 0;             // stop after this many events; 0: no limit
  bool until_synced = false;     // stop at `synced`
  bool presence = false;         // print presence frames too
};
absl::Status Listen(Context& ctx, const ListenOptions& options);

// The interactive mode for a terminal (chat_mode.cc): the friends with their
// presence, a conversation per friend, ticks as receipts arrive. Needs a terminal
// on standard input and output (else kFailedPrecondition).
struct ChatOptions {
  std::string device;  // the device this chat says hello as
  std::string open;    // a friend whose conversation opens at once; empty: the list
};
absl::Status Chat(Context& ctx, const ChatOptions& options);

// GET /v1/friends: the names of the user's friends, sorted.
absl::StatusOr<std::vector<std::string>> FetchFriends(Context& ctx, const Credentials& me);

// Sends `read` for message ids the user has seen.
absl::Status MarkRead(Context& ctx, const std::vector<std::string>& ids, const std::string& device);

}  // namespace courier_cli

#endif  // COURIER_EXAMPLES_CLI_COMMANDS_H_
