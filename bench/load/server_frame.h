// server_frame.h: the JSON of one frame from courier-server, as courier-load
// reads it (the fields its workloads and checks need). No I/O, no state:
// callable from any thread.
#ifndef COURIER_BENCH_LOAD_SERVER_FRAME_H_
#define COURIER_BENCH_LOAD_SERVER_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace courier::load {

// One server frame, parsed. The string views point into the parsed bytes
// (in WsConn's on_frame: valid during the callback only).
struct InFrame {
  enum class Op { kWelcome, kSent, kMsg, kReceipt, kPresence, kSynced, kPong, kError, kOther };
  Op op = Op::kOther;
  std::uint64_t seq = 0;     // msg, receipt, synced
  std::uint64_t cursor = 0;  // welcome
  std::uint64_t head = 0;    // welcome
  bool dup = false;          // sent
  std::string_view cid, id, from, body, code, message;
};

// Parses one server frame; false when it is not a JSON object with an op.
// The views in `out` point into a per-thread copy of `json`, valid until the
// next call on the same thread.
bool ParseServerFrame(std::string_view json, InFrame& out);
// The same, in place: `json[0..len)` is parsed and unescaped where it lies
// and the views in `out` point into it. REQUIRES: json[len] == '\0'.
// A flat frame (no nested value, no escape, numbers unsigned integers: every
// frame W1 gets) is read by a scanner, no DOM and no write to `json`; any
// other goes to ParseServerFrameWithDom, which decides.
bool ParseServerFrameInPlace(char* json, std::size_t len, InFrame& out);
// RapidJSON's in-place parse (rewrites `json`; same REQUIRES): the fallback,
// and the reference the scanner must agree with on every input (tests).
bool ParseServerFrameWithDom(char* json, std::size_t len, InFrame& out);

}  // namespace courier::load

#endif  // COURIER_BENCH_LOAD_SERVER_FRAME_H_
