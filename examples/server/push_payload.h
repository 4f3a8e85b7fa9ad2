// push_payload.h: what a push says, as JSON (docs/PROTOCOL.md "Push").
//
//   {"type":"inbox","user":"bob","count":3,"senders":["alice","carol"]}
// and, with --push-content full, the latest messages too:
//   ..., "messages":[{"id":"...","from":"alice","ts":1700000000000,"body":"hi"}]
// Each body is cut to kMaxPushBodyBytes (at a UTF-8 boundary); a payload
// that would still exceed `max_bytes` drops "messages" (names only).
// The same JSON goes encrypted to Web Push and signed to the webhook.
//
// Thread-safety: pure functions. Blocking: never.
#ifndef COURIER_EXAMPLES_SERVER_PUSH_PAYLOAD_H_
#define COURIER_EXAMPLES_SERVER_PUSH_PAYLOAD_H_

#include <cstddef>
#include <string>

#include "courier/notifier.h"

namespace courier::server {

inline constexpr std::size_t kMaxPushBodyBytes = 1000;

std::string PushPayloadJson(const PushNotice& notice, std::size_t max_bytes);

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_PUSH_PAYLOAD_H_
