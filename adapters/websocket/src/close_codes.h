// close_codes.h (private): the close codes of RFC 6455 that are the
// connection's own, by name.
//
// The protocol's codes (going away, policy, too big, unauthorized, idle,
// replaced) are courier::CloseCode (courier/transport.h); these are the
// framing layer's: what the connection says or hears about the WebSocket
// stream itself. Pure constants; no thread-safety or blocking concerns.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_CLOSE_CODES_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_CLOSE_CODES_H_

#include <cstdint>

#include "courier/transport.h"

namespace courier::websocket::internal {

inline constexpr std::uint16_t kNormalClosure = 1000;   // the purpose is fulfilled
inline constexpr std::uint16_t kProtocolError = 1002;   // framing rules broken
inline constexpr std::uint16_t kUnsupportedData = 1003;  // a data type the endpoint cannot take
inline constexpr std::uint16_t kNoStatus = 1005;        // a close frame without a code (never sent)
inline constexpr std::uint16_t kBadData = 1007;         // text that is not UTF-8
inline constexpr std::uint16_t kInternalError = 1011;   // the server met an unexpected condition
inline constexpr std::uint16_t kFirstRegisteredCode = 3000;  // 3000-3999: registered with IANA
inline constexpr std::uint16_t kLastPrivateCode = 4999;      // 4000-4999: private (ours: 44xx)

// A courier::CloseCode as it travels.
constexpr std::uint16_t Code(CloseCode code) { return static_cast<std::uint16_t>(code); }

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_CLOSE_CODES_H_
