// The checks courier-load makes before printing a figure: a lost, repeated
// or reordered message must be counted, and frames must parse.
#include <catch2/catch.hpp>

#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "workload_common.h"
#include "ws_client.h"

namespace courier::load {
namespace {

// Everything an InboxCheck counts, so that a case states all four counters
// at once (those it does not name must stay 0).
struct Tally {
  std::uint64_t received = 0;
  std::uint64_t dup = 0;
  std::uint64_t reordered = 0;
  std::uint64_t foreign = 0;
  bool operator==(const Tally&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Tally& t) {
  return os << "{received " << t.received << ", dup " << t.dup << ", reordered " << t.reordered
            << ", foreign " << t.foreign << "}";
}

// A message as it reaches the recipient, and whether OnMsg must take it as new.
struct Delivery {
  std::uint64_t seq;
  std::string body;
  bool is_new = true;
};

// Feeds `deliveries` in order to a fresh check of two senders (tags 0 and 1),
// each required to be new or not as it says; returns what the check counted.
Tally Feed(const std::vector<Delivery>& deliveries) {
  InboxCheck c;
  c.next_index.assign(2, 0);
  for (const Delivery& d : deliveries) {
    INFO("seq " << d.seq << ", body " << d.body.substr(0, 16));
    REQUIRE(c.OnMsg(d.seq, d.body) == d.is_new);
  }
  return {c.received, c.dup, c.reordered, c.foreign};
}

TEST_CASE("InboxCheck: in-order messages of two senders pass", "[bench]") {
  CHECK(Feed({{1, Body(0, 0, 100)}, {2, Body(1, 0, 100)}, {3, Body(0, 1, 100)}}) ==
        Tally{.received = 3});
}

TEST_CASE("InboxCheck: a repeated seq is a dup and not counted", "[bench]") {
  CHECK(Feed({{1, Body(0, 0, 100)}, {1, Body(0, 0, 100), /*is_new=*/false}}) ==
        Tally{.received = 1, .dup = 1});
}

TEST_CASE("InboxCheck: a skipped seq and a sender's broken order are reordered", "[bench]") {
  CHECK(Feed({{1, Body(0, 0, 100)}, {3, Body(0, 1, 100)}}) ==
        Tally{.received = 2, .reordered = 1});
  // Sender 1's index 1 came first, then its index 0 behind it.
  CHECK(Feed({{1, Body(1, 1, 100)}, {2, Body(1, 0, 100)}}) ==
        Tally{.received = 2, .reordered = 2});
}

TEST_CASE("InboxCheck: a body that is not ours is foreign", "[bench]") {
  CHECK(Feed({{1, "hello"}, {2, Body(7, 0, 100)}}) == Tally{.foreign = 2});  // no sender 7
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


// What a parse answered, with the views' bytes copied out.
struct Parsed {
  bool ok = false;
  InFrame::Op op = InFrame::Op::kOther;
  std::uint64_t seq = 0, cursor = 0, head = 0;
  bool dup = false;
  std::string cid, id, from, body, code, message;
  bool operator==(const Parsed&) const = default;
};

Parsed Parse(std::string_view json, bool dom) {
  std::string buf(json);  // buf[size] is '\0'
  InFrame f;
  Parsed p;
  p.ok = dom ? ParseServerFrameWithDom(buf.data(), buf.size(), f)
             : ParseServerFrameInPlace(buf.data(), buf.size(), f);
  if (!p.ok) return p;
  p.op = f.op;
  p.seq = f.seq;
  p.cursor = f.cursor;
  p.head = f.head;
  p.dup = f.dup;
  p.cid = f.cid;
  p.id = f.id;
  p.from = f.from;
  p.body = f.body;
  p.code = f.code;
  p.message = f.message;
  return p;
}

TEST_CASE("ParseServerFrameInPlace: the scanner answers what RapidJSON answers", "[bench]") {
  const std::vector<std::string> seeds = {
      R"({"op":"msg","seq":7,"id":"m","from":"a","body":"0:1:x","ts":1})",
      R"({"op":"sent","cid":"c1","id":"m","ts":1,"dup":true})",
      R"({"op":"sent","cid":"c1","id":"m","ts":1,"dup":false})",
      R"({"op":"receipt","seq":18446744073709551615,"id":"m"})",
      R"({"op":"receipt","seq":18446744073709551616,"id":"m"})",
      R"( { "op" : "welcome" , "user":"u","device":"d","cursor":4,"head":9 } )",
      R"({"op":"error","code":"rate_limited","message":"slow","cid":null})",
      R"({"op":"msg","seq":1,"body":"a\"b\\c\u00e9","from":"x"})",
      R"({"op":"msg","seq":-1,"body":"x"})",
      R"({"op":"msg","seq":1.5,"body":"x"})",
      R"({"op":"msg","seq":1e3,"body":"x"})",
      R"({"op":"msg","seq":01,"body":"x"})",
      R"({"op":"msg","seq":0,"body":"x","op":"sent"})",
      R"({"op":"msg","seq":"3","body":7})",
      R"({"op":"msg","att":{"a":[1,2]},"seq":2})",
      R"({"op":"synced","seq":3})",
      R"({"op":"presence","user":"u","online":true})",
      R"({"op":"pong"})",
      R"({"op":"other"})",
      R"({"op":""})",
      R"({})",
      R"([])",
      R"("op")",
      R"({"op":"pong"} x)",
      R"({"op":"pong",})",
      R"({"op" "pong"})",
      R"({"op":tru})",
      R"({"op":"pong","dup":nul})",
      "not json",
      "",
  };
  for (const std::string& s : seeds) {
    INFO(s);
    CHECK(Parse(s, false) == Parse(s, true));
  }
  // A fixed-seed mutation round over the seeds: bytes changed, dropped,
  // doubled, and JSON's special characters put in (a '\0' inside too).
  std::mt19937 rng(13);
  const std::string special = "{}[]:,\"\\0123456789-.eEtrufalsn \t\n\x01\x7f\xc3";
  std::size_t scanned_differently = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string s = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const std::size_t at = rng() % s.size();
      switch (rng() % 4) {
        case 0: s[at] = special[rng() % special.size()]; break;
        case 1: s.erase(at, 1); break;
        case 2: s.insert(at, 1, s[at]); break;
        default: s[at] = (rng() % 8 == 0) ? '\0' : static_cast<char>(rng() % 256); break;
      }
    }
    const Parsed fast = Parse(s, false), dom = Parse(s, true);
    if (!(fast == dom)) {
      ++scanned_differently;
      INFO(s);
      CHECK(fast == dom);
    }
  }
  CHECK(scanned_differently == 0);
}

}  // namespace
}  // namespace courier::load
