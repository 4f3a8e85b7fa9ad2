// WebPushSender and WebhookSender (courier/webpush/sender.h).
#include "courier/webpush/sender.h"

#include <string>
#include <string_view>

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

std::string_view UrgencyName(Urgency u) {
  switch (u) {
    case Urgency::kVeryLow: return "very-low";
    case Urgency::kLow: return "low";
    case Urgency::kNormal: return "normal";
    case Urgency::kHigh: return "high";
  }
  return "normal";
}

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
  switch (outcome) {
    case Outcome::kDelivered: return "delivered";
    case Outcome::kGone: return "gone";
    case Outcome::kGaveUp: return "gave_up";
  }
  return "gave_up";
}

absl::Status ValidateSenderOptions(const SenderOptions& o) {
  const auto positive = [](absl::Duration d) { return d > absl::ZeroDuration(); };
  if (!positive(o.connect_timeout) || !positive(o.tls_timeout) || !positive(o.write_timeout) ||
      !positive(o.read_timeout)) {
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

// ---- WebPushSender ----

struct WebPushSender::Impl {
  VapidKey key;
  std::string subject;
  SenderOptions options;
  std::unique_ptr<internal::HttpClient> client;
  std::unique_ptr<internal::CancelSignal> cancel;
};

WebPushSender::WebPushSender(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WebPushSender::~WebPushSender() = default;

absl::StatusOr<std::unique_ptr<WebPushSender>> WebPushSender::Create(VapidKey key,
                                                                     std::string subject,
                                                                     SenderOptions options) {
  if (absl::Status s = ValidateVapidSubject(subject); !s.ok()) return s;
  if (absl::Status s = ValidateSenderOptions(options); !s.ok()) return s;
  auto client = internal::HttpClient::Create(options);
  if (!client.ok()) return client.status();
  auto cancel = internal::CancelSignal::Create();
  if (!cancel.ok()) return cancel.status();
  return std::unique_ptr<WebPushSender>(new WebPushSender(
      std::unique_ptr<Impl>(new Impl{std::move(key), std::move(subject), std::move(options),
                                     *std::move(client), *std::move(cancel)})));
}

absl::StatusOr<SendResult> WebPushSender::Send(const Subscription& sub, std::string_view payload,
                                               std::string_view topic) {
  if (impl_->cancel->raised()) return absl::CancelledError("sender shut down");
  if (absl::Status s = ValidateSubscription(sub); !s.ok()) return s;
  if (absl::Status s = ValidateTopic(topic); !s.ok()) return s;
  auto url = ParseUrl(sub.endpoint);
  if (!url.ok()) return url.status();
  auto body = EncryptAes128gcm(sub, payload);
  if (!body.ok()) return body.status();
  auto authorization = VapidAuthorization(impl_->key, sub.endpoint, impl_->subject, absl::Now());
  if (!authorization.ok()) return authorization.status();
  internal::Headers headers = {
      {"TTL", std::to_string(impl_->options.ttl_seconds)},
      {"Urgency", std::string(UrgencyName(impl_->options.urgency))},
      {"Content-Type", "application/octet-stream"},
      {"Content-Encoding", "aes128gcm"},
      {"Authorization", *std::move(authorization)},
  };
  if (!topic.empty()) headers.emplace_back("Topic", std::string(topic));
  return internal::Deliver(
      *impl_->client, *url, [&headers] { return headers; }, *body, impl_->options, *impl_->cancel);
}

void WebPushSender::Shutdown() { impl_->cancel->Raise(); }

// ---- WebhookSender ----

struct WebhookSender::Impl {
  Url url;
  std::string secret;
  SenderOptions options;
  std::unique_ptr<internal::HttpClient> client;
  std::unique_ptr<internal::CancelSignal> cancel;
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
  if (absl::Status s = ValidateSenderOptions(options); !s.ok()) return s;
  auto client = internal::HttpClient::Create(options);
  if (!client.ok()) return client.status();
  auto cancel = internal::CancelSignal::Create();
  if (!cancel.ok()) return cancel.status();
  return std::unique_ptr<WebhookSender>(new WebhookSender(
      std::unique_ptr<Impl>(new Impl{*std::move(parsed), std::move(secret), std::move(options),
                                     *std::move(client), *std::move(cancel)})));
}

absl::StatusOr<SendResult> WebhookSender::Send(std::string_view json_body) {
  if (impl_->cancel->raised()) return absl::CancelledError("sender shut down");
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
  return internal::Deliver(*impl_->client, impl_->url, headers, json_body, impl_->options,
                           *impl_->cancel);
}

void WebhookSender::Shutdown() { impl_->cancel->Raise(); }

}  // namespace courier::webpush
