// Tests of ws_frame.h: the frames the server writes, byte for byte, and
// that a client's masked copy of each parses back through FrameReader.
#include "ws_frame.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "courier/types.h"
#include "framing_test_support.h"

namespace courier::websocket::internal {
namespace {

using namespace framing_test;  // NOLINT(google-build-using-namespace)

TEST_CASE("EncodeFrameHeader: FIN, opcode, no mask, big-endian length", "[websocket][ws_frame]") {
  struct Case {
    std::uint64_t size;
    std::string want;
  };
  const std::vector<Case> cases = {
      {0, Bytes({0x82, 0x00})},
      {1, Bytes({0x82, 0x01})},
      {125, Bytes({0x82, 0x7D})},
      {126, Bytes({0x82, 0x7E, 0x00, 0x7E})},
      {0x1234, Bytes({0x82, 0x7E, 0x12, 0x34})},
      {65535, Bytes({0x82, 0x7E, 0xFF, 0xFF})},
      {65536, Bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0})},
      {std::uint64_t{1} << 32, Bytes({0x82, 0x7F, 0, 0, 0, 1, 0, 0, 0, 0})},
      {0x0102030405060708ull, Bytes({0x82, 0x7F, 1, 2, 3, 4, 5, 6, 7, 8})},
  };
  for (const Case& c : cases) {
    std::uint8_t out[kMaxServerHeaderBytes + 4];
    std::fill(std::begin(out), std::end(out), 0xAA);
    const std::size_t n = EncodeFrameHeader(Opcode::kBinary, c.size, out);
    INFO("payload size " << c.size);
    REQUIRE(n == c.want.size());
    CHECK(Hex(std::string_view(reinterpret_cast<const char*>(out), n)) == Hex(c.want));
    // Nothing written past what it says it wrote.
    for (std::size_t i = n; i < sizeof out; ++i) CHECK(out[i] == 0xAA);
  }
  std::uint8_t out[kMaxServerHeaderBytes];
  for (Opcode op : {Opcode::kText, Opcode::kBinary, Opcode::kClose, Opcode::kPing, Opcode::kPong}) {
    REQUIRE(EncodeFrameHeader(op, 3, out) == 2);
    CHECK(out[0] == (0x80 | Op(op)));
    CHECK(out[1] == 3);
  }
}

TEST_CASE("EncodeCloseFrame: code and reason", "[websocket][ws_frame]") {
  CHECK(Hex(EncodeCloseFrame(1000, "bye")) == Hex(Bytes({0x88, 0x05, 0x03, 0xE8, 'b', 'y', 'e'})));
  CHECK(Hex(EncodeCloseFrame(1001, "")) == Hex(Bytes({0x88, 0x02, 0x03, 0xE9})));
  CHECK(Hex(EncodeCloseFrame(4999, "x")) == Hex(Bytes({0x88, 0x03, 0x13, 0x87, 'x'})));
  // 1005 means "no status": an empty payload, whatever the reason.
  CHECK(Hex(EncodeCloseFrame(1005, "")) == Hex(Bytes({0x88, 0x00})));
  CHECK(Hex(EncodeCloseFrame(1005, "ignored")) == Hex(Bytes({0x88, 0x00})));
  // An ASCII reason is cut to exactly 123 bytes.
  const std::string long_ascii(300, 'r');
  const std::string f = EncodeCloseFrame(1011, long_ascii);
  REQUIRE(f.size() == 2 + 2 + kMaxCloseReason);
  CHECK(static_cast<std::uint8_t>(f[1]) == kMaxControlPayload);
  CHECK(f.substr(4) == std::string(kMaxCloseReason, 'r'));
}

TEST_CASE("EncodeCloseFrame: a long reason is cut at a character", "[websocket][ws_frame]") {
  for (std::uint32_t cp : {0xE9u, 0x20ACu, 0x1F600u}) {
    const std::string c = EncodeCodePoint(cp);
    std::string reason;
    while (reason.size() < 300) reason += c;
    for (std::size_t lead = 0; lead < 4; ++lead) {
      const std::string r = std::string(lead, 'a') + reason;
      const std::string f = EncodeCloseFrame(1000, r);
      INFO("U+" << std::hex << cp << " after " << lead << " ASCII bytes");
      REQUIRE(f.size() >= 4);
      CHECK(static_cast<std::uint8_t>(f[0]) == 0x88);
      const std::size_t len = static_cast<std::uint8_t>(f[1]);
      REQUIRE(len <= kMaxControlPayload);
      REQUIRE(f.size() == 2 + len);
      CHECK(f[2] == 0x03);
      CHECK(static_cast<std::uint8_t>(f[3]) == 0xE8);
      const std::string_view got = std::string_view(f).substr(4);
      CHECK(got.size() <= kMaxCloseReason);
      // The longest whole-character prefix: less than one character short.
      CHECK(got.size() + c.size() > kMaxCloseReason);
      CHECK(IsValidUtf8(got));
      CHECK(r.compare(0, got.size(), got) == 0);
    }
  }
}

