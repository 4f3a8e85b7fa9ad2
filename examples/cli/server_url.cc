// courier-cli: parsing --server.
#include "server_url.h"

#include <algorithm>
#include <cctype>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace courier_cli {

absl::StatusOr<ServerUrl> ParseServerUrl(std::string_view input) {
  ServerUrl url;
  const absl::string_view text(input.data(), input.size());
  absl::string_view rest = text;
  if (rest.size() > 2048) return absl::InvalidArgumentError("server URL is too long");
  if (absl::StartsWith(rest, "ws://") || absl::StartsWith(rest, "http://")) {
    rest.remove_prefix(rest.find("://") + 3);
  } else if (absl::StartsWith(rest, "wss://") || absl::StartsWith(rest, "https://")) {
    rest.remove_prefix(rest.find("://") + 3);
    url.tls = true;
  } else if (rest.find("://") != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("server URL '", text, "': use ws://, wss://, http:// or https://"));
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("server URL '", text, "' has a path; give only the scheme, host and port"));
  }
  absl::string_view port;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    const size_t close = rest.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("server URL '", text, "': missing ']'"));
    }
    url.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return absl::InvalidArgumentError(absl::StrCat("server URL '", text, "': bad port"));
      }
      port = rest.substr(1);
    }
  } else {
    const size_t colon = rest.rfind(':');
    url.host = std::string(rest.substr(0, colon));
    if (colon != absl::string_view::npos) port = rest.substr(colon + 1);
  }
  if (url.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("server URL '", text, "' has no host"));
  }
  if (port.empty()) {
    url.port = url.tls ? "443" : "80";
  } else {
    int number = 0;
    if (!std::all_of(port.begin(), port.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) ||
        !absl::SimpleAtoi(port, &number) || number < 1 || number > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("server URL '", text, "': the port must be 1-65535"));
    }
    url.port = std::string(port);
  }
  return url;
}

std::string ToString(const ServerUrl& url) {
  const bool v6 = url.host.find(':') != std::string::npos;
  return absl::StrCat(url.tls ? "https://" : "http://", v6 ? "[" : "", url.host, v6 ? "]" : "",
                      ":", url.port);
}

}  // namespace courier_cli
