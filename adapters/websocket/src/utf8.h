// utf8.h (private): WebSocket text (RFC 6455 section 8.1) must be UTF-8; the
// check is the core's courier::IsValidUtf8 (courier/types.h), named here for
// the framing layer and its tests.
//
// Thread-safety: a pure function.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_UTF8_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_UTF8_H_

#include "courier/types.h"

namespace courier::websocket::internal {

using courier::IsValidUtf8;

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_UTF8_H_
