// ws_frame.h: RFC 6455 framing as the load generator's client speaks it.
//
// The frames a client sends are masked (section 5.3); the frames it reads,
// the server's, must not be. AppendClientFrame writes one final frame into a
// caller's buffer (no allocation once the buffer has grown);
// ParseServerFrameHeader reads the header at the front of received bytes and
// checks it against what a server may send: no RSV bits (no extension is
// negotiated), no mask, a known opcode, control frames final and at most 125
// bytes, a length that fits in 63 bits. Payload limits are the caller's.
//
// Ownership: nothing is kept; every function works on its arguments.
// Thread-safety: all functions are pure and may run on any thread at once.
// Blocking: none.
#ifndef COURIER_BENCH_LOAD_WS_FRAME_H_
#define COURIER_BENCH_LOAD_WS_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/beast/websocket/detail/frame.hpp>

namespace courier::load {

// RFC 6455's opcodes, as Boost.Beast names them (cont, text, binary, close,
// ping, pong): one definition of them in the build's dependencies, not a
// third copy (the server adapter has its own private one).
using WsOp = boost::beast::websocket::detail::opcode;

// Appends one final (FIN) frame of `op` carrying `payload`, masked with
// `mask` (its four bytes in network order are the masking key).
void AppendClientFrame(std::string& out, WsOp op, std::string_view payload, std::uint32_t mask);

struct WsFrameHeader {
  bool fin = false;
  WsOp op = WsOp::text;
  std::uint64_t payload_len = 0;
  std::size_t header_len = 0;  // bytes before the payload (2, 4 or 10)
};

enum class WsHeaderResult { kOk, kNeedMore, kInvalid };

// Parses the frame header at the front of `bytes`. kOk: `out` is filled (the
// payload may not have arrived yet: compare header_len + payload_len with
// what is there). kNeedMore: the header itself is incomplete. kInvalid: not
// a frame a server may send; `*why` (when not null) says which rule.
WsHeaderResult ParseServerFrameHeader(std::string_view bytes, WsFrameHeader& out,
                                      const char** why);

// A 32-bit masking key from a per-thread xorshift generator seeded from
// std::random_device: unpredictable enough for a load generator, no system
// call per frame.
std::uint32_t NextMask();

}  // namespace courier::load

#endif  // COURIER_BENCH_LOAD_WS_FRAME_H_
