// outbox.h (private): the Transport of one WebSocket connection.
//
// MakeWebSocketTransport wraps a connection (an Outbox) in the Transport the
// engine is given. Called on the connection's own loop thread (the engine
// runs the connection's results there: Transport::executor() is the
// loop's), Send/SendView hand the frames to the connection, which encodes
// each straight into its write buffer (write_path.h): no string and no
// vector per frame. Called from any other thread, they encode the frames
// there into one buffer (EncodedFrames) and hand it to the loop's mailbox,
// which delivers the whole burst in one task (io_loop.h).
//
// Ownership: the transport holds the connection weakly; once the connection
//   is gone, Send and Close do nothing. The loop must outlive the transport's
//   Sends (the server stops the engine before its loops).
// Thread-safety: QueueFrames and QueueEncoded on the connection's loop
//   thread only; EncodeFrames on any thread;
//   PostClose from any thread (it posts).
// Blocking: nothing here blocks.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_OUTBOX_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_OUTBOX_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "courier/transport.h"

namespace courier::websocket::internal {

// One encoded frame the connection answers by itself (client_frames.h).
// `answers_cid` is set for send `error` frames, so the connection can time
// the send.
struct OutFrame {
  std::string json;
  std::string answers_cid;
};

// Frames encoded on a thread other than the connection's, for its mailbox:
// RFC 6455 text frames back to back, header and JSON each.
struct EncodedFrames {
  std::string bytes;
  std::size_t frames = 0;
  std::size_t payload_bytes = 0;  // the frames' JSON, without their headers
  // The non-empty cids answered by the `sent` and `error` frames among
  // them, in order (the connection times its sends by them).
  std::vector<std::string> answers_cids;
};

// Encodes `frames` (any thread; the JSON goes through the thread's scratch).
EncodedFrames EncodeFrames(std::span<const FrameRef> frames);

// What the transport needs of its connection. WebSocketSession is the one
// implementation (not copyable: it owns the stream).
class Outbox {
 public:
  virtual ~Outbox() = default;

  // Encodes `frames` straight into the connection's write buffer, in
  // order, behind what is queued (or drops them if the connection is
  // closing; closes it with 1008 when its queue goes over the limit).
  // The frames are borrowed for the call. REQUIRES: on the connection's
  // loop thread. Never calls into the engine inside the call.
  virtual void QueueFrames(std::span<const FrameRef> frames) = 0;
  // The same for frames encoded on another thread (the mailbox).
  virtual void QueueEncoded(EncodedFrames frames) = 0;
  // Closes with `code` after the frames already queued. REQUIRES: on the
  // connection's loop thread. Never calls into the engine inside the call.
  virtual void CloseNow(std::uint16_t code, std::string_view reason) = 0;
  // Close with `code` after the frames already queued; from any thread.
  virtual void PostClose(std::uint16_t code, std::string reason) = 0;
};

class IoLoop;
// `loop`: the connection's.
std::shared_ptr<Transport> MakeWebSocketTransport(std::weak_ptr<Outbox> outbox, IoLoop& loop);
// The connection behind `transport` when MakeWebSocketTransport made it for
// one of `loops` and the connection is still there; null otherwise (another
// server's transport, or another kind). Server::CloseSessions and
// OpenDevices find a user's connections through the engine's sessions
// (Engine::OpenSessions) with it, so the server keeps no per-user table.
std::shared_ptr<Outbox> OutboxOf(const Transport& transport,
                                 std::span<const std::shared_ptr<IoLoop>> loops);
// The size of what MakeWebSocketTransport allocates (the transport with its
// shared_ptr control block), for tests/websocket/connection_memory_test.cc.
std::size_t WebSocketTransportBytes();

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_OUTBOX_H_
