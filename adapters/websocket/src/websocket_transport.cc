// websocket_transport.cc: the engine's Transport for one WebSocket connection.
#include <utility>

#include "courier/websocket/frame_codec.h"
#include "outbox.h"

namespace courier::websocket::internal {
namespace {

class WebSocketTransport final : public Transport {
 public:
  explicit WebSocketTransport(std::weak_ptr<Outbox> outbox) : outbox_(std::move(outbox)) {}

  void Send(std::vector<ServerFrame> frames) override {
    std::shared_ptr<Outbox> outbox = outbox_.lock();
    if (outbox == nullptr || frames.empty()) return;
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
    outbox->PostFrames(std::move(out));
  }

  void Close(CloseCode code, std::string_view reason) override {
    if (std::shared_ptr<Outbox> outbox = outbox_.lock()) {
      outbox->PostClose(static_cast<std::uint16_t>(code), std::string(reason));
    }
  }

 private:
  const std::weak_ptr<Outbox> outbox_;
};

}  // namespace

std::shared_ptr<Transport> MakeWebSocketTransport(std::weak_ptr<Outbox> outbox) {
  return std::make_shared<WebSocketTransport>(std::move(outbox));
}

}  // namespace courier::websocket::internal
