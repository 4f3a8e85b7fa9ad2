// RecordingTransport: keeps frames in order, drops them after Close.
#include "courier/memory.h"

#include <catch2/catch.hpp>

namespace courier::memory {
namespace {

TEST_CASE("RecordingTransport: records frames in order and Take empties", "[memory][transport]") {
  RecordingTransport t;
  t.Send({SyncedFrame{1}, SyncedFrame{2}});
  t.Send({SentFrame{"c1", "m1", 5, false}});
  REQUIRE(t.frame_count() == 3);
  auto frames = t.Take();
  REQUIRE(frames.size() == 3);
  REQUIRE(std::get<SyncedFrame>(frames[0]).seq == 1);
  REQUIRE(std::get<SyncedFrame>(frames[1]).seq == 2);
  REQUIRE(std::get<SentFrame>(frames[2]).cid == "c1");
  REQUIRE(t.Take().empty());
  REQUIRE(t.frame_count() == 3);  // counts every frame ever recorded
  REQUIRE_FALSE(t.closed());
  REQUIRE_FALSE(t.close_code().has_value());
}

TEST_CASE("RecordingTransport: Close is idempotent and drops later sends", "[memory][transport]") {
  RecordingTransport t;
  t.Send({SyncedFrame{1}});
  t.Close(CloseCode::kReplaced, "elsewhere");
  t.Close(CloseCode::kGoingAway, "again");
  t.Send({SyncedFrame{2}});
  REQUIRE(t.closed());
  REQUIRE(t.close_code() == CloseCode::kReplaced);
  auto frames = t.Take();
  REQUIRE(frames.size() == 1);
  REQUIRE(t.frame_count() == 1);
}

}  // namespace
}  // namespace courier::memory
