// RedisOptionsFromUrl, option checks and the backoff schedule.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "courier/redis.h"
#include "courier/status.h"
#include "redis_options.h"

namespace courier::redis {
namespace {

constexpr std::size_t kMaxPrefixBytes = 64;
constexpr std::size_t kMaxUrlBytes = 2048;

absl::Status Bad(std::string_view url, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("redis url '", std::string(url), "': ", std::string(why)));
}

bool ParseInt(std::string_view text, int min, int max, int* out) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return false;
  }
  *out = value;
  return true;
}

}  // namespace

TimeMs BackoffDelayMs(const RedisBackoff& backoff, int attempt, double u) {
  const double initial = static_cast<double>(std::max<TimeMs>(backoff.initial_ms, 1));
  const double cap = std::max(static_cast<double>(backoff.max_ms), initial);
  const double multiplier = std::max(backoff.multiplier, 1.0);
  double nominal = initial * std::pow(multiplier, std::max(attempt, 0));
  if (!(nominal <= cap)) nominal = cap;  // also catches inf
  const double jitter = std::clamp(backoff.jitter, 0.0, 1.0);
  const double delay = nominal * (1.0 - jitter * std::clamp(u, 0.0, 1.0));
  return std::max<TimeMs>(1, static_cast<TimeMs>(std::llround(delay)));
}

absl::Status ValidateOptions(const RedisPresenceOptions& o) {
  auto bad = [](std::string_view field, std::string_view rule) {
    return absl::InvalidArgumentError(
        absl::StrCat("RedisPresenceOptions.", std::string(field), " ", std::string(rule)));
  };
  if (o.host.empty() || o.host.size() > 255) return bad("host", "must be 1-255 bytes");
  if (o.port < 1 || o.port > 65535) return bad("port", "must be 1-65535");
  if (o.db < 0) return bad("db", "must be >= 0");
  if (o.key_prefix.size() > kMaxPrefixBytes ||
      std::any_of(o.key_prefix.begin(), o.key_prefix.end(),
                  [](char c) { return c <= ' ' || c == 0x7f || c == '{' || c == '}'; })) {
    // Braces would move the Redis Cluster hash tag off the user name.
    return bad("key_prefix", "must be <= 64 bytes without spaces, control characters or braces");
  }
  if (o.ttl_ms < 100) return bad("ttl_ms", "must be >= 100");
  if (o.connect_timeout_ms < 1) return bad("connect_timeout_ms", "must be >= 1");
  if (o.command_timeout_ms < 1) return bad("command_timeout_ms", "must be >= 1");
  if (o.backoff.initial_ms < 1) return bad("backoff.initial_ms", "must be >= 1");
  if (o.backoff.max_ms < o.backoff.initial_ms) {
    return bad("backoff.max_ms", "must be >= initial_ms");
  }
  if (!(o.backoff.multiplier >= 1.0)) return bad("backoff.multiplier", "must be >= 1");
  if (!(o.backoff.jitter >= 0.0 && o.backoff.jitter <= 1.0)) {
    return bad("backoff.jitter", "must be in [0, 1]");
  }
  if (o.max_lookup_users < 1) return bad("max_lookup_users", "must be >= 1");
  if (o.pipeline_batch < 1) return bad("pipeline_batch", "must be >= 1");
  return absl::OkStatus();
}

absl::StatusOr<RedisPresenceOptions> RedisOptionsFromUrl(std::string_view url) {
  if (url.size() > kMaxUrlBytes) return Bad(url.substr(0, 64), "longer than 2048 bytes");
  constexpr std::string_view kScheme = "redis://";
  if (url.starts_with("rediss://")) return Bad(url, "TLS (rediss://) is not supported");
  if (!url.starts_with(kScheme)) return Bad(url, "must start with redis://");
  std::string_view rest = url.substr(kScheme.size());
  RedisPresenceOptions options;

  // [/db]
  if (std::size_t slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty() && !ParseInt(db, 0, 1'000'000, &options.db)) {
      return Bad(url, "database must be a number");
    }
  }
  // [[user]:password@]
  if (std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view auth = rest.substr(0, at);
    rest = rest.substr(at + 1);
    std::size_t colon = auth.find(':');
    if (colon == std::string_view::npos) return Bad(url, "credentials must be [user]:password");
    options.username = std::string(auth.substr(0, colon));
    options.password = std::string(auth.substr(colon + 1));
    if (options.password.empty()) return Bad(url, "empty password");
  }
  // host[:port], host may be [ipv6]
  std::string_view host = rest;
  if (rest.starts_with('[')) {
    std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return Bad(url, "unterminated [ipv6] host");
    host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) return Bad(url, "junk after [ipv6] host");
    if (!rest.empty()) rest = rest.substr(1);
    else rest = {};
    if (!rest.empty() && !ParseInt(rest, 1, 65535, &options.port)) {
      return Bad(url, "port must be 1-65535");
    }
  } else if (std::size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    if (!ParseInt(rest.substr(colon + 1), 1, 65535, &options.port)) {
      return Bad(url, "port must be 1-65535");
    }
  }
  if (host.empty()) return Bad(url, "missing host");
  options.host = std::string(host);
  COURIER_RETURN_IF_ERROR(ValidateOptions(options));
  return options;
}

}  // namespace courier::redis
