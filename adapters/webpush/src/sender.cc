// WebPushSender and WebhookSender (courier/webpush/sender.h).
#include "courier/webpush/sender.h"

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "courier/webpush/encryption.h"
#include "crypto.h"
#include "delivery.h"
#include "http_client.h"
#include "text.h"

namespace courier::webpush {
namespace {

constexpr std::size_t kMaxTopicBytes = 32;
constexpr int kMaxTtlSeconds = 28 * 24 * 3600;

// An enum's names in the order of its enumerators, which count from 0.
constexpr std::array<std::string_view, 4> kUrgencyNames = {"very-low", "low", "normal", "high"};
constexpr std::array<std::string_view, 3> kOutcomeNames = {"delivered", "gone", "gave_up"};
static_assert(static_cast<std::size_t>(Urgency::kHigh) + 1 == kUrgencyNames.size());
static_assert(static_cast<std::size_t>(Outcome::kGaveUp) + 1 == kOutcomeNames.size());

// names[e], or `fallback` for a value that is no enumerator (only a cast makes one).
template <typename Enum, std::size_t N>
std::string_view NameOf(Enum e, const std::array<std::string_view, N>& names,
                        std::string_view fallback) {
  const auto i = static_cast<std::size_t>(e);
  return i < N ? names[i] : fallback;
}

std::string_view UrgencyName(Urgency u) { return NameOf(u, kUrgencyNames, "normal"); }

absl::Status ValidateTopic(std::string_view topic) {
  if (topic.size() > kMaxTopicBytes) {
    return absl::InvalidArgumentError("push topic longer than 32 characters");
  }
  for (char c : topic) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_') {
      return absl::InvalidArgumentError("push topic has a character outside base64url");
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view OutcomeName(Outcome outcome) {
  return NameOf(outcome, kOutcomeNames, "gave_up");
}

absl::Status ValidateSenderOptions(const SenderOptions& o) {
  const auto positive = [](absl::Duration d) { return d > absl::ZeroDuration(); };
  if (!positive(o.resolve_timeout) || !positive(o.connect_timeout) || !positive(o.tls_timeout) ||
      !positive(o.write_timeout) || !positive(o.read_timeout)) {
    return absl::InvalidArgumentError("sender timeouts must be positive");
  }
  if (o.max_attempts < 1 || o.max_attempts > 10) {
    return absl::InvalidArgumentError("max_attempts must be 1..10");
  }
  if (o.backoff_base < absl::ZeroDuration() || o.backoff_cap < o.backoff_base ||
      o.max_retry_after < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("backoff must be 0 <= base <= cap, max_retry_after >= 0");
  }
  if (o.max_response_bytes < 1024 || o.max_response_bytes > (1u << 20)) {
    return absl::InvalidArgumentError("max_response_bytes must be 1 KiB .. 1 MiB");
  }
  for (char c : o.user_agent) {
    if (c < 0x20 || c >= 0x7F)
      return absl::InvalidArgumentError("user_agent must be printable ASCII");
  }
  if (o.ttl_seconds < 0 || o.ttl_seconds > kMaxTtlSeconds) {
    return absl::InvalidArgumentError("ttl_seconds must be 0 .. 28 days");
  }
  return absl::OkStatus();
}

std::string WebhookSignature(std::string_view secret, std::int64_t unix_seconds,
                             std::string_view body) {
  const std::string mac = internal::HmacSha256(secret, internal::Cat(unix_seconds, ".", body));
  return internal::Cat("sha256=", internal::Hex(mac));
}

namespace internal {

// What both senders deliver through: their options, one HTTP client, and the
// signal that Shutdown raises.
struct Channel {
  SenderOptions options;
  std::unique_ptr<HttpClient> client;
  std::unique_ptr<CancelSignal> cancel;

  static absl::StatusOr<Channel> Open(SenderOptions options) {
    if (absl::Status s = ValidateSenderOptions(options); !s.ok()) return s;
    auto client = HttpClient::Create(options);
    if (!client.ok()) return client.status();
    auto cancel = CancelSignal::Create();
    if (!cancel.ok()) return cancel.status();
    return Channel{std::move(options), *std::move(client), *std::move(cancel)};
  }
  absl::Status CheckOpen() const {
    return cancel->raised() ? absl::CancelledError("sender shut down") : absl::OkStatus();
  }
  absl::StatusOr<SendResult> Deliver(const Url& url, absl::FunctionRef<Headers()> headers,
                                     std::string_view body, AddressPolicy policy) const {
    return internal::Deliver(*client, url, headers, body, policy, options, *cancel);
  }
};

}  // namespace internal

// ---- WebPushSender ----

struct WebPushSender::Impl {
  VapidKey key;
  std::string subject;
  internal::Channel channel;

  // The Authorization header for a push to `endpoint`: a VAPID JWT for its
  // push service, signed now (RFC 8292).
  absl::StatusOr<std::string> Authorization(std::string_view endpoint) const {
    return VapidAuthorization(key, endpoint, subject, absl::Now());
  }
};

WebPushSender::WebPushSender(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WebPushSender::~WebPushSender() = default;

absl::StatusOr<std::unique_ptr<WebPushSender>> WebPushSender::Create(VapidKey key,
                                                                     std::string subject,
                                                                     SenderOptions options) {
  if (absl::Status s = ValidateVapidSubject(subject); !s.ok()) return s;
  auto channel = internal::Channel::Open(std::move(options));
  if (!channel.ok()) return channel.status();
  return std::unique_ptr<WebPushSender>(new WebPushSender(
      std::unique_ptr<Impl>(new Impl{std::move(key), std::move(subject), *std::move(channel)})));
}

absl::StatusOr<SendResult> WebPushSender::Send(const Subscription& sub, std::string_view payload,
                                               std::string_view topic) {
  if (absl::Status s = impl_->channel.CheckOpen(); !s.ok()) return s;
  if (absl::Status s = ValidateSubscription(sub); !s.ok()) return s;
  if (absl::Status s = ValidateTopic(topic); !s.ok()) return s;
  auto url = ParseUrl(sub.endpoint);
  if (!url.ok()) return url.status();
  auto body = EncryptAes128gcm(sub, payload);
  if (!body.ok()) return body.status();
  auto authorization = impl_->Authorization(sub.endpoint);
  if (!authorization.ok()) return authorization.status();
  internal::Headers headers = {
      {"TTL", std::to_string(impl_->channel.options.ttl_seconds)},
      {"Urgency", std::string(UrgencyName(impl_->channel.options.urgency))},
      {"Content-Type", "application/octet-stream"},
      {"Content-Encoding", "aes128gcm"},
      {"Authorization", *std::move(authorization)},
  };
  if (!topic.empty()) headers.emplace_back("Topic", std::string(topic));
  // The endpoint is the user's: public addresses only, unless the operator
  // allowed private ones.
  const internal::AddressPolicy policy = impl_->channel.options.allow_private_addresses
                                             ? internal::AddressPolicy::kAny
                                             : internal::AddressPolicy::kPublicOnly;
  return impl_->channel.Deliver(*url, [&headers] { return headers; }, *body, policy);
}

void WebPushSender::Shutdown() { impl_->channel.cancel->Raise(); }

// ---- WebhookSender ----

struct WebhookSender::Impl {
  Url url;
  std::string secret;
  internal::Channel channel;
};

WebhookSender::WebhookSender(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WebhookSender::~WebhookSender() = default;

absl::StatusOr<std::unique_ptr<WebhookSender>> WebhookSender::Create(std::string url,
                                                                     std::string secret,
                                                                     SenderOptions options) {
  auto parsed = ParseUrl(url);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(internal::Cat("webhook URL: ", parsed.status().message()));
  }
  if (secret.size() < kMinWebhookSecretBytes) {
    return absl::InvalidArgumentError(
        internal::Cat("webhook secret shorter than ", kMinWebhookSecretBytes, " bytes"));
  }
  auto channel = internal::Channel::Open(std::move(options));
  if (!channel.ok()) return channel.status();
  return std::unique_ptr<WebhookSender>(new WebhookSender(
      std::unique_ptr<Impl>(new Impl{*std::move(parsed), std::move(secret), *std::move(channel)})));
}

absl::StatusOr<SendResult> WebhookSender::Send(std::string_view json_body) {
  if (absl::Status s = impl_->channel.CheckOpen(); !s.ok()) return s;
  if (json_body.size() > kMaxWebhookBodyBytes) {
    return absl::InvalidArgumentError(
        internal::Cat("webhook body larger than ", kMaxWebhookBodyBytes, " bytes"));
  }
  // Signed afresh for every attempt, so a retry carries a current timestamp.
  auto headers = [this, json_body] {
    const std::int64_t now = absl::ToUnixSeconds(absl::Now());
    return internal::Headers{
        {"Content-Type", "application/json"},
        {"X-Courier-Timestamp", std::to_string(now)},
        {"X-Courier-Signature", WebhookSignature(impl_->secret, now, json_body)},
    };
  };
  // The operator's URL: any address (a gateway on the private network is
  // normal).
  return impl_->channel.Deliver(impl_->url, headers, json_body, internal::AddressPolicy::kAny);
}

void WebhookSender::Shutdown() { impl_->channel.cancel->Raise(); }

}  // namespace courier::webpush
