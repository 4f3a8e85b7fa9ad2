// ParseUrl, IsLoopbackHost, Url::Origin: the endpoint rules of
// courier/webpush/subscription.h.
#include <arpa/inet.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "courier/webpush/subscription.h"
#include "text.h"

namespace courier::webpush {
namespace {

constexpr std::size_t kMaxHostBytes = 253;

bool IsHostChar(char c) { return absl::ascii_isalnum(c) || c == '.' || c == '-'; }

bool IsTargetChar(char c) { return c > 0x20 && c < 0x7F && c != '#'; }

}  // namespace

std::string Url::Origin() const {
  const std::string shown_host = ipv6_literal ? internal::Cat("[", host, "]") : host;
  const bool default_port = port == (https ? 443 : 80);
  return internal::Cat(https ? "https://" : "http://", internal::Lower(shown_host),
                       default_port ? "" : internal::Cat(":", port));
}

absl::StatusOr<Url> ParseUrl(std::string_view text) {
  if (text.size() > kMaxEndpointBytes) {
    return absl::InvalidArgumentError(
        internal::Cat("URL longer than ", kMaxEndpointBytes, " bytes"));
  }
  Url url;
  const std::size_t colon = text.find("://");
  if (colon == std::string_view::npos) return absl::InvalidArgumentError("URL has no scheme");
  const std::string scheme = internal::Lower(text.substr(0, colon));
  if (scheme == "https") {
    url.https = true;
  } else if (scheme == "http") {
    url.https = false;
  } else {
    return absl::InvalidArgumentError("URL scheme is neither https nor http");
  }
  std::string_view rest = text.substr(colon + 3);
  const std::size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view target = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return absl::InvalidArgumentError("URL has user info");
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return absl::InvalidArgumentError("URL has an unclosed [");
    const std::string literal(authority.substr(1, close - 1));
    in6_addr addr;
    if (inet_pton(AF_INET6, literal.c_str(), &addr) != 1) {
      return absl::InvalidArgumentError("URL has a bad IPv6 address");
    }
    url.host = internal::Lower(literal);
    url.ipv6_literal = true;
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return absl::InvalidArgumentError("URL has junk after ]");
      port_text = after.substr(1);
      if (port_text.empty()) return absl::InvalidArgumentError("URL has an empty port");
    }
  } else {
    const std::size_t port_colon = authority.find(':');
    std::string_view host = authority.substr(0, port_colon);
    if (port_colon != std::string_view::npos) {
      port_text = authority.substr(port_colon + 1);
      if (port_text.empty()) return absl::InvalidArgumentError("URL has an empty port");
    }
    if (host.empty()) return absl::InvalidArgumentError("URL has no host");
    if (host.size() > kMaxHostBytes) return absl::InvalidArgumentError("URL host is too long");
    for (char c : host) {
      if (!IsHostChar(c)) return absl::InvalidArgumentError("URL host has a bad character");
    }
    if (host.front() == '.' || host.front() == '-') {
      return absl::InvalidArgumentError("URL host starts with '.' or '-'");
    }
    url.host = internal::Lower(host);
  }
  if (!port_text.empty()) {
    long long port = 0;
    if (port_text.size() > 5 || !internal::ParseDecimal(port_text, &port) || port == 0 ||
        port > 65535) {
      return absl::InvalidArgumentError("URL port is not 1-65535");
    }
    url.port = static_cast<std::uint16_t>(port);
  } else {
    url.port = url.https ? 443 : 80;
  }
  if (!target.empty() && target.front() == '#') {
    return absl::InvalidArgumentError("URL has a fragment");
  }
  for (char c : target) {
    if (c == '#') return absl::InvalidArgumentError("URL has a fragment");
    if (!IsTargetChar(c)) return absl::InvalidArgumentError("URL path has a space or control byte");
  }
  if (target.empty() || target.front() == '?') url.target.push_back('/');
  url.target.append(target);
  return url;
}

bool IsLoopbackHost(std::string_view host) {
  if (internal::Lower(host) == "localhost") return true;
  const std::string h(host);
  in_addr v4;
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

}  // namespace courier::webpush
