// read_path.h (private): the read side of one WebSocket connection: reading
// what a plain socket holds, and handing the parsed frames to the
// connection.
//
// An idle plain connection keeps no read buffer: it waits for readiness
// (no bytes of its own), then ReadAvailable reads what the socket holds
// into the io thread's scratch buffer (read_scratch.h) and DispatchFrames
// parses it there, in place; only a partial frame header or control frame
// (at most 139 bytes) is carried over to the next read. A read that leaves
// room in the buffer means the socket was drained at that moment: anything
// that comes later makes the socket ready again, so the connection waits
// for readiness instead of trying (and failing with EAGAIN) first.
//
// Thread-safety: none; the connection's loop thread.
// Blocking: no (the socket is non-blocking).
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_READ_PATH_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_READ_PATH_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "absl/status/statusor.h"
#include "ws_frame_reader.h"

namespace courier::websocket::internal {

// A plain WebSocket connection's socket: bound to its loop's io_context
// directly. (ip::tcp::socket carries an any_io_executor: 32 bytes more in
// the socket and 40 more in every operation in flight.)
using PlainSocket =
    boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

// `socket` (another executor kind, its reactor registration dropped) as a
// PlainSocket on `io`. Closes it and returns the error on failure.
absl::StatusOr<PlainSocket> ToPlainSocket(boost::asio::ip::tcp::socket socket,
                                          boost::asio::io_context& io);

struct SocketRead {
  enum class Outcome : std::uint8_t {
    kDrained,  // the socket held no more (a short read, or EAGAIN)
    kFull,     // the buffer filled: the socket may hold more
    kEnded,    // end of stream or an error: parse what came, then finish
  };
  std::size_t bytes = 0;
  Outcome outcome = Outcome::kDrained;
};

// Reads what `socket` holds into [into, into + room) without waiting.
// REQUIRES: `socket` is non-blocking; room > 0.
SocketRead ReadAvailable(PlainSocket& socket, char* into, std::size_t room);

// Parses `size` bytes at `data` (in place) with `reader`, handing each
// event to `sink` while sink.Reading(); returns how many bytes it used (the
// rest, a partial header or control frame, is for the next read). `Sink`
// has: bool Reading(); void OnMessage(bool text, std::string_view payload);
// void OnPing(std::string_view payload); void OnPong();
// void OnPeerClose(std::uint16_t code);
// void OnProtocolError(std::uint16_t code, std::string_view reason).
template <class Sink>
std::size_t DispatchFrames(FrameReader& reader, char* data, std::size_t size, Sink& sink) {
  char* p = data;
  std::size_t left = size;
  while (sink.Reading()) {
    FrameReader::Event e = reader.Next(&p, &left);
    switch (e.kind) {
      case FrameReader::Kind::kNeedMore:
        return size - left;
      case FrameReader::Kind::kMessage:
        sink.OnMessage(e.text, e.payload);
        break;
      case FrameReader::Kind::kPing:
        sink.OnPing(e.payload);
        break;
      case FrameReader::Kind::kPong:
        sink.OnPong();
        break;
      case FrameReader::Kind::kClose:
        sink.OnPeerClose(e.close_code);
        break;
      case FrameReader::Kind::kError:
        sink.OnProtocolError(e.close_code, e.reason);
        break;
    }
  }
  return size - left;
}

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_READ_PATH_H_
