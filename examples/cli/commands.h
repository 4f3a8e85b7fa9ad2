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
#include "json.h"

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
  std::string to;      // a user, or
  std::string group;   // a group id (then `to` is empty)
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
  bool typing = false;           // print typing frames too
};
absl::Status Listen(Context& ctx, const ListenOptions& options);

// Groups (docs/PROTOCOL.md "Groups"): one `group` op (create, add, remove,
// leave, rename) answered `group_ok`, printed; a refusal is the Status of its
// error frame (unknown_group, not_member, not_admin, group_full, ...).
struct GroupOptions {
  std::string action;                // create, add, remove, leave, rename
  std::string group;                 // all but create
  std::vector<std::string> members;  // create (optional), add, remove
  std::string name;                  // create, rename
  std::string cid;                   // empty: a random one
  std::string device;
};
absl::Status ChangeGroup(Context& ctx, const GroupOptions& options);

// `groups`: prints the answer (every group of the user, or `group` only),
// each with its members and their roles.
absl::Status ListGroups(Context& ctx, const std::string& group, const std::string& device);

// A random client id ("cli-" + 20 hex digits).
std::string RandomCid();

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

// Push notifications (docs/PROTOCOL.md "Push"): stores a Web Push
// subscription for `device` pointing at `endpoint`; without p256dh/auth the
// receiver's keys are made here and printed (private key included).
struct PushSubscribeOptions {
  std::string device = "cli";
  std::string endpoint;
  std::string p256dh;  // base64url; empty: make a key pair
  std::string auth;    // base64url; empty: make one
};
absl::Status PushSubscribe(Context& ctx, const PushSubscribeOptions& options);
absl::Status PushUnsubscribe(Context& ctx, const std::string& device);

// One HTTP request with the bearer `token`; a 2xx answer's body as a JSON
// object, any other answer as a Status from its HTTP code and message.
absl::StatusOr<rapidjson::Document> CallApi(Context& ctx, boost::beast::http::verb verb,
                                            std::string_view target, std::string_view body,
                                            std::string_view token);

// Sends `read` for message ids the user has seen.
absl::Status MarkRead(Context& ctx, const std::vector<std::string>& ids, const std::string& device);

}  // namespace courier_cli

#endif  // COURIER_EXAMPLES_CLI_COMMANDS_H_
