// config_file.h: courier-server's --config FILE, a TOML subset.
//
// The file holds the same keys as the flags, without the dashes in front:
//
//     # courier-server.toml
//     listen = "0.0.0.0:8080"
//     data-dir = "/var/lib/courier"
//     window = 512
//
// The subset: one `key = value` per line; blank lines and `#` comments (also
// after a value); a key is a flag name (`data-dir`; `data_dir` is the same
// key); a value is a basic string in double quotes (escapes \" \\ \t \n \r
// \uXXXX), a literal string in single quotes, an integer (digits, `_`
// between them allowed), or `true` / `false`. Tables (`[section]`), arrays,
// floats, multi-line strings and a key given twice are errors. Every error
// names the file and the line.
//
// Precedence (ParseOptions applies it): command line > COURIER_<FLAG>
// environment > config file > built-in default.
//
// Thread-safety: pure functions. Blocking: ReadConfigFile reads one file.
#ifndef COURIER_EXAMPLES_SERVER_CONFIG_FILE_H_
#define COURIER_EXAMPLES_SERVER_CONFIG_FILE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace CLI {
class App;
}  // namespace CLI

namespace courier::server {

struct ConfigEntry {
  std::string key;    // normalized: '_' -> '-', e.g. "data-dir"
  std::string value;  // the decoded value as a flag would carry it ("512", "true", a string)
  int line = 0;       // 1-based, for messages
};

// Parses `text`; `source` (the path) names the file in errors.
// kInvalidArgument "FILE:LINE: what is wrong" for a syntax error or a
// duplicate key. Keys are not checked against the flags here.
absl::StatusOr<std::vector<ConfigEntry>> ParseConfigText(std::string_view text,
                                                         const std::string& source);

// Reads and parses `path` (at most 1 MiB). kNotFound / kPermissionDenied /
// kInvalidArgument naming the path when it cannot be read or parsed.
absl::StatusOr<std::vector<ConfigEntry>> ReadConfigFile(const std::string& path);

// Reads `path` and gives each key's value to the option `--KEY` of `app`
// when neither the command line nor the environment set it (call after
// app.parse). kInvalidArgument "FILE:LINE: ..." for an unknown key (also
// `config`, `help`, `version`) or a value the option refuses (its own
// validators run); the read errors of ReadConfigFile.
absl::Status ApplyConfigFile(CLI::App& app, const std::string& path);

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_CONFIG_FILE_H_
