// Tests of adapters/websocket/src/frame_queue.h: the per-connection write
// queue (FIFO order, no memory held once empty).
#include "frame_queue.h"

#include <string>

#include <catch2/catch.hpp>

namespace courier::websocket::internal {
namespace {

TEST_CASE("FrameQueue: first in, first out", "[websocket][frame_queue]") {
  FrameQueue q;
  CHECK(q.empty());
  CHECK(q.size() == 0);
  q.push_back("a");
  q.push_back(std::string(100, 'b'));
  q.push_back("c");
  CHECK(q.size() == 3);
  CHECK(q.front() == "a");
  CHECK(q.back() == "c");
  q.pop_front();
  CHECK(q.front() == std::string(100, 'b'));
  q.pop_back();
  CHECK(q.size() == 1);
  CHECK(q.back() == std::string(100, 'b'));
  q.pop_front();
  CHECK(q.empty());
  q.push_back("d");
  CHECK(q.front() == "d");
  q.pop_back();
  CHECK(q.empty());
}

TEST_CASE("FrameQueue: a queue that never empties keeps its order", "[websocket][frame_queue]") {
  FrameQueue q;
  int next_in = 0;
  int next_out = 0;
  for (int round = 0; round < 1000; ++round) {
    for (int i = 0; i < 3; ++i) q.push_back(std::to_string(next_in++));
    for (int i = 0; i < 2; ++i) {
      REQUIRE(q.front() == std::to_string(next_out++));
      q.pop_front();
    }
  }
  CHECK(q.size() == 1000);
  while (!q.empty()) {
    REQUIRE(q.front() == std::to_string(next_out++));
    q.pop_front();
  }
  CHECK(next_out == next_in);
}

}  // namespace
}  // namespace courier::websocket::internal