TEST_CASE("EncodeControlFrame: ping and pong, payload cut to 125", "[websocket][ws_frame]") {
  CHECK(Hex(EncodeControlFrame(Opcode::kPong, "abc")) == Hex(Bytes({0x8A, 0x03, 'a', 'b', 'c'})));
  CHECK(Hex(EncodeControlFrame(Opcode::kPing, "")) == Hex(Bytes({0x89, 0x00})));
  CHECK(Hex(EncodeControlFrame(Opcode::kPong, "")) == Hex(Bytes({0x8A, 0x00})));
  const std::string p = AsciiPayload(125);
  CHECK(EncodeControlFrame(Opcode::kPing, p) == Bytes({0x89, 0x7D}) + p);
  const std::string longer = AsciiPayload(300);
  const std::string f = EncodeControlFrame(Opcode::kPong, longer);
  CHECK(f == Bytes({0x8A, 0x7D}) + longer.substr(0, 125));
}

TEST_CASE("CutAtCharacter", "[websocket][ws_frame]") {
  CHECK(CutAtCharacter("", 0) == "");
  CHECK(CutAtCharacter("", 10) == "");
  CHECK(CutAtCharacter("abc", 10) == "abc");
  CHECK(CutAtCharacter("abc", 3) == "abc");
  CHECK(CutAtCharacter("abc", 2) == "ab");
  CHECK(CutAtCharacter("abc", 0) == "");
  const std::string_view e_acute = "a\xC3\xA9" "b";  // a é b
  CHECK(CutAtCharacter(e_acute, 1) == "a");
  CHECK(CutAtCharacter(e_acute, 2) == "a");
  CHECK(CutAtCharacter(e_acute, 3) == "a\xC3\xA9");
  CHECK(CutAtCharacter(e_acute, 4) == e_acute);
  const std::string_view emoji = "\xF0\x9F\x98\x80\xF0\x9F\x98\x81";
  for (std::size_t max = 0; max < 4; ++max) CHECK(CutAtCharacter(emoji, max).empty());
  for (std::size_t max = 4; max < 8; ++max) CHECK(CutAtCharacter(emoji, max) == emoji.substr(0, 4));
  CHECK(CutAtCharacter(emoji, 8) == emoji);
  const std::string_view euro = "\xE2\x82\xAC\xE2\x82\xAC";
  CHECK(CutAtCharacter(euro, 5) == euro.substr(0, 3));
  CHECK(CutAtCharacter(euro, 2).empty());
  // The result is a prefix of the input, not a copy.
  const std::string_view cut = CutAtCharacter(e_acute, 3);
  CHECK(cut.data() == e_acute.data());
}

TEST_CASE("IsValidReceivedCloseCode", "[websocket][ws_frame]") {
  // RFC 6455 7.4 as the header states it: 1000-1003, 1007-1011, 3000-4999.
  for (std::uint32_t code = 0; code <= 0xFFFF; ++code) {
    const bool want = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
                      (code >= 3000 && code <= 4999);
    if (IsValidReceivedCloseCode(static_cast<std::uint16_t>(code)) != want) {
      FAIL("code " << code << " should be " << (want ? "valid" : "invalid"));
    }
  }
  for (std::uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1011, 3000, 4999}) {
    CHECK(IsValidReceivedCloseCode(code));
  }
  for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}) {
    CHECK_FALSE(IsValidReceivedCloseCode(code));
  }
}

TEST_CASE("Server frames, masked by a client, parse back", "[websocket][ws_frame][ws_frame_reader]") {
  for (std::size_t size : {0, 1, 3, 4, 5, 125, 126, 127, 65535, 65536, 70001}) {
    for (Opcode op : {Opcode::kText, Opcode::kBinary}) {
      const std::string payload = AsciiPayload(size, static_cast<char>(size));
      std::uint8_t h[kMaxServerHeaderBytes];
      const std::size_t n = EncodeFrameHeader(op, size, h);
      const std::string server = std::string(reinterpret_cast<const char*>(h), n) + payload;
      const std::string client = MaskServerFrame(server);
      INFO("size " << size << " opcode " << int(Op(op)));
      CHECK(FeedWhole(client) == std::vector<Ev>{Message(payload, op == Opcode::kText)});
      CHECK(FeedCut(client, {client.size() / 3, client.size() / 2}) ==
            std::vector<Ev>{Message(payload, op == Opcode::kText)});
    }
  }
  CHECK(FeedWhole(MaskServerFrame(EncodeCloseFrame(1000, "bye"))) ==
        std::vector<Ev>{CloseEv(1000, "bye")});
  CHECK(FeedWhole(MaskServerFrame(EncodeCloseFrame(1005, "x"))) ==
        std::vector<Ev>{CloseEv(1005)});
  std::string euros;
  while (euros.size() < 200) euros += "\xE2\x82\xAC";
  const std::string close = EncodeCloseFrame(4000, euros);
  const auto events = FeedWhole(MaskServerFrame(close));
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == Kind::kClose);
  CHECK(events[0].code == 4000);
  CHECK(events[0].payload == close.substr(4));
  CHECK(FeedWhole(MaskServerFrame(EncodeControlFrame(Opcode::kPing, "hi"))) ==
        std::vector<Ev>{PingEv("hi")});
  CHECK(FeedWhole(MaskServerFrame(EncodeControlFrame(Opcode::kPong, AsciiPayload(300)))) ==
        std::vector<Ev>{PongEv(AsciiPayload(125))});
}

}  // namespace
}  // namespace courier::websocket::internal
