// websocket_transport.cc: the engine's Transport for one WebSocket connection.
#include <utility>

#include "courier/websocket/frame_codec.h"
#include "io_loop.h"
#include "outbox.h"

namespace courier::websocket::internal {
namespace {

class WebSocketTransport final : public Transport {
 public:
  WebSocketTransport(std::weak_ptr<Outbox> outbox, std::shared_ptr<IoLoop> loop)
      : outbox_(std::move(outbox)), loop_holder_(std::move(loop)), loop_(*loop_holder_) {}

  void Send(std::vector<ServerFrame> frames) override {
    if (frames.empty()) return;
    const bool here = loop_.OnThisThread();
    std::shared_ptr<Outbox> outbox;
    if (here) {
      outbox = outbox_.lock();
      if (outbox == nullptr) return;
    } else if (outbox_.expired()) {
      return;
    }
    std::vector<OutFrame> out;
    out.reserve(frames.size());
    for (const ServerFrame& frame : frames) {
      OutFrame f{EncodeServerFrame(frame), {}};
      if (const auto* sent = std::get_if<SentFrame>(&frame)) {
        f.answers_cid = sent->cid;
      } else if (const auto* error = std::get_if<ErrorFrame>(&frame)) {
        f.answers_cid = error->cid;
      }
      out.push_back(std::move(f));
    }
    if (here) {
      loop_.DeliverWaiting();  // what other threads sent before goes first
      outbox->QueueFrames(std::move(out));
    } else {
      loop_.Deliver(outbox_, std::move(out));
    }
  }

  // In order with the frames: on the loop thread after what waits in the
  // mailbox, from elsewhere through the mailbox.
  void Close(CloseCode code, std::string_view reason) override {
    const auto value = static_cast<std::uint16_t>(code);
    if (loop_.OnThisThread()) {
      loop_.DeliverWaiting();
      if (std::shared_ptr<Outbox> outbox = outbox_.lock()) outbox->CloseNow(value, reason);
    } else if (!outbox_.expired()) {
      loop_.DeliverClose(outbox_, value, std::string(reason));
    }
  }

  std::shared_ptr<Executor> executor() const override { return loop_.executor(); }

 private:
  const std::weak_ptr<Outbox> outbox_;
  // Shared: the engine may hold the transport after the server is gone
  // (the loop is closed by then, and drops what it is given).
  const std::shared_ptr<IoLoop> loop_holder_;
  IoLoop& loop_;
};

}  // namespace

std::shared_ptr<Transport> MakeWebSocketTransport(std::weak_ptr<Outbox> outbox, IoLoop& loop) {
  return std::make_shared<WebSocketTransport>(std::move(outbox), loop.shared_from_this());
}

std::size_t WebSocketTransportBytes() {
  // make_shared: the object beside two counts and the control block's vtable.
  return sizeof(WebSocketTransport) + 16;
}

}  // namespace courier::websocket::internal
