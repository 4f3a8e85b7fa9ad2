// ws_frame_reader.h (private): RFC 6455 frames from a client, without I/O.
//
// The rules of the server side, each broken one an error with its close code:
//   - every client frame is masked (1002);
//   - no extension is negotiated: RSV1-3 are 0 (1002);
//   - opcodes 0, 1, 2, 8, 9, 10 only (1002);
//   - a control frame (close, ping, pong) is final and at most 125 bytes
//     (1002; its length may be written in a longer form than needed, as
//     for data frames); it may come between the frames of a fragmented
//     message;
//   - a continuation without a message begun, or a text/binary frame while
//     one is unfinished, is 1002; a 64-bit length with its top bit set is 1002;
//   - a close frame's payload is empty, or a valid code (ws_frame.h) and a
//     UTF-8 reason (1002, 1007);
//   - a message (its frames together) over max_message_bytes is 1009,
//     refused as soon as a header announces it, before its payload is read:
//     nothing is ever allocated for an announced length;
//   - a text message is UTF-8, checked when it is complete (1007).
//
// Use: the connection reads bytes into its buffer and calls Next() on the
// unread part until Next() answers kNeedMore, then reads more. Next()
// consumes bytes from the front of the span it is given (it advances
// `data`/`size`) and unmasks payloads in place, so the buffer is writable.
// Bytes it leaves (a partial header, a partial control frame) must be given
// again, in front of the new bytes, on the next call. A control frame
// (at most 139 bytes) is consumed only once it is whole; a data frame's
// payload is consumed as it arrives, so the connection's buffer never has to
// hold a big frame whole.
//
// Events:
//   kNeedMore   nothing complete; everything usable was consumed.
//   kMessage    a whole message: `text` or binary, `payload` unmasked. It
//               points into the caller's buffer (an unfragmented frame that
//               arrived whole: no copy) or into the reader's own buffer.
//   kPing/kPong `payload` (≤ 125 bytes), in the caller's buffer.
//   kClose      the peer's close frame: `close_code` (1005 when it carried
//               none) and `payload` = its reason.
//   kError      the peer broke a rule: `close_code` to close with (1002,
//               1007 or 1009) and `reason`, a static string.
// A payload view is valid until the next call to Next() and while the
// caller's buffer is unchanged.
//
// After an error: with 1007 and 1009 the framing is still in step, and the
// reader goes on in discard mode (see Discard()), so the close handshake can
// complete: the rest of an oversized frame is skipped as it arrives. After
// 1002 the stream cannot be parsed: every later call consumes everything
// and answers the same error again.
//
// Memory: the reader's own buffer holds a message only while it is
// assembled from several frames or pieces; it is given back when the
// message is delivered unless it grew over kKeepBufferOver (a connection
// that sends big messages keeps one, as a heap-friendly compromise).
//
// Thread-safety: none; one connection's strand.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_WS_FRAME_READER_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_WS_FRAME_READER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lazy_buffer.h"
#include "ws_frame.h"

namespace courier::websocket::internal {

class FrameReader {
 public:
  enum class Kind { kNeedMore, kMessage, kPing, kPong, kClose, kError };

  struct Event {
    Kind kind = Kind::kNeedMore;
    bool text = false;              // kMessage
    std::string_view payload;       // kMessage, kPing, kPong, kClose (reason)
    std::uint16_t close_code = 0;   // kClose, kError
    std::string_view reason;        // kError
  };

  static constexpr std::size_t kKeepBufferOver = 4096;

  // REQUIRES: max_message_bytes > 0.
  explicit FrameReader(std::size_t max_message_bytes);

  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;

  // The next event from `*data` (`*size` bytes), advancing both past what it
  // consumed.
  Event Next(char** data, std::size_t* size);

  // From now on data frames are dropped unread (their payloads skipped as
  // they arrive, whatever their length) and only control frames are
  // reported; a message being assembled is dropped (a message already
  // returned stays readable until the next call). For a connection that is
  // closing and waits for the peer's close frame. Cannot be undone.
  void Discard();

  bool discarding() const { return discard_; }
  // Heap bytes held by the reader's own buffer (0 when none).
  std::size_t buffer_capacity() const;

 private:
  enum class State : std::uint8_t { kHeader, kPayload, kBroken };

  // `reason`: a string literal (kept for later calls once broken).
  Event Fail(std::uint16_t code, const char* reason);
  Event ParseHeader(char** data, std::size_t* size);
  Event ReadPayload(char** data, std::size_t* size);
  Event FinishMessage(std::string_view payload);
  Event ControlFrame(Opcode opcode, std::string_view payload);
  void Unmask(char* p, std::size_t n);
  void ReleaseBuffer();

  const std::size_t max_message_bytes_;
  State state_ = State::kHeader;
  bool discard_ = false;
  // The frame whose payload is being read (kPayload).
  bool frame_fin_ = false;
  bool frame_skipped_ = false;   // payload dropped, not kept
  std::uint16_t broken_code_ = 0;
  std::uint64_t frame_left_ = 0;  // payload bytes still to come
  std::uint8_t mask_[4] = {0, 0, 0, 0};
  std::uint8_t mask_phase_ = 0;  // payload bytes unmasked so far, mod 4
  // The message being assembled (its first frame has come, not its last).
  bool in_message_ = false;
  bool message_text_ = false;
  bool release_pending_ = false;  // message_ was handed out: clear it next call
  // No block while no message is split across frames or reads.
  LazyBuffer message_;
  const char* broken_reason_ = "";  // a literal (Fail): 8 bytes, not 16
};

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_WS_FRAME_READER_H_
