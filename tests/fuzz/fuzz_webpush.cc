// fuzz_webpush: the parsers of courier::webpush that read untrusted bytes.
//
// Input: the first byte picks the parser, the rest is its input.
//   0: ParseSubscriptionJson (a client's PUT body). What it accepts passes
//      ValidateSubscription, has keys of 65 and 16 bytes, and comes back
//      unchanged through SubscriptionToJson.
//   1: ParseResponseHead (a push service's answer). A head it finds has a
//      final status 200..599, ends inside the input, and is found again in
//      exactly its own bytes; its Retry-After parses to a duration >= 0 or
//      nothing.
//   2: ParseUrl (an endpoint). An accepted URL has a port, a target starting
//      with '/', and its Origin() parses back to the same scheme, host, port.
//   3: Base64UrlDecode. What it accepts re-encodes to the input without '='.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "courier/webpush.h"
#include "fuzz_check.h"
#include "http_response.h"

namespace wp = courier::webpush;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto sub = wp::ParseSubscriptionJson(input);
      if (!sub.ok()) return 0;
      FUZZ_CHECK(wp::ValidateSubscription(*sub).ok(), "accepted subscription does not validate");
      FUZZ_CHECK(sub->endpoint.size() <= wp::kMaxEndpointBytes, "endpoint too long");
      FUZZ_CHECK(wp::Base64UrlDecode(sub->p256dh)->size() == 65, "p256dh not 65 bytes");
      FUZZ_CHECK(wp::Base64UrlDecode(sub->auth)->size() == 16, "auth not 16 bytes");
      auto again = wp::ParseSubscriptionJson(wp::SubscriptionToJson(*sub));
      FUZZ_CHECK(again.ok() && *again == *sub, "subscription does not round-trip");
      return 0;
    }
    case 1: {
      auto head = wp::internal::ParseResponseHead(input);
      if (!head.ok() || !head->has_value()) return 0;
      const auto& h = **head;
      FUZZ_CHECK(h.status >= 200 && h.status <= 599, "status %d", h.status);
      FUZZ_CHECK(h.size >= 16 && h.size <= input.size(), "head size %zu", h.size);
      auto exact = wp::internal::ParseResponseHead(input.substr(0, h.size));
      FUZZ_CHECK(exact.ok() && exact->has_value() && (*exact)->status == h.status &&
                     (*exact)->size == h.size,
                 "head not found again in its own bytes");
      if (h.retry_after) {
        auto wait =
            wp::internal::ParseRetryAfter(*h.retry_after, absl::FromUnixSeconds(1'800'000'000));
        FUZZ_CHECK(!wait || *wait >= absl::ZeroDuration(), "negative Retry-After");
      }
      return 0;
    }
    case 2: {
      auto url = wp::ParseUrl(input);
      if (!url.ok()) return 0;
      FUZZ_CHECK(url->port != 0, "port 0");
      FUZZ_CHECK(!url->target.empty() && url->target[0] == '/', "target %s", url->target.c_str());
      auto origin = wp::ParseUrl(url->Origin());
      FUZZ_CHECK(origin.ok() && origin->https == url->https && origin->host == url->host &&
                     origin->port == url->port,
                 "origin %s does not parse back", url->Origin().c_str());
      return 0;
    }
    default: {
      auto raw = wp::Base64UrlDecode(input);
      if (!raw.ok()) return 0;
      std::string_view unpadded = input;
      while (!unpadded.empty() && unpadded.back() == '=') unpadded.remove_suffix(1);
      FUZZ_CHECK(wp::Base64UrlEncode(*raw) == unpadded, "base64url does not round-trip");
      return 0;
    }
  }
}
