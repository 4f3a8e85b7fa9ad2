// outbox.h (private): the Transport of one WebSocket connection.
//
// MakeWebSocketTransport wraps a connection (an Outbox) in the Transport the
// engine is given. Send encodes the frames on the caller's (the engine's)
// thread, then hands the JSON to the connection, which posts it to its strand.
//
// Ownership: the transport holds the connection weakly; once the connection
//   is gone, Send and Close do nothing.
// Thread-safety: Outbox methods are called from any thread and must post.
// Blocking: nothing here blocks.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_OUTBOX_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_OUTBOX_H_

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

class Outbox {
 public:
  Outbox() = default;
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;
  virtual ~Outbox() = default;

  // Queue `frames`, in order, on the connection's strand.
  virtual void PostFrames(std::vector<OutFrame> frames) = 0;
  // Close with `code` after the frames already queued.
  virtual void PostClose(std::uint16_t code, std::string reason) = 0;
};

std::shared_ptr<Transport> MakeWebSocketTransport(std::weak_ptr<Outbox> outbox);

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_OUTBOX_H_
