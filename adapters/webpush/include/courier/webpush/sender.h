// courier/webpush/sender.h: blocking HTTP(S) senders for pushes.
//
// WebPushSender POSTs one encrypted message to a subscription's push service
// (RFC 8030 section 5) with the headers
//   TTL: <options.ttl_seconds>            Urgency: very-low|low|normal|high
//   Topic: <topic>  (only when given)     Content-Encoding: aes128gcm
//   Content-Type: application/octet-stream
//   Authorization: vapid t=<JWT>, k=<public key>   (courier/webpush/vapid.h)
// and a body from EncryptAes128gcm (courier/webpush/encryption.h).
//
// WebhookSender POSTs a JSON body to one operator-configured URL, signed:
//   Content-Type: application/json
//   X-Courier-Timestamp: <unix seconds, decimal>
//   X-Courier-Signature: sha256=<lower-case hex of
//                         HMAC-SHA256(secret, timestamp + "." + body)>
// (WebhookSignature below computes it; adapters/webpush/README.md and
// docs/PROTOCOL.md describe the check a gateway makes).
//
// What a response means, for both (SendResult::outcome):
//   2xx                          -> kDelivered
//   404, 410                     -> kGone: the subscription is dead; drop it
//   429, 5xx, connection errors,
//   timeouts, a malformed answer -> retried (below); kGaveUp when the
//                                   attempts are spent
//   any other status (3xx: redirects are not followed; 400, 401, 403, 413 ...),
//   a TLS certificate that does not verify -> kGaveUp at once
// Retries: at most options.max_attempts attempts in all. Before attempt n+1
// the sender waits Retry-After when the answer had one (delta-seconds or an
// HTTP date; one above options.max_retry_after gives up at once), otherwise
// backoff_base * 2^(n-1) capped at backoff_cap, with jitter in [50%, 100%].
// A timed-out attempt may still have been delivered: a retry can deliver a
// push twice (pushes are "something is waiting" hints, so that is harmless).
//
// Each attempt is one new connection (Connection: close): DNS
// (resolve_timeout), TCP connect (connect_timeout), TLS handshake with SNI and certificate + host name
// verification against the system CA store or options.ca_file
// (tls_timeout), writing the request (write_timeout), reading the answer
// (read_timeout for the whole answer). Only the status line and headers are
// read, at most max_response_bytes of them; then the connection is closed
// without waiting for the body. The body bytes that came with the headers
// (at most 200) go into SendResult::detail for logs, every byte that is not
// printable ASCII, and '"' and '\\', replaced by '.'.
//
// Ownership: a sender owns its copies of the key, secret and options.
// Thread-safety: Send may be called from several threads at once (each call
// uses its own connection); Shutdown may be called from any thread.
// Where a Web Push may go: a subscription's endpoint is any user's choice, so
// by default a push is sent only to public addresses, checked on every
// address its host resolves to: loopback, private (10/8, 172.16/12,
// 192.168/16, fc00::/7), link-local (169.254/16, where cloud metadata
// services live; fe80::/10), carrier-grade NAT, multicast, reserved and
// documentation ranges are refused (kGaveUp after one attempt, no
// connection made, SendResult::detail names the address). An operator whose
// push service is on a private network sets allow_private_addresses. The
// webhook's URL is the operator's own and may be any address.
//
// Blocking: Send blocks the calling thread for the whole exchange, retries
// and waits included: at most about max_attempts * (resolve + connect + tls
// + write + read timeouts) plus the waits. Shutdown does not block: it makes
// every Send in progress return within a few milliseconds (kCancelled; a
// name lookup in progress is abandoned), and every later Send return
// kCancelled without I/O. Destroy a sender only when no Send is running.
#ifndef COURIER_ADAPTERS_WEBPUSH_SENDER_H_
#define COURIER_ADAPTERS_WEBPUSH_SENDER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "courier/export.h"
#include "courier/webpush/subscription.h"
#include "courier/webpush/vapid.h"

