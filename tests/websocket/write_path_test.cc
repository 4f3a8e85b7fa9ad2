// WritePath: the write side of one connection (write buffer, batch, pong).
#include <catch2/catch.hpp>

#include <string>

#include <boost/asio/buffer.hpp>

#include "write_path.h"
#include "ws_frame.h"

namespace courier::websocket::internal {
namespace {

// The bytes a batch puts on the wire.
std::string Wire(boost::asio::const_buffer buffer) {
  return std::string(static_cast<const char*>(buffer.data()), buffer.size());
}

std::string TextFrame(const std::string& json) {
  std::uint8_t header[kMaxServerHeaderBytes];
  const std::size_t n = EncodeFrameHeader(Opcode::kText, json.size(), header);
  return std::string(reinterpret_cast<const char*>(header), n) + json;
}

TEST_CASE("AppendTextFrame writes a frame's header and payload behind what is there",
          "[websocket]") {
  std::string out = "x";
  AppendTextFrame("{}", out);
  AppendTextFrame(std::string(300, 'y'), out);          // a 16-bit length
  AppendTextFrame(std::string(70000, 'z'), out);        // a 64-bit length
  std::string expected = TextFrame("{}");
  expected.insert(expected.begin(), 'x');
  expected += TextFrame(std::string(300, 'y'));
  expected += TextFrame(std::string(70000, 'z'));
  CHECK(out == expected);
  CHECK(out.size() == 1 + (2 + 2) + (4 + 300) + (10 + 70000));
}

TEST_CASE("WritePath writes the whole queue in one batch, a pending pong first",
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
  // After Idle the next batch starts afresh (the buffers come from the pool).
  CHECK(w.Push("{}", 1 << 20, 100));
  CHECK(Wire(w.StartBatch(-1)) == TextFrame("{}"));
  CHECK(w.FinishBatch() == 1);
  w.Idle(-1);
}

TEST_CASE("WritePath keeps the batch in flight intact while frames queue behind it",
          "[websocket]") {
  WritePath w;
  for (int i = 0; i < 100; ++i) REQUIRE(w.Push("{\"n\":" + std::to_string(i) + "}", 1 << 20, 1000));
  const boost::asio::const_buffer first = w.StartBatch(-1);
  const std::string expected_first = Wire(first);
  // Enough behind it to make the next buffer grow several times: the
  // batch's bytes must not move or change.
  for (int i = 0; i < 200; ++i) REQUIRE(w.Push(std::string(1000, 'q'), 1 << 20, 1000));
  CHECK(Wire(first) == expected_first);
  CHECK(expected_first.rfind(TextFrame("{\"n\":99}")) ==
        expected_first.size() - TextFrame("{\"n\":99}").size());
  CHECK(w.FinishBatch() == 100);
  CHECK(w.queued_bytes() == 200 * 1000);
  const std::string second = Wire(w.StartBatch(-1));
  CHECK(second.size() == 200 * (4 + 1000));
  CHECK(w.FinishBatch() == 200);
  CHECK(w.queued_bytes() == 0);
  CHECK_FALSE(w.has_work());
  w.Idle(-1);
}

TEST_CASE("WritePath takes frames encoded elsewhere, in order with its own", "[websocket]") {
  WritePath w;
  CHECK(w.Push("1", 1 << 20, 100));
  std::string encoded;
  AppendTextFrame("22", encoded);
  AppendTextFrame("333", encoded);
  CHECK(w.PushEncoded(std::string(encoded), 2, 5, 1 << 20, 100));
  CHECK(w.Push("4", 1 << 20, 100));
  CHECK(w.queued_bytes() == 1 + 5 + 1);
  CHECK(Wire(w.StartBatch(-1)) ==
        TextFrame("1") + TextFrame("22") + TextFrame("333") + TextFrame("4"));
  CHECK(w.FinishBatch() == 4);
  // Into an empty queue (the encoded buffer becomes the queue), then behind
  // it, while a batch is in flight.
  CHECK(w.PushEncoded(std::string(encoded), 2, 5, 1 << 20, 100));
  CHECK(Wire(w.StartBatch(-1)) == TextFrame("22") + TextFrame("333"));
  CHECK(w.PushEncoded(std::string(encoded), 2, 5, 1 << 20, 100));
  CHECK(w.Push("5", 1 << 20, 100));
  CHECK(w.PushEncoded(std::string(encoded), 2, 5, 1 << 20, 100));
  CHECK(w.FinishBatch() == 2);
  CHECK(w.queued_bytes() == 5 + 1 + 5);
  CHECK(Wire(w.StartBatch(-1)) == TextFrame("22") + TextFrame("333") + TextFrame("5") +
                                      TextFrame("22") + TextFrame("333"));
  CHECK(w.FinishBatch() == 5);
  CHECK(w.queued_bytes() == 0);
  // Over the limits: counted like frames pushed one by one.
  WritePath frames;
  CHECK_FALSE(frames.PushEncoded(std::string(encoded), 2, 5, 1 << 20, 1));
  WritePath bytes;
  CHECK_FALSE(bytes.PushEncoded(std::string(encoded), 2, 5, 4, 100));
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

TEST_CASE("WritePath::DropQueued drops the queue and the pong, not the batch in flight",
          "[websocket]") {
  WritePath w;
  CHECK(w.Push("in-flight", 1 << 20, 100));
  const boost::asio::const_buffer batch = w.StartBatch(-1);
  CHECK(w.Push("queued", 1 << 20, 100));
  w.SetPong("p");
  w.DropQueued();
  CHECK_FALSE(w.has_work());
  CHECK(w.queued_bytes() == 9);  // the batch's
  CHECK(Wire(batch) == TextFrame("in-flight"));
  CHECK(w.FinishBatch() == 1);
  CHECK(w.queued_bytes() == 0);
  // A queue dropped whole counts nothing against the limits any more.
  CHECK(w.Push("again", 5, 1));
}

TEST_CASE("WritePath::Clear keeps the batch of a write in flight", "[websocket]") {
  WritePath w;
  CHECK(w.Push("in-flight", 1 << 20, 100));
  const boost::asio::const_buffer batch = w.StartBatch(-1);
  w.writing = true;
  CHECK(w.Push("queued", 1 << 20, 100));
  w.Clear();
  CHECK_FALSE(w.has_work());
  CHECK(Wire(batch) == TextFrame("in-flight"));
}

}  // namespace
}  // namespace courier::websocket::internal
