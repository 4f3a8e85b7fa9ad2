// websocket_transport.cc: the engine's Transport for one WebSocket connection.
#include <utility>

#include "absl/container/inlined_vector.h"
#include "courier/websocket/frame_codec.h"
#include "io_loop.h"
#include "outbox.h"
#include "ws_frame.h"

namespace courier::websocket::internal {
namespace {

class WebSocketTransport final : public Transport {
 public:
  WebSocketTransport(std::weak_ptr<Outbox> outbox, std::shared_ptr<IoLoop> loop)
      : outbox_(std::move(outbox)), loop_(std::move(loop)) {}

  void Send(std::vector<ServerFrame> frames) override {
    if (frames.empty()) return;
    absl::InlinedVector<FrameRef, 8> refs(frames.begin(), frames.end());
    SendView(std::span<const FrameRef>(refs.data(), refs.size()));
  }

  void SendView(std::span<const FrameRef> frames) override {
    if (frames.empty()) return;
    if (loop_->OnThisThread()) {
      std::shared_ptr<Outbox> outbox = outbox_.lock();
      if (outbox == nullptr) return;
      loop_->DeliverWaiting();  // what other threads sent before goes first
      outbox->QueueFrames(frames);  // encoded straight into its write buffer
    } else if (!outbox_.expired()) {
      loop_->Deliver(outbox_, EncodeFrames(frames));
    }
  }

  // In order with the frames: on the loop thread after what waits in the
  // mailbox, from elsewhere through the mailbox.
  void Close(CloseCode code, std::string_view reason) override {
    const auto value = static_cast<std::uint16_t>(code);
    if (loop_->OnThisThread()) {
      loop_->DeliverWaiting();
      if (std::shared_ptr<Outbox> outbox = outbox_.lock()) outbox->CloseNow(value, reason);
    } else if (!outbox_.expired()) {
      loop_->DeliverClose(outbox_, value, std::string(reason));
    }
  }

  std::shared_ptr<Executor> executor() const override { return loop_->executor(); }

  const IoLoop& loop() const { return *loop_; }
  std::shared_ptr<Outbox> outbox() const { return outbox_.lock(); }

 private:
  const std::weak_ptr<Outbox> outbox_;
  // Shared: the engine may hold the transport after the server is gone
  // (the loop is closed by then, and drops what it is given). Never null.
  const std::shared_ptr<IoLoop> loop_;
};

}  // namespace

EncodedFrames EncodeFrames(std::span<const FrameRef> frames) {
  EncodedFrames out;
  // Room for the usual frame at once (a fetched page is ≈ 50 KB): a JSON
  // frame is its strings and ≈ 100 bytes around them.
  std::size_t room = 0;
  for (const FrameRef& frame : frames) {
    const Event* e = frame.event();
    room += e == nullptr ? 128 : 112 + e->id.size() + e->peer.size() + e->body.size() + e->group.size();
  }
  out.bytes.reserve(room);
  for (const FrameRef& frame : frames) {
    const std::string_view json = EncodeServerFrameView(frame);
    AppendTextFrame(json, out.bytes);
    ++out.frames;
    out.payload_bytes += json.size();
    if (const std::string_view cid = frame.answers_cid(); !cid.empty()) {
      out.answers_cids.emplace_back(cid);
    }
  }
  return out;
}

std::shared_ptr<Transport> MakeWebSocketTransport(std::weak_ptr<Outbox> outbox, IoLoop& loop) {
  return std::make_shared<WebSocketTransport>(std::move(outbox), loop.shared_from_this());
}

std::shared_ptr<Outbox> OutboxOf(const Transport& transport,
                                 std::span<const std::shared_ptr<IoLoop>> loops) {
  const auto* ws = dynamic_cast<const WebSocketTransport*>(&transport);
  if (ws == nullptr) return nullptr;
  for (const std::shared_ptr<IoLoop>& loop : loops) {
    // The transport keeps its loop alive: an address of a live loop.
    if (loop.get() == &ws->loop()) return ws->outbox();
  }
  return nullptr;
}

std::size_t WebSocketTransportBytes() {
  // make_shared: the object beside two counts and the control block's vtable.
  return sizeof(WebSocketTransport) + 16;
}

}  // namespace courier::websocket::internal
