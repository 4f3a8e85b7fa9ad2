// ParseResponseHead and ParseRetryAfter (http_response.h).
#include "http_response.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "text.h"

namespace courier::webpush::internal {
namespace {

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(c) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

absl::Status Bad(std::string_view what) {
  return absl::InvalidArgumentError(Cat("malformed HTTP response: ", what));
}

// One head: the lines of buffer[0, end) where end is just past "\r\n\r\n".
absl::StatusOr<ResponseHead> ParseOneHead(std::string_view head) {
  ResponseHead out;
  std::size_t pos = head.find("\r\n");
  std::string_view status_line = head.substr(0, pos);
  if (status_line.size() < 12 ||
      (status_line.substr(0, 9) != "HTTP/1.1 " && status_line.substr(0, 9) != "HTTP/1.0 ")) {
    return Bad("status line is not HTTP/1.x");
  }
  std::string_view code = status_line.substr(9, 3);
  for (char c : code) {
    if (!absl::ascii_isdigit(c)) return Bad("status code is not 3 digits");
  }
  if (status_line.size() > 12 && status_line[12] != ' ') return Bad("status code is not 3 digits");
  out.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  if (out.status < 100 || out.status > 599) return Bad("status code out of range");
  for (char c : status_line) {
    if (c == '\0' || c == '\n' || c == '\r') return Bad("control byte in the status line");
  }
  std::size_t lines = 0;
  pos += 2;
  while (pos < head.size()) {
    const std::size_t eol = head.find("\r\n", pos);
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) break;  // the blank line that ends the head
    if (++lines > kMaxHeaderLines) return Bad("too many header lines");
    if (line.front() == ' ' || line.front() == '\t') return Bad("obsolete line folding");
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return Bad("header line without a name");
    std::string_view name = line.substr(0, colon);
    for (char c : name) {
      if (!IsTokenChar(c)) return Bad("bad header name");
    }
    std::string_view value = Trim(line.substr(colon + 1));
    for (char c : value) {
      if (c == '\0' || c == '\r' || c == '\n') return Bad("control byte in a header value");
    }
    if (EqualsIgnoreCase(name, "retry-after")) out.retry_after = std::string(value);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::optional<ResponseHead>> ParseResponseHead(std::string_view buffer) {
  std::size_t start = 0;
  for (int heads = 0;; ++heads) {
    if (heads > kMaxInterimHeads) return Bad("too many 1xx answers");
    const std::size_t end = buffer.find("\r\n\r\n", start);
    if (end == std::string_view::npos) {
      // A lone LF line end would never complete: say so instead of waiting.
      const std::string_view rest = buffer.substr(start);
      const std::size_t lf = rest.find('\n');
      if (lf != std::string_view::npos && (lf == 0 || rest[lf - 1] != '\r')) {
        return Bad("line ends with LF, not CRLF");
      }
      return std::nullopt;
    }
    std::string_view head = buffer.substr(start, end + 4 - start);
    for (std::size_t i = 0; i < head.size(); ++i) {
      if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')) {
        return Bad("line ends with LF, not CRLF");
      }
    }
    auto parsed = ParseOneHead(head);
    if (!parsed.ok()) return parsed.status();
    if (parsed->status == 101) return Bad("101 Switching Protocols");
    if (parsed->status >= 200) {
      parsed->size = end + 4;
      return std::optional<ResponseHead>(*std::move(parsed));
    }
    start = end + 4;  // an interim 1xx head: the final one follows
  }
}

std::optional<absl::Duration> ParseRetryAfter(std::string_view value, absl::Time now) {
  value = Trim(value);
  long long seconds = 0;
  if (value.size() <= 9 && ParseDecimal(value, &seconds)) return absl::Seconds(seconds);
  if (value.size() != 29 || value.substr(25) != " GMT") return std::nullopt;
  absl::Time when;
  std::string err;
  if (!absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", std::string(value), absl::UTCTimeZone(), &when,
                       &err)) {
    return std::nullopt;
  }
  return when <= now ? absl::ZeroDuration() : when - now;
}

}  // namespace courier::webpush::internal
