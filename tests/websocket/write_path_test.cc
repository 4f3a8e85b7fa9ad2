// WritePath: the write side of one connection (queue, gathered batch, pong).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <boost/asio/buffer.hpp>

#include "write_path.h"
#include "ws_frame.h"

namespace courier::websocket::internal {
namespace {

// The bytes a batch's buffers would put on the wire.
std::string Wire(const std::vector<boost::asio::const_buffer>& buffers) {
  std::string out;
  for (const auto& b : buffers) out.append(static_cast<const char*>(b.data()), b.size());
  return out;
}

std::string TextFrame(const std::string& json) {
  std::uint8_t header[kMaxServerHeaderBytes];
  const std::size_t n = EncodeFrameHeader(Opcode::kText, json.size(), header);
  return std::string(reinterpret_cast<const char*>(header), n) + json;
}

TEST_CASE("WritePath writes the queue in one gathered batch, a pending pong first",
          "[websocket]") {
  WritePath w;
  CHECK_FALSE(w.has_work());
  CHECK(w.Push("{\"a\":1}", 1 << 20, 100));
  CHECK(w.Push(std::string(300, 'x'), 1 << 20, 100));  // a 16-bit length header
  w.SetPong("p1");
  w.SetPong("p2");  // only the latest ping is answered
  CHECK(w.has_work());
  CHECK(w.queued_bytes() == 7 + 300);
  const std::string wire = Wire(w.StartBatch(-1));
  CHECK(wire == EncodeControlFrame(Opcode::kPong, "p2") + TextFrame("{\"a\":1}") +
                    TextFrame(std::string(300, 'x')));
  CHECK_FALSE(w.has_work());
  CHECK(w.FinishBatch() == 2);
  CHECK(w.queued_bytes() == 0);
  w.Idle(-1);
  // After Idle the next batch starts afresh (the arrays come from the pool).
  CHECK(w.Push("{}", 1 << 20, 100));
  CHECK(Wire(w.StartBatch(-1)) == TextFrame("{}"));
  CHECK(w.FinishBatch() == 1);
  w.Idle(-1);
}

TEST_CASE("WritePath reports a queue over its limits, counting the batch in flight",
          "[websocket]") {
  WritePath w;
  CHECK(w.Push("1", 1 << 20, 2));
  CHECK(w.Push("2", 1 << 20, 2));
  (void)w.StartBatch(-1);  // both in flight
  CHECK_FALSE(w.Push("3", 1 << 20, 2));  // 3 frames > 2
  WritePath bytes;
  CHECK(bytes.Push("12345", 8, 100));
  CHECK_FALSE(bytes.Push("6789", 8, 100));  // 9 bytes > 8
}

TEST_CASE("WritePath batches at most kMaxBatchFrames frames at a time", "[websocket]") {
  WritePath w;
  for (std::size_t i = 0; i < WritePath::kMaxBatchFrames + 3; ++i) {
    REQUIRE(w.Push("{}", 1 << 20, 1000));
  }
  // Each frame: a header and a payload buffer.
  CHECK(w.StartBatch(-1).size() == 2 * WritePath::kMaxBatchFrames);
  CHECK(w.FinishBatch() == WritePath::kMaxBatchFrames);
  CHECK(w.has_work());
  CHECK(w.StartBatch(-1).size() == 2 * 3);
  CHECK(w.FinishBatch() == 3);
  CHECK_FALSE(w.has_work());
  w.Idle(-1);
}

TEST_CASE("WritePath::DropQueued drops the queue and the pong, not the batch in flight",
          "[websocket]") {
  WritePath w;
  CHECK(w.Push("in-flight", 1 << 20, 100));
  const std::string wire = Wire(w.StartBatch(-1));
  CHECK(w.Push("queued", 1 << 20, 100));
  w.SetPong("p");
  w.DropQueued();
  CHECK_FALSE(w.has_work());
  CHECK(w.queued_bytes() == 9);  // the batch's
  CHECK(wire == TextFrame("in-flight"));
  CHECK(w.FinishBatch() == 1);
  CHECK(w.queued_bytes() == 0);
}

}  // namespace
}  // namespace courier::websocket::internal
