// The checks courier-load makes before printing a figure: a lost, repeated
// or reordered message must be counted, and frames must parse.
#include <catch2/catch.hpp>

#include <cstdint>
#include <ostream>

#include "workload_common.h"
#include "ws_client.h"

namespace courier::load {
namespace {

InboxCheck TwoSenders() {
  InboxCheck c;
  c.next_index.assign(2, 0);
  return c;
}

// Everything an InboxCheck counts, so that a case states all four counters
// at once (those it does not name must stay 0).
struct Tally {
  std::uint64_t received = 0;
  std::uint64_t dup = 0;
  std::uint64_t reordered = 0;
  std::uint64_t foreign = 0;
  bool operator==(const Tally&) const = default;
};

Tally TallyOf(const InboxCheck& c) { return {c.received, c.dup, c.reordered, c.foreign}; }

std::ostream& operator<<(std::ostream& os, const Tally& t) {
  return os << "{received " << t.received << ", dup " << t.dup << ", reordered " << t.reordered
            << ", foreign " << t.foreign << "}";
}

TEST_CASE("InboxCheck: in-order messages of two senders pass", "[bench]") {
  InboxCheck c = TwoSenders();
  REQUIRE(c.OnMsg(1, Body(0, 0, 100)));
  REQUIRE(c.OnMsg(2, Body(1, 0, 100)));
  REQUIRE(c.OnMsg(3, Body(0, 1, 100)));
  CHECK(TallyOf(c) == Tally{.received = 3});
}

TEST_CASE("InboxCheck: a repeated seq is a dup and not counted", "[bench]") {
  InboxCheck c = TwoSenders();
  REQUIRE(c.OnMsg(1, Body(0, 0, 100)));
  REQUIRE_FALSE(c.OnMsg(1, Body(0, 0, 100)));
  CHECK(TallyOf(c) == Tally{.received = 1, .dup = 1});
}

TEST_CASE("InboxCheck: a skipped seq and a sender's broken order are reordered", "[bench]") {
  InboxCheck gap = TwoSenders();
  REQUIRE(gap.OnMsg(1, Body(0, 0, 100)));
  REQUIRE(gap.OnMsg(3, Body(0, 1, 100)));
  CHECK(TallyOf(gap) == Tally{.received = 2, .reordered = 1});

  InboxCheck order = TwoSenders();
  REQUIRE(order.OnMsg(1, Body(1, 1, 100)));
  REQUIRE(order.OnMsg(2, Body(1, 0, 100)));
  // index 1 came first, then index 0 behind it
  CHECK(TallyOf(order) == Tally{.received = 2, .reordered = 2});
}

TEST_CASE("InboxCheck: a body that is not ours is foreign", "[bench]") {
  InboxCheck c = TwoSenders();
  REQUIRE(c.OnMsg(1, "hello"));
  REQUIRE(c.OnMsg(2, Body(7, 0, 100)));  // no sender 7
  CHECK(TallyOf(c) == Tally{.foreign = 2});
}

TEST_CASE("Body: pads to the size and parses back", "[bench]") {
  const std::string b = Body(3, 12345, 100);
  CHECK(b.size() == 100);
  std::size_t tag = 0, index = 0;
  REQUIRE(ParseBody(b, tag, index));
  CHECK(tag == 3);
  CHECK(index == 12345);
  CHECK_FALSE(ParseBody("3:x:", tag, index));
}

TEST_CASE("ParseServerFrame: msg, sent with dup, welcome, error, garbage", "[bench]") {
  InFrame f;
  REQUIRE(ParseServerFrame(R"({"op":"msg","seq":7,"id":"m","from":"a","body":"0:1:x","ts":1})", f));
  CHECK(f.op == InFrame::Op::kMsg);
  CHECK(f.seq == 7);
  CHECK(f.body == "0:1:x");
  REQUIRE(ParseServerFrame(R"({"op":"sent","cid":"c1","id":"m","ts":1,"dup":true})", f));
  CHECK(f.op == InFrame::Op::kSent);
  CHECK(f.dup);
  REQUIRE(ParseServerFrame(R"({"op":"welcome","user":"u","device":"d","cursor":4,"head":9})", f));
  CHECK(f.cursor == 4);
  CHECK(f.head == 9);
  REQUIRE(ParseServerFrame(R"({"op":"error","code":"rate_limited","message":"slow"})", f));
  CHECK(f.code == "rate_limited");
  CHECK_FALSE(ParseServerFrame("not json", f));
  CHECK_FALSE(ParseServerFrame(R"({"seq":1})", f));
}

}  // namespace
}  // namespace courier::load
