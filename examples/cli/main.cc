// courier-cli: a command-line client of courier-server, for scripts and for people
// who live in terminals.
//
//   courier-cli --server ws://127.0.0.1:8080 register alice   # asks for the password, no echo
//   courier-cli login alice --password-file pw.txt  # stores the token ($XDG_CONFIG_HOME/courier/token)
//   courier-cli friend bob                          # ask; `accept alice` on bob's side
//   courier-cli send bob 'hello'                    # prints the `sent` frame
//   courier-cli listen --until-synced               # prints each inbox event, acks it
//   courier-cli chat                                # the interactive mode for a terminal
//   courier-cli group create friends bob carol      # prints group_ok with the new group's id
//   courier-cli group send GROUP 'hello all'        # also: add, remove, leave, rename, list
//
// A password is never taken from the command line (other users see it in ps, the
// shell keeps it in its history): a prompt without echo, or --password-file.
//
// Results go to standard output as JSON, one object a line; messages for people go
// to standard error. Exit codes: 0 done; 1 the server refused (its message is
// printed) or another error; 2 bad usage; 3 the server cannot be reached or did
// not answer in time; 4 not logged in or the token was refused; 130 interrupted
// (SIGINT/SIGTERM).
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "courier/version.h"
#include "credentials.h"
#include "server_url.h"
#include "terminal.h"

