// utf8.h (private): UTF-8 validation for WebSocket text (RFC 3629).
//
// Thread-safety: a pure function.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_UTF8_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_UTF8_H_

#include <string_view>

namespace courier::websocket::internal {

// True when `text` is well-formed UTF-8: no overlong form, no surrogate
// (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequence. The
// empty string is valid. ASCII runs are checked eight bytes at a time.
bool IsValidUtf8(std::string_view text);

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_UTF8_H_
