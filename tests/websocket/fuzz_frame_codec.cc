// libFuzzer target for courier/websocket/frame_codec.h (COURIER_FUZZ=ON, clang).
//
// Any bytes: DecodeClientFrame must return (never crash, hang or overflow the
// stack), its error must encode as an error frame, and a decoded send's body
// must survive encoding into a msg frame and decoding back.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "courier/websocket/frame_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace courier::websocket;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ClientFrame> frame = DecodeClientFrame(input);
  if (!frame.ok()) {
    std::string json = EncodeServerFrame(ToErrorFrame(frame.status()));
    if (json.empty()) std::abort();
    return 0;
  }
  if (const auto* send = std::get_if<SendFrame>(&*frame)) {
    courier::Event e;
    e.kind = courier::EventKind::kMessage;
    e.seq = 1;
    e.id = "m";
    e.peer = "p";
    e.body = send->body;
    std::string json = EncodeServerFrame(courier::EventFrame{e});
    std::size_t start = json.find("\"body\":") + 7;
    std::size_t end = json.rfind(",\"ts\"");
    std::string again = R"({"op":"send","cid":"c","to":"t","body":)" +
                        json.substr(start, end - start) + "}";
    absl::StatusOr<ClientFrame> back = DecodeClientFrame(again);
    if (!back.ok() || std::get<SendFrame>(*back).body != send->body) std::abort();
  }
  return 0;
}