namespace {

using courier_cli::Context;

constexpr std::size_t kMaxBody = 64 * 1024;
const char kDefaultServer[] = "http://127.0.0.1:8080";

int fail(const absl::Status& status) {
  std::fprintf(stderr, "courier-cli: %s\n", std::string(status.message()).c_str());
  switch (status.code()) {
    case absl::StatusCode::kOk: return 0;
    case absl::StatusCode::kCancelled: return 130;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded: return 3;
    case absl::StatusCode::kUnauthenticated: return 4;
    default: return 1;
  }
}

bool ValidName(const std::string& s) {
  static const std::regex kName("[A-Za-z0-9_.-]{1,64}");
  return std::regex_match(s, kName);
}

// A group id as the server makes them (courier/group.h ValidateGroupId).
bool ValidGroupId(const std::string& s) {
  static const std::regex kGroupId("[A-Za-z0-9_-]{1,64}");
  return std::regex_match(s, kGroupId);
}

// "-" means: read it from standard input (whole: all of it, else one line).
bool ReadArgument(std::string& value, bool whole) {
  if (value != "-") return true;
  value.clear();
  if (whole) {
    value.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    if (value.size() > kMaxBody + 1) return false;
    if (!value.empty() && value.back() == '\n') value.pop_back();
  } else {
    std::getline(std::cin, value);
  }
  return !std::cin.bad();
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a closed stdout pipe is an error value, not a death

  CLI::App app{"courier-cli: a command-line client of courier-server (docs/PROTOCOL.md v1)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("courier-cli ") + courier::kVersion + " (commit " +
                                         courier::kGitCommit + ")");
  app.fallthrough();

  std::string server;
  std::string token_file = courier_cli::DefaultTokenFile();
  double timeout_s = 30;
  Context ctx;
  app.add_option("--server", server,
                 "ws://HOST:PORT, http://HOST:PORT (or wss://, https://); default: $COURIER_SERVER_URL, "
                 "else the server of the last login, else " + std::string(kDefaultServer));
  app.add_option("--token-file", token_file, "where login stores the token")
      ->capture_default_str();
  app.add_option("--timeout", timeout_s, "seconds each network step may take")
      ->capture_default_str()->check(CLI::Range(0.1, 3600.0));
  app.add_option("--ca-file", ctx.connect.ca_file, "TLS: PEM file of trusted certificates")
      ->check(CLI::ExistingFile);
  app.add_flag("--insecure", ctx.connect.insecure, "TLS: do not verify the server's certificate");

  std::string user, password, to, body, cid, password_file, argv_password;
  std::vector<std::string> ids;
  courier_cli::ListenOptions listen;
  int64_t since = -1;
  std::string send_device = "cli-send";
  listen.device = "cli";
  std::string read_device = "cli-send";

  // The password: a prompt without echo, or --password-file. A second positional
  // (the old `register USER PASS`) and --password are refused with a message.
  const char kPasswordHelp[] = "the password (at least 8 bytes) is its first line; - reads it from stdin. "
                               "Default: ask for it on the terminal, without echo";
  auto* reg = app.add_subcommand("register", "make an account");
  reg->add_option("USER", user, "1-64 of [A-Za-z0-9_.-]")->required();
  reg->add_option("--password-file", password_file, kPasswordHelp);
  reg->add_option("PASS", argv_password)->group("");
  reg->add_option("--password", argv_password)->group("");

  auto* login = app.add_subcommand("login", "log in and store the token");
  login->add_option("USER", user)->required();
  login->add_option("--password-file", password_file, kPasswordHelp);
  login->add_option("PASS", argv_password)->group("");
  login->add_option("--password", argv_password)->group("");

  auto* request = app.add_subcommand("friend", "ask USER to be friends (accepts if they asked you)");
  request->add_option("USER", user)->required();

  auto* accept = app.add_subcommand("accept", "accept USER's friend request");
  accept->add_option("USER", user)->required();

  auto* friends = app.add_subcommand("friends", "list your friends");

  auto* send = app.add_subcommand("send", "send a message and wait until it is stored");
  send->add_option("TO", to)->required();
  send->add_option("BODY", body, "at most 64 KiB; - reads it from stdin")->required();
  send->add_option("--cid", cid, "client message id (1-64 bytes); the same cid never makes a duplicate");
  send->add_option("--device", send_device, "device to say hello as")->capture_default_str();

  auto* listen_cmd = app.add_subcommand("listen", "print each inbox event as a JSON line and ack it");
  listen_cmd->add_option("--device", listen.device, "device to receive as")->capture_default_str();
  listen_cmd->add_option("--since", since, "start after this seq (default: the device's cursor)")
      ->check(CLI::NonNegativeNumber);
  listen_cmd->add_option("--count", listen.count, "exit after this many events")
      ->check(CLI::PositiveNumber);
  listen_cmd->add_flag("--until-synced", listen.until_synced, "exit once caught up (`synced`)");
  listen_cmd->add_flag("--presence", listen.presence, "print friends' presence frames too");
  listen_cmd->add_flag("--typing", listen.typing, "print typing frames too (never stored: live only)");

  // Groups: `group SUBCOMMAND`; the group id is the server's (group create prints it).
  courier_cli::GroupOptions group_options;
  std::string group_send_device = "cli-send";
  std::string group_list_id;
  auto* group = app.add_subcommand("group", "groups: create, add, remove, leave, rename, list, send");
  group->require_subcommand(1);
  // A change of an existing group: GROUP, then what the action takes (MEMBER... or NAME).
  const auto group_change = [&](const char* action, const char* help, const char* then) {
    CLI::App* sub = group->add_subcommand(action, help);
    if (then == nullptr) {  // create
      sub->add_option("NAME", group_options.name, "display name")->required();
      sub->add_option("MEMBER", group_options.members, "friends to add");
    } else {
      sub->add_option("GROUP", group_options.group)->required();
      if (std::string(then) == "MEMBER") sub->add_option("MEMBER", group_options.members)->required();
      if (std::string(then) == "NAME") sub->add_option("NAME", group_options.name)->required();
    }
    sub->add_option("--cid", group_options.cid, "client id (1-64 bytes); a create retried with it answers dup");
    sub->add_option("--device", group_send_device, "device to say hello as")->capture_default_str();
    return sub;
  };
  auto* group_create = group_change("create", "create a group (you are its admin); prints its id", nullptr);
  auto* group_add = group_change("add", "add friends to a group (admins)", "MEMBER");
  auto* group_remove = group_change("remove", "remove members from a group (admins)", "MEMBER");
  auto* group_leave = group_change("leave", "leave a group", "");
  auto* group_rename = group_change("rename", "rename a group (admins)", "NAME");
  auto* group_list = group->add_subcommand("list", "your groups with their members and roles (or one group)");
  group_list->add_option("GROUP", group_list_id, "only this group");
  group_list->add_option("--device", group_send_device, "device to say hello as")->capture_default_str();
  auto* group_send = group->add_subcommand("send", "send a message to a group and wait until it is stored");
  group_send->add_option("GROUP", to)->required();
  group_send->add_option("BODY", body, "at most 64 KiB; - reads it from stdin")->required();
  group_send->add_option("--cid", cid, "client message id (1-64 bytes); the same cid never makes a duplicate");
  group_send->add_option("--device", group_send_device, "device to say hello as")->capture_default_str();

  courier_cli::ChatOptions chat_options;
  auto* chat = app.add_subcommand("chat", "the interactive mode for a terminal: friends, presence, conversations");
  chat->add_option("USER", chat_options.open, "open the conversation with this friend at once");
  chat->add_option("--device", chat_options.device,
                   "device to say hello as (default: chat_device of settings.json, else chat)");

  auto* read = app.add_subcommand("read", "tell the senders you have read these message ids");
  read->add_option("ID", ids)->required();
  read->add_option("--device", read_device, "device to say hello as")->capture_default_str();

  courier_cli::PushSubscribeOptions push_options;
  auto* push_sub = app.add_subcommand(
      "push-subscribe", "store a Web Push subscription for a device (a test receiver's URL)");
  push_sub->add_option("--endpoint", push_options.endpoint, "the push endpoint URL")->required();
  push_sub->add_option("--device", push_options.device, "the device it wakes")->capture_default_str();
  push_sub->add_option("--p256dh", push_options.p256dh,
                       "the receiver's P-256 public key, base64url (default: make a key pair)");
  push_sub->add_option("--auth", push_options.auth, "the receiver's 16-byte auth secret, base64url");
  std::string push_device = "cli";
  auto* push_unsub = app.add_subcommand("push-unsubscribe", "remove a device's push subscription");
  push_unsub->add_option("--device", push_device, "the device")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  auto usage = [](const std::string& text) {
    std::fprintf(stderr, "courier-cli: %s\n", text.c_str());
    return 2;
  };

  const auto password_in_argv = [](const CLI::App* sub) {
    return sub->parsed() && (sub->count("PASS") > 0 || sub->count("--password") > 0);
  };
  if (password_in_argv(reg) || password_in_argv(login)) {
    return usage("a password is not taken from the command line (other users can see it in `ps`, the "
                 "shell keeps it in its history): leave it out to be asked for it without echo, or use "
                 "--password-file FILE (--password-file - reads it from stdin)");
  }
  auto settings = courier_cli::LoadSettings(courier_cli::DefaultSettingsFile());
  if (!settings.ok()) return usage(std::string(settings.status().message()));

  // The server: the flag, the environment, settings.json, the last login, the default.
  if (server.empty()) {
    if (const char* env = std::getenv("COURIER_SERVER_URL"); env != nullptr && *env != '\0') server = env;
  }
  if (server.empty()) server = settings->server;
  if (server.empty() && !reg->parsed() && !login->parsed()) {
    if (auto c = courier_cli::LoadCredentials(token_file); c.ok() && !c->server.empty()) server = c->server;
  }
  if (server.empty()) server = kDefaultServer;
  auto url = courier_cli::ParseServerUrl(server);
  if (!url.ok()) return usage(std::string(url.status().message()));
  ctx.connect.url = *url;
  ctx.connect.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  ctx.token_file = token_file;
  courier_cli::Runner runner;
  ctx.runner = &runner;

  if (reg->parsed() || login->parsed() || request->parsed() || accept->parsed()) {
    if (!ValidName(user)) return usage("a user name is 1-64 of [A-Za-z0-9_.-]");
  }
  if (reg->parsed() || login->parsed()) {
    absl::StatusOr<std::string> read_password;
    if (!password_file.empty()) {
      read_password = courier_cli::ReadPasswordFile(password_file);
    } else {
      read_password = courier_cli::PromptPassword("Password for " + user + ": ");
      if (read_password.ok() && reg->parsed()) {
        auto again = courier_cli::PromptPassword("The same password again: ");
        if (!again.ok()) {
          read_password = again.status();
        } else if (*again != *read_password) {
          return usage("the two passwords differ");
        }
      }
    }
    if (!read_password.ok()) {
      if (absl::IsCancelled(read_password.status())) return fail(read_password.status());
      return usage(std::string(read_password.status().message()));
    }
    password = std::move(*read_password);
  }

  absl::Status status;
  if (reg->parsed()) {
    if (password.size() < 8) return usage("a password has at least 8 bytes");
    status = courier_cli::Register(ctx, user, password);
  } else if (login->parsed()) {
    status = courier_cli::Login(ctx, user, password);
  } else if (request->parsed()) {
    status = courier_cli::RequestFriend(ctx, user);
  } else if (accept->parsed()) {
    status = courier_cli::AcceptFriend(ctx, user);
  } else if (friends->parsed()) {
    status = courier_cli::ListFriends(ctx);
  } else if (push_sub->parsed()) {
    if (!ValidName(push_options.device)) return usage("a device is 1-64 of [A-Za-z0-9_.-]");
    status = courier_cli::PushSubscribe(ctx, push_options);
  } else if (push_unsub->parsed()) {
    if (!ValidName(push_device)) return usage("a device is 1-64 of [A-Za-z0-9_.-]");
    status = courier_cli::PushUnsubscribe(ctx, push_device);
  } else if (send->parsed() || group_send->parsed()) {
    // One path for both: to a user (send TO) or to a group (group send GROUP).
    const bool to_group = group_send->parsed();
    const std::string& device = to_group ? group_send_device : send_device;
    if (to_group ? !ValidGroupId(to) : !ValidName(to)) {
      return usage(to_group ? "GROUP is a group id: 1-64 of [A-Za-z0-9_-] (group list shows them)"
                            : "TO is a user name: 1-64 of [A-Za-z0-9_.-]");
    }
    if (!ValidName(device)) return usage("a device is 1-64 of [A-Za-z0-9_.-]");
    if (!ReadArgument(body, true) || body.size() > kMaxBody) return usage("a body is at most 64 KiB");
    const bool cid_given = (to_group ? group_send : send)->count("--cid") > 0;
    if (cid.size() > 64 || (cid_given && cid.empty())) return usage("a cid is 1-64 bytes");
    courier_cli::SendOptions options;
    (to_group ? options.group : options.to) = to;
    options.body = body;
    options.cid = cid;
    options.device = device;
    options.wait = ctx.connect.timeout;
    status = courier_cli::Send(ctx, options);
  } else if (group_list->parsed()) {
    if (!group_list_id.empty() && !ValidGroupId(group_list_id)) {
      return usage("GROUP is a group id: 1-64 of [A-Za-z0-9_-]");
    }
    if (!ValidName(group_send_device)) return usage("a device is 1-64 of [A-Za-z0-9_.-]");
    status = courier_cli::ListGroups(ctx, group_list_id, group_send_device);
  } else if (group->parsed()) {
    bool cid_given = false;
    for (CLI::App* sub : {group_create, group_add, group_remove, group_leave, group_rename}) {
      if (sub->parsed()) {
        group_options.action = sub->get_name();
        cid_given = sub->count("--cid") > 0;
      }
    }
    if (group_options.action != "create" && !ValidGroupId(group_options.group)) {
      return usage("GROUP is a group id: 1-64 of [A-Za-z0-9_-] (group list shows them)");
    }
    if (group_options.action == "create" || group_options.action == "rename") {
      if (group_options.name.empty() || group_options.name.size() > 128) return usage("a group name is 1-128 bytes");
    }
    if (group_options.members.size() > 1024) return usage("at most 1024 members at once");
    for (const auto& m : group_options.members) {
      if (!ValidName(m)) return usage("a member is a user name: 1-64 of [A-Za-z0-9_.-]");
    }
    if (group_options.cid.size() > 64 || (cid_given && group_options.cid.empty())) {
      return usage("a cid is 1-64 bytes");
    }
    if (!ValidName(group_send_device)) return usage("a device is 1-64 of [A-Za-z0-9_.-]");
    group_options.device = group_send_device;
    status = courier_cli::ChangeGroup(ctx, group_options);
  } else if (listen_cmd->parsed()) {
    if (!ValidName(listen.device)) return usage("a device is 1-64 of [A-Za-z0-9_.-]");
    if (since >= 0) listen.since = since;
    status = courier_cli::Listen(ctx, listen);
  } else if (chat->parsed()) {
    if (chat_options.device.empty()) chat_options.device = settings->chat_device;
    if (chat_options.device.empty()) chat_options.device = "chat";
    if (!ValidName(chat_options.device)) return usage("a device is 1-64 of [A-Za-z0-9_.-]");
    if (!chat_options.open.empty() && !ValidName(chat_options.open)) {
      return usage("USER is a user name: 1-64 of [A-Za-z0-9_.-]");
    }
    if (!::isatty(STDIN_FILENO) || !::isatty(STDOUT_FILENO)) {
      return usage("chat needs a terminal on standard input and output; scripts use send and listen");
    }
    status = courier_cli::Chat(ctx, chat_options);
  } else if (read->parsed()) {
    if (!ValidName(read_device)) return usage("a device is 1-64 of [A-Za-z0-9_.-]");
    if (ids.size() > 1000) return usage("at most 1000 ids at once");
    for (const auto& id : ids) {
      if (id.empty() || id.size() > 256) return usage("an id is 1-256 bytes");
    }
    status = courier_cli::MarkRead(ctx, ids, read_device);
  }
  return status.ok() ? 0 : fail(status);
}