namespace courier::webpush {

enum class Outcome {
  kDelivered,  // the push service (or gateway) accepted it: 2xx
  kGone,       // 404 or 410: the subscription no longer exists
  kGaveUp,     // retries spent, or an answer that retrying cannot fix
};
COURIER_EXPORT std::string_view OutcomeName(Outcome outcome);  // "delivered" ...

enum class Urgency { kVeryLow, kLow, kNormal, kHigh };  // RFC 8030 section 5.3

struct COURIER_EXPORT SenderOptions {
  absl::Duration resolve_timeout = absl::Seconds(5);  // the host name's lookup (DNS)
  absl::Duration connect_timeout = absl::Seconds(5);  // DNS not included
  absl::Duration tls_timeout = absl::Seconds(5);
  absl::Duration write_timeout = absl::Seconds(5);
  absl::Duration read_timeout = absl::Seconds(10);  // the answer's status line + headers
  int max_attempts = 4;                             // 1..10; 1 = no retry
  absl::Duration backoff_base = absl::Milliseconds(500);
  absl::Duration backoff_cap = absl::Seconds(30);
  absl::Duration max_retry_after = absl::Seconds(120);
  std::size_t max_response_bytes = 16 * 1024;  // 1 KiB .. 1 MiB
  std::string user_agent = "courier-webpush/1";
  std::string ca_file;  // PEM CA bundle to trust; empty: the system's store
  // Web Push only (the webhook ignores them):
  int ttl_seconds = 24 * 3600;  // 0 .. 28 days; TTL header
  Urgency urgency = Urgency::kNormal;
  // Also send to non-public addresses (above). For a push service on a
  // private network, and for tests against a loopback receiver.
  bool allow_private_addresses = false;
};

// Checks the ranges above. kInvalidArgument.
COURIER_EXPORT absl::Status ValidateSenderOptions(const SenderOptions& options);

struct SendResult {
  Outcome outcome = Outcome::kGaveUp;
  int attempts = 0;     // attempts made (connections tried)
  int http_status = 0;  // the last answer's status, 0 when none came
  std::string detail;   // the last error or the start of the last body, for logs
};

class COURIER_EXPORT WebPushSender {
 public:
  // `subject` is the VAPID contact (ValidateVapidSubject). Errors:
  // kInvalidArgument (subject, options), kNotFound / kInvalidArgument
  // (options.ca_file unreadable or not PEM).
  static absl::StatusOr<std::unique_ptr<WebPushSender>> Create(VapidKey key, std::string subject,
                                                               SenderOptions options = {});
  ~WebPushSender();
  WebPushSender(const WebPushSender&) = delete;
  WebPushSender& operator=(const WebPushSender&) = delete;

  // Encrypts `payload` for `sub` and delivers it, retrying as above.
  // `topic` (optional, RFC 8030 section 5.4) lets the push service replace an
  // undelivered push with the same topic: at most 32 characters of the
  // base64url alphabet.
  // Errors (nothing was sent): kInvalidArgument (subscription, payload over
  // kMaxPlaintextBytes, topic), kCancelled (Shutdown), kInternal (OpenSSL).
  // Every network result is a SendResult.
  absl::StatusOr<SendResult> Send(const Subscription& sub, std::string_view payload,
                                  std::string_view topic = {});

  void Shutdown();

  struct Impl;

 private:
  explicit WebPushSender(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

inline constexpr std::size_t kMaxWebhookBodyBytes = 64 * 1024;
inline constexpr std::size_t kMinWebhookSecretBytes = 16;

class COURIER_EXPORT WebhookSender {
 public:
  // `url`: http or https, any host (the operator chose it; ParseUrl's rules).
  // `secret`: the HMAC key, at least kMinWebhookSecretBytes bytes.
  // Errors: kInvalidArgument (url, secret, options), as WebPushSender for ca_file.
  static absl::StatusOr<std::unique_ptr<WebhookSender>> Create(std::string url, std::string secret,
                                                               SenderOptions options = {});
  ~WebhookSender();
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  // POSTs `json_body` (sent as given, at most kMaxWebhookBodyBytes; the
  // caller builds it) signed with the current time.
  // Errors (nothing was sent): kInvalidArgument (body too large),
  // kCancelled (Shutdown). Every network result is a SendResult.
  absl::StatusOr<SendResult> Send(std::string_view json_body);

  void Shutdown();

  struct Impl;

 private:
  explicit WebhookSender(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "sha256=" + lower-case hex HMAC-SHA256(secret, timestamp + "." + body):
// the X-Courier-Signature value for X-Courier-Timestamp `unix_seconds`.
COURIER_EXPORT std::string WebhookSignature(std::string_view secret, std::int64_t unix_seconds,
                                            std::string_view body);

}  // namespace courier::webpush

#endif  // COURIER_ADAPTERS_WEBPUSH_SENDER_H_
