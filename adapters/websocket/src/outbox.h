// outbox.h (private): the Transport of one WebSocket connection.
//
// MakeWebSocketTransport wraps a connection (an Outbox) in the Transport the
// engine is given. Send encodes the frames on the caller's thread. Called on
// the connection's own loop thread (the engine runs the connection's results
// there: Transport::executor() is the loop's), it queues them at once;
// called from any other thread, it hands them to the loop's mailbox, which
// delivers the whole burst in one task (io_loop.h).
//
// Ownership: the transport holds the connection weakly; once the connection
//   is gone, Send and Close do nothing. The loop must outlive the transport's
//   Sends (the server stops the engine before its loops).
// Thread-safety: QueueFrames on the connection's loop thread only;
//   PostClose from any thread (it posts).
// Blocking: nothing here blocks.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_OUTBOX_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_OUTBOX_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "courier/transport.h"

namespace courier::websocket::internal {

// One encoded frame. `answers_cid` is set for `sent` and send `error`
// frames, so the connection can time the send.
struct OutFrame {
  std::string json;
  std::string answers_cid;
};

// What the transport needs of its connection. WebSocketSession is the one
// implementation (not copyable: it owns the stream).
class Outbox {
 public:
  virtual ~Outbox() = default;

  // Queues `frames`, in order. REQUIRES: on the connection's loop thread.
  // Never calls into the engine inside the call.
  virtual void QueueFrames(std::vector<OutFrame> frames) = 0;
  // Closes with `code` after the frames already queued. REQUIRES: on the
  // connection's loop thread. Never calls into the engine inside the call.
  virtual void CloseNow(std::uint16_t code, std::string_view reason) = 0;
  // Close with `code` after the frames already queued; from any thread.
  virtual void PostClose(std::uint16_t code, std::string reason) = 0;
};

class IoLoop;
// `loop`: the connection's.
std::shared_ptr<Transport> MakeWebSocketTransport(std::weak_ptr<Outbox> outbox, IoLoop& loop);
// The size of what MakeWebSocketTransport allocates (the transport with its
// shared_ptr control block), for tests/websocket/connection_memory_test.cc.
std::size_t WebSocketTransportBytes();

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_OUTBOX_H_
