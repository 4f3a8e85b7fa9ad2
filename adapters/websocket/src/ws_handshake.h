// ws_handshake.h (private): the server's half of RFC 6455's opening
// handshake, without I/O.
//
// The caller (the HTTP session) has already seen a GET with `Connection:
// upgrade` and `Upgrade: websocket` (Beast's is_upgrade); what is left is
// the version and the key. No subprotocol and no extension is ever agreed
// (permessage-deflate offers are ignored, as RFC 6455 allows).
//
// Thread-safety: pure functions.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_WS_HANDSHAKE_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_WS_HANDSHAKE_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace courier::websocket::internal {

// Checks `Sec-WebSocket-Version` and `Sec-WebSocket-Key` of an upgrade
// request (empty when absent) and returns the `Sec-WebSocket-Accept` value.
// Surrounding spaces and tabs (HTTP's optional whitespace) are ignored.
// Errors: FailedPrecondition when the version is not 13 (answer 426 with
// `Sec-WebSocket-Version: 13`); InvalidArgument when the key is missing or
// is not the base64 of 16 bytes (answer 400).
absl::StatusOr<std::string> CheckUpgrade(std::string_view version, std::string_view key);

// base64(SHA-1(key + the RFC's GUID)), for a key already checked.
std::string SecWebSocketAccept(std::string_view key);

// The whole `101 Switching Protocols` answer, ending with the blank line.
std::string SwitchingProtocolsResponse(std::string_view accept);

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_WS_HANDSHAKE_H_
