// ws_frame.h (private): RFC 6455 opcodes and the frames the server writes.
//
// Server frames are never masked, never fragmented (one frame per message)
// and carry no extension bits.
//
// Thread-safety: pure functions.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_WS_FRAME_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_WS_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace courier::websocket::internal {

enum class Opcode : std::uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// A frame header is 2, 4 or 10 bytes (server frames have no mask key).
inline constexpr std::size_t kMaxServerHeaderBytes = 10;
// A control frame's payload: at most 125 bytes (RFC 6455 5.5).
inline constexpr std::size_t kMaxControlPayload = 125;
// A close reason: the control payload minus the 2-byte code.
inline constexpr std::size_t kMaxCloseReason = kMaxControlPayload - 2;

// Writes the header of a final (FIN) frame of `opcode` with a payload of
// `payload_size` bytes into `out` (room for kMaxServerHeaderBytes); returns
// how many bytes it wrote.
std::size_t EncodeFrameHeader(Opcode opcode, std::uint64_t payload_size, std::uint8_t* out);

// Appends a text frame carrying `payload` (header, then the payload) to
// `out`; allocates only when `out` must grow.
void AppendTextFrame(std::string_view payload, std::string& out);

// The close frame, header included. Code 1005 ("no status") sends an empty
// payload; otherwise the code, then `reason` cut to kMaxCloseReason bytes at
// a character boundary.
std::string EncodeCloseFrame(std::uint16_t code, std::string_view reason);

// A pong or ping frame, header included; `payload` is cut to 125 bytes.
std::string EncodeControlFrame(Opcode opcode, std::string_view payload);

// `reason` cut to at most `max` bytes without splitting a UTF-8 character.
std::string_view CutAtCharacter(std::string_view reason, std::size_t max);

// Whether a close frame received from a peer may carry `code` (RFC 6455
// 7.4: 1000-1003, 1007-1011, 3000-4999; 1004-1006, 1015 and the rest not).
bool IsValidReceivedCloseCode(std::uint16_t code);

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_WS_FRAME_H_
