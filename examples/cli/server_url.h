// courier-cli: where the server is.
//
// Ownership: plain values. Thread-safety: none needed. Blocking: no.
#ifndef COURIER_EXAMPLES_CLI_SERVER_URL_H_
#define COURIER_EXAMPLES_CLI_SERVER_URL_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace courier_cli {

// The server's address. HTTP and the WebSocket share one port (docs/PROTOCOL.md).
struct ServerUrl {
  bool tls = false;   // https:// or wss://
  std::string host;   // a name, an IPv4 address or an IPv6 address without brackets
  std::string port;   // digits; 80 or 443 when the URL names none
};

// Parses "ws://HOST:PORT", "wss://…", "http://…", "https://…" or a bare "HOST:PORT"
// (taken as http). A trailing "/" is allowed; any other path is refused.
// Errors: kInvalidArgument naming what is wrong.
absl::StatusOr<ServerUrl> ParseServerUrl(std::string_view text);

// "http://HOST:PORT" or "https://HOST:PORT", for messages and the token file.
std::string ToString(const ServerUrl& url);

}  // namespace courier_cli

#endif  // COURIER_EXAMPLES_CLI_SERVER_URL_H_
