// courier-cli: the token file that `login` writes and the other commands read.
//
// Ownership: values. Thread-safety: none shared. Blocking: file I/O.
#ifndef COURIER_EXAMPLES_CLI_CREDENTIALS_H_
#define COURIER_EXAMPLES_CLI_CREDENTIALS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace courier_cli {

// One JSON object: {"server": "...", "user": "...", "token": "...", "expires_at": ms}.
struct Credentials {
  std::string server;      // the --server it was made for
  std::string user;
  std::string token;       // the JWT of POST /v1/login
  int64_t expires_at = 0;  // unix ms
};

// courier-cli's folder under the XDG config directory: $XDG_CONFIG_HOME/courier
// when that is an absolute path, else $HOME/.config/courier.
std::string ConfigDir();

// $COURIER_CLI_TOKEN_FILE, else ConfigDir()/token.
std::string DefaultTokenFile();

// Settings a person writes once: ConfigDir()/settings.json, one JSON object with
// optional string keys "server" (the --server default) and "chat_device" (the
// device `chat` says hello as).
struct Settings {
  std::string server;
  std::string chat_device;
};
std::string DefaultSettingsFile();

// A missing file gives empty settings. Errors: kInvalidArgument naming the file
// (not a JSON object, an unknown key, a value that is not a string),
// kUnavailable on a read error.
absl::StatusOr<Settings> LoadSettings(const std::string& path);

// Errors: kUnauthenticated when the file is missing ("run login first") or the
// token has expired,
// kInvalidArgument when it is not a token file, kUnavailable on a read error.
absl::StatusOr<Credentials> LoadCredentials(const std::string& path);

// Writes the file (mode 0600; its folder 0700 if made here) through a rename, so a
// reader sees the old or the new file. Errors: kUnavailable naming the path.
absl::Status SaveCredentials(const std::string& path, const Credentials& credentials);

}  // namespace courier_cli

#endif  // COURIER_EXAMPLES_CLI_CREDENTIALS_H_
