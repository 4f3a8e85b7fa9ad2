// courier/webpush/subscription.h: a browser's push subscription, parsed
// strictly from the JSON that PushSubscription.toJSON() gives.
//
//   {"endpoint": "https://push.example.net/send/abc",
//    "expirationTime": null,
//    "keys": {"p256dh": "<base64url, 65-byte P-256 point>",
//             "auth":   "<base64url, 16 bytes>"}}
//
// ParseSubscriptionJson checks, and says in the error which rule failed:
//   - the body is at most kMaxSubscriptionJsonBytes, valid JSON, an object;
//   - "endpoint" is a string of at most kMaxEndpointBytes, an absolute URL
//     (ParseUrl below) with the scheme https; http is accepted only when the
//     host is a loopback address (127.0.0.0/8, ::1, localhost), so that tests
//     and a local UnifiedPush distributor work; no user info, no fragment;
//   - "keys" is an object with the strings "p256dh" and "auth", base64url
//     (RFC 4648 section 5, '=' padding optional), p256dh decoding to a
//     65-byte uncompressed point (0x04 || X || Y) that is on P-256, auth to
//     exactly 16 bytes;
//   - "expirationTime", if present, is null or a number (it is ignored);
//     other unknown members are ignored.
// Every failure is kInvalidArgument (the route answers 400 with the message).
//
// Ownership: values in, values out; nothing is retained.
// Thread-safety: every function here is safe to call concurrently.
// Blocking: nothing here blocks.
#ifndef COURIER_ADAPTERS_WEBPUSH_SUBSCRIPTION_H_
#define COURIER_ADAPTERS_WEBPUSH_SUBSCRIPTION_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "courier/export.h"

namespace courier::webpush {

inline constexpr std::size_t kMaxSubscriptionJsonBytes = 4096;
inline constexpr std::size_t kMaxEndpointBytes = 2048;

// A push subscription as the browser gave it. The keys stay in their
// base64url spelling (what toJSON() gave, padding removed), so a store
// saves and returns exactly these three strings.
struct Subscription {
  std::string endpoint;  // absolute https URL (http only for loopback)
  std::string p256dh;    // base64url of the 65-byte P-256 public key
  std::string auth;      // base64url of the 16-byte authentication secret

  friend bool operator==(const Subscription&, const Subscription&) = default;
};

COURIER_EXPORT absl::StatusOr<Subscription> ParseSubscriptionJson(std::string_view json);

// Checks the fields of a Subscription built elsewhere (e.g. read back from a
// store) by the same rules as ParseSubscriptionJson. kInvalidArgument.
COURIER_EXPORT absl::Status ValidateSubscription(const Subscription& sub);

// The JSON of `sub` in toJSON()'s shape (without expirationTime); what
// ParseSubscriptionJson accepts back.
COURIER_EXPORT std::string SubscriptionToJson(const Subscription& sub);

// An absolute http(s) URL split into the parts a client needs.
struct COURIER_EXPORT Url {
  bool https = true;
  std::string host;    // lower-cased, without the brackets of an IPv6 literal
  std::uint16_t port;  // the explicit port or 443/80
  std::string target;  // path and query, "/" when empty
  bool ipv6_literal = false;

  // "https://host[:port]" with the default port left out: the audience of a
  // VAPID token (RFC 8292 section 2).
  std::string Origin() const;
};

// Parses "http(s)://host[:port][/path][?query]" with at most
// kMaxEndpointBytes bytes: a lower-case or upper-case scheme, a host of
// [A-Za-z0-9.-] (or a bracketed IPv6 literal), a port 1-65535, a target of
// printable ASCII without spaces; user info and fragments are refused.
// kInvalidArgument with the reason.
COURIER_EXPORT absl::StatusOr<Url> ParseUrl(std::string_view url);

// True for 127.0.0.0/8, ::1 and "localhost".
COURIER_EXPORT bool IsLoopbackHost(std::string_view host);

// base64url (RFC 4648 section 5). Encode writes no padding; Decode accepts
// optional '=' padding and refuses any other character, and non-canonical
// trailing bits. kInvalidArgument.
COURIER_EXPORT std::string Base64UrlEncode(std::string_view bytes);
COURIER_EXPORT absl::StatusOr<std::string> Base64UrlDecode(std::string_view text);

}  // namespace courier::webpush

#endif  // COURIER_ADAPTERS_WEBPUSH_SUBSCRIPTION_H_
