// Tests of ws_frame_reader.h: FrameReader, the incremental parser of client
// frames, driven as a connection drives it (framing_test_support.h's
// Driver), with each rule's close code.
#include "ws_frame_reader.h"

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "framing_test_support.h"

namespace courier::websocket::internal {
namespace {

using namespace framing_test;  // NOLINT(google-build-using-namespace)

TEST_CASE("FrameReader: RFC 6455 5.7 examples", "[websocket][ws_frame_reader]") {
  SECTION("a single-frame masked text message") {
    const std::string hello =
        Bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
    CHECK(hello == Text("Hello"));
    CHECK(FeedWhole(hello) == std::vector<Ev>{Message("Hello")});
    CheckSplitInvariance(hello, kBig, true);
  }
  SECTION("a single-frame unmasked text message is refused (client frames are masked)") {
    CHECK(FeedWhole(Bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f})) ==
          std::vector<Ev>{ErrorEv(1002)});
  }
  SECTION("the unmasked fragmented example is refused") {
    const std::string stream = Bytes({0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f});
    CHECK(FeedWhole(stream) == std::vector<Ev>{ErrorEv(1002)});
  }
  SECTION("the same fragmented message, masked, assembles") {
    const std::string stream =
        Frame(Op(Opcode::kText), "Hel") + Frame(kFin | Op(Opcode::kContinuation), "lo");
    CHECK(FeedWhole(stream) == std::vector<Ev>{Message("Hello")});
    CheckSplitInvariance(stream, kBig, true);
    // Different mask keys per frame.
    const std::string stream2 = Frame(Op(Opcode::kText), "Hel", true, {1, 2, 3, 4}) +
                                Frame(kFin | Op(Opcode::kContinuation), "lo", true, {9, 8, 7, 6});
    CHECK(FeedWhole(stream2) == std::vector<Ev>{Message("Hello")});
  }
  SECTION("unmasked ping, masked pong") {
    CHECK(FeedWhole(Bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f})) ==
          std::vector<Ev>{ErrorEv(1002)});
    const std::string pong =
        Bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
    CHECK(FeedWhole(pong) == std::vector<Ev>{PongEv("Hello")});
    CHECK(FeedWhole(Ping("Hello")) == std::vector<Ev>{PingEv("Hello")});
  }
  SECTION("a ping between the fragments of a message is reported between") {
    const std::string stream = Frame(Op(Opcode::kText), "Hel") + Ping("are you there") +
                               Frame(kFin | Op(Opcode::kContinuation), "lo");
    CHECK(FeedWhole(stream) == std::vector<Ev>{PingEv("are you there"), Message("Hello")});
    CheckSplitInvariance(stream, kBig, true);
  }
  SECTION("256 bytes: a 16-bit length") {
    std::string payload(256, '\0');
    for (int i = 0; i < 256; ++i) payload[i] = static_cast<char>(i);
    const std::string frame = Binary(payload);
    REQUIRE(Hex(frame.substr(0, 4)) == Hex(Bytes({0x82, 0xFE, 0x01, 0x00})));
    CHECK(FeedWhole(frame) == std::vector<Ev>{Message(payload, false)});
    CheckSplitInvariance(frame, kBig, true);
  }
  SECTION("65536 bytes: a 64-bit length") {
    std::string payload(65536, '\0');
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7 + 3);
    const std::string frame = Binary(payload);
    REQUIRE(Hex(frame.substr(0, 10)) == Hex(Bytes({0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0})));
    CHECK(FeedWhole(frame) == std::vector<Ev>{Message(payload, false)});
    CheckSplitInvariance(frame, kBig, false);
  }
}

// ===========================================================================
// FrameReader: chunking does not change the events

TEST_CASE("FrameReader: the same events however the bytes are split", "[websocket][ws_frame_reader]") {
  std::string stream;
  std::vector<Ev> want;
  auto add = [&](const std::string& bytes, std::vector<Ev> events) {
    stream += bytes;
    want.insert(want.end(), events.begin(), events.end());
  };
  add(Text("Hello"), {Message("Hello")});
  add(Binary(""), {Message("", false)});
  add(Text(""), {Message("")});
  add(Ping(""), {PingEv("")});
  add(Ping(AsciiPayload(125)), {PingEv(AsciiPayload(125))});
  add(Frame(Op(Opcode::kText), "caf\xC3") + Pong("p") +
          Frame(Op(Opcode::kContinuation), "\xA9 \xF0\x9F") + Ping("q") +
          Frame(Op(Opcode::kContinuation), "") +
          Frame(kFin | Op(Opcode::kContinuation), "\x98\x80!"),
      {PongEv("p"), PingEv("q"), Message("caf\xC3\xA9 \xF0\x9F\x98\x80!")});
  add(Binary(AsciiPayload(300)), {Message(AsciiPayload(300), false)});
  add(Frame(Op(Opcode::kBinary), std::string("\x00\xFF", 2), true, {0, 0, 0, 0}) +
          Frame(kFin | Op(Opcode::kContinuation), "\x80"),
      {Message(std::string("\x00\xFF\x80", 3), false)});
  // A data frame's length in a longer form than needed is still its length.
  add(Frame(kFin | Op(Opcode::kText), "long form", true, kRfcMask, LenForm::k64),
      {Message("long form")});
  add(Frame(kFin | Op(Opcode::kBinary), "16", true, kRfcMask, LenForm::k16),
      {Message("16", false)});
  add(Close(1000, "done"), {CloseEv(1000, "done")});

  CHECK(FeedWhole(stream) == want);
  CheckSplitInvariance(stream, kBig, true);

  SECTION("also when the stream ends with errors") {
    // 1009, then the skipped rest, then a close.
    const std::string s2 = Text("a") + Header(kFin | Op(Opcode::kBinary), 500) +
                           std::string(500, 'z') + Ping("after") + Close(1001, "");
    const std::vector<Ev> want2 = {Message("a"), ErrorEv(1009), PingEv("after"), CloseEv(1001)};
    CHECK(FeedWhole(s2, 100) == want2);
    CheckSplitInvariance(s2, 100, true);
    // 1007 on a fragmented text message, then a close.
    const std::string s3 = Frame(Op(Opcode::kText), "ok\xE2\x82") +
                           Frame(kFin | Op(Opcode::kContinuation), "x") + Close(1000, "");
    CHECK(FeedWhole(s3) == std::vector<Ev>{ErrorEv(1007), CloseEv(1000)});
    CheckSplitInvariance(s3, kBig, true);
    // 1002: the end of the stream.
    const std::string s4 = Ping("x") + Frame(kFin | Op(Opcode::kText), "unmasked", false) +
                           Text("never");
    CHECK(FeedWhole(s4) == std::vector<Ev>{PingEv("x"), ErrorEv(1002)});
    CheckSplitInvariance(s4, kBig, true);
  }
}

// A control frame whose (small) length is written in the 16- or 64-bit form.
// The header lists no rule against it ("at most 125 bytes" holds) and sizes a
// whole control frame at "at most 139 bytes", i.e. 2 + 8 (64-bit length) + 4
// (mask) + 125, so it expects these to be read. (RFC 6455 5.2 asks senders
// for the minimal form but gives the receiver no rule; if the reader is meant
// to refuse them, the header should say so and this test should change.)
TEST_CASE("FrameReader: a control frame's length in a longer form", "[websocket][ws_frame_reader]") {
  CHECK(FeedWhole(Frame(kFin | Op(Opcode::kPing), "16", true, kRfcMask, LenForm::k16)) ==
        std::vector<Ev>{PingEv("16")});
  const std::string p = AsciiPayload(kMaxControlPayload);
  CHECK(FeedWhole(Frame(kFin | Op(Opcode::kPong), p, true, kRfcMask, LenForm::k64)) ==
        std::vector<Ev>{PongEv(p)});
  CHECK(FeedWhole(Frame(kFin | Op(Opcode::kClose), ClosePayload(1000, "x"), true, kRfcMask,
                        LenForm::k64)) == std::vector<Ev>{CloseEv(1000, "x")});
  // Still at most 125 bytes.
  CHECK(FeedWhole(Frame(kFin | Op(Opcode::kPing), AsciiPayload(126), true, kRfcMask,
                        LenForm::k64)) == std::vector<Ev>{ErrorEv(1002)});
}

// ===========================================================================
// FrameReader: the rules, each with its close code

TEST_CASE("FrameReader: protocol errors are 1002", "[websocket][ws_frame_reader]") {
  auto error_of = [](const std::string& stream) {
    INFO("stream " << Hex(stream.substr(0, 32)));
    const auto events = FeedWhole(stream);
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == Kind::kError);
    return events[0].code;
  };
  SECTION("an unmasked frame") {
    for (Opcode op : {Opcode::kText, Opcode::kBinary, Opcode::kClose, Opcode::kPing, Opcode::kPong}) {
      CHECK(error_of(Frame(kFin | Op(op), "", false)) == 1002);
      CHECK(error_of(Frame(kFin | Op(op), "ab", false)) == 1002);
    }
  }
  SECTION("RSV bits") {
    for (std::uint8_t rsv : {0x40, 0x20, 0x10, 0x70}) {
      CHECK(error_of(Frame(kFin | rsv | Op(Opcode::kText), "x")) == 1002);
      CHECK(error_of(Frame(kFin | rsv | Op(Opcode::kPing), "x")) == 1002);
    }
  }
  SECTION("reserved opcodes") {
    for (std::uint8_t op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
      INFO("opcode " << int(op));
      CHECK(error_of(Frame(kFin | op, "x")) == 1002);
      CHECK(error_of(Frame(op, "")) == 1002);
    }
  }
  SECTION("a control frame over 125 bytes") {
    for (Opcode op : {Opcode::kPing, Opcode::kPong, Opcode::kClose}) {
      CHECK(error_of(Frame(kFin | Op(op), AsciiPayload(126))) == 1002);
      CHECK(error_of(Frame(kFin | Op(op), AsciiPayload(1000))) == 1002);
      // Refused from its header alone.
      CHECK(error_of(Header(kFin | Op(op), 126)) == 1002);
      CHECK(error_of(Header(kFin | Op(op), std::uint64_t{1} << 40)) == 1002);
    }
  }
  SECTION("a fragmented control frame") {
    for (Opcode op : {Opcode::kPing, Opcode::kPong, Opcode::kClose}) {
      CHECK(error_of(Frame(Op(op), "")) == 1002);
    }
  }
  SECTION("a continuation without a message") {
    CHECK(error_of(Frame(kFin | Op(Opcode::kContinuation), "x")) == 1002);
    CHECK(error_of(Frame(Op(Opcode::kContinuation), "x")) == 1002);
    // After a complete message, too.
    const auto events = FeedWhole(Text("a") + Frame(kFin | Op(Opcode::kContinuation), "b"));
    CHECK(events == std::vector<Ev>{Message("a"), ErrorEv(1002)});
  }
  SECTION("a text or binary frame while a message is unfinished") {
    for (Opcode first : {Opcode::kText, Opcode::kBinary}) {
      for (Opcode second : {Opcode::kText, Opcode::kBinary}) {
        for (std::uint8_t fin : {std::uint8_t{0}, kFin}) {
          CHECK(error_of(Frame(Op(first), "a") + Frame(fin | Op(second), "b")) == 1002);
        }
      }
    }
    // With a control frame in between.
    const auto events = FeedWhole(Frame(Op(Opcode::kText), "a") + Ping("p") + Text("b"));
    CHECK(events == std::vector<Ev>{PingEv("p"), ErrorEv(1002)});
  }
  SECTION("a 64-bit length with its top bit set") {
    CHECK(error_of(Header(kFin | Op(Opcode::kBinary), std::uint64_t{1} << 63)) == 1002);
    CHECK(error_of(Header(kFin | Op(Opcode::kText), ~std::uint64_t{0})) == 1002);
    // Even in discard mode, where data lengths do not matter otherwise.
    Driver d;
    d.reader.Discard();
    CHECK(d.Feed(Header(kFin | Op(Opcode::kBinary), std::uint64_t{1} << 63)) ==
          std::vector<Ev>{ErrorEv(1002)});
  }
  SECTION("a close payload of one byte") {
    CHECK(error_of(Frame(kFin | Op(Opcode::kClose), "\x03")) == 1002);
  }
  SECTION("a close code that may not be received") {
    for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}) {
      INFO("code " << code);
      CHECK(error_of(Close(code, "")) == 1002);
      CHECK(error_of(Close(code, "why")) == 1002);
    }
  }
}

TEST_CASE("FrameReader: valid close frames", "[websocket][ws_frame_reader]") {
  for (std::uint16_t code : {1000, 1001, 1003, 1007, 1011, 3000, 4999}) {
    INFO("code " << code);
    CHECK(FeedWhole(Close(code, "")) == std::vector<Ev>{CloseEv(code)});
    CHECK(FeedWhole(Close(code, "bye \xE2\x82\xAC")) ==
          std::vector<Ev>{CloseEv(code, "bye \xE2\x82\xAC")});
  }
  // An empty close payload: no status, 1005.
  CHECK(FeedWhole(Frame(kFin | Op(Opcode::kClose), "")) == std::vector<Ev>{CloseEv(1005)});
  // The longest reason.
  const std::string reason = AsciiPayload(kMaxCloseReason);
  CHECK(FeedWhole(Close(1000, reason)) == std::vector<Ev>{CloseEv(1000, reason)});
  // A close between the fragments of a message.
  CHECK(FeedWhole(Frame(Op(Opcode::kText), "half") + Close(1001, "going")) ==
        std::vector<Ev>{CloseEv(1001, "going")});
}

TEST_CASE("FrameReader: UTF-8 errors are 1007", "[websocket][ws_frame_reader]") {
  SECTION("a close reason that is not UTF-8") {
    CHECK(FeedWhole(Close(1000, "\xFF")) == std::vector<Ev>{ErrorEv(1007)});
    CHECK(FeedWhole(Close(1000, "ab\xC3")) == std::vector<Ev>{ErrorEv(1007)});
    CHECK(FeedWhole(Close(1000, "\xED\xA0\x80")) == std::vector<Ev>{ErrorEv(1007)});
  }
  SECTION("a single-frame text message") {
    for (std::string_view bad : {"\xFF", "\xC0\x80", "ab\xE2\x82", "\xED\xBF\xBF",
                                 "\xF4\x90\x80\x80", "valid then \x80"}) {
      INFO("payload " << Hex(bad));
      CHECK(FeedWhole(Text(bad)) == std::vector<Ev>{ErrorEv(1007)});
    }
  }
  SECTION("the same bytes in a binary message are fine") {
    CHECK(FeedWhole(Binary("\xFF\xC0\x80")) == std::vector<Ev>{Message("\xFF\xC0\x80", false)});
  }
  SECTION("a valid character split across fragments is accepted") {
    const std::vector<std::vector<std::string>> pieces = {
        {"ab\xE2\x82", "\xAC"},
        {"ab\xE2", "\x82\xAC" "cd"},
        {"\xF0", "\x9F", "\x98", "\x80"},
        {"x\xC3", "", "\xA9"},
        {"\xF4\x8F\xBF", "\xBF"},
    };
    for (const auto& p : pieces) {
      const auto [stream, whole] = FragmentedText(p);
      INFO("message " << Hex(whole));
      CHECK(FeedWhole(stream) == std::vector<Ev>{Message(whole)});
    }
  }
  SECTION("invalid UTF-8 split across fragments is refused") {
    const std::vector<std::vector<std::string>> pieces = {
        {"ab\xE2\x82", "x"},           // a character cut short by ASCII
        {"\xED", "\xA0\x80"},          // a surrogate
        {"\xE0", "\x80\x80"},          // an overlong form
        {"\xF4", "\x90\x80\x80"},      // above U+10FFFF
        {"a", "\xE2\x82"},             // truncated at the end of the message
        {"\xC3\xA9", "\xA9"},          // a continuation too many
        {"fine", "fine", "\xFF"},
    };
    for (const auto& p : pieces) {
      const auto [stream, whole] = FragmentedText(p);
      INFO("message " << Hex(whole));
      CHECK(FeedWhole(stream) == std::vector<Ev>{ErrorEv(1007)});
    }
  }
  SECTION("after 1007 the reader discards data and still reports control frames") {
    Driver d;
    CHECK(d.Feed(Text("\xFF")) == std::vector<Ev>{ErrorEv(1007)});
    CHECK(d.reader.discarding());
    CHECK(d.Feed(Text("dropped") + Ping("p") + Close(1000, "x")) ==
          std::vector<Ev>{PingEv("p"), CloseEv(1000, "x")});
  }
}

TEST_CASE("FrameReader: messages over max_message_bytes are 1009", "[websocket][ws_frame_reader]") {
  constexpr std::size_t kMax = 100;
  SECTION("exactly the limit is accepted, in one frame or several") {
    const std::string p = AsciiPayload(kMax);
    CHECK(FeedWhole(Text(p), kMax) == std::vector<Ev>{Message(p)});
    CHECK(FeedWhole(Binary(p), kMax) == std::vector<Ev>{Message(p, false)});
    const std::string frags = Frame(Op(Opcode::kText), p.substr(0, 60)) +
                              Frame(Op(Opcode::kContinuation), p.substr(60, 30)) +
                              Frame(kFin | Op(Opcode::kContinuation), p.substr(90));
    CHECK(FeedWhole(frags, kMax) == std::vector<Ev>{Message(p)});
    CheckSplitInvariance(frags, kMax, true);
  }
  SECTION("one frame announcing more is refused from its header alone") {
    for (std::uint64_t len : {std::uint64_t{kMax + 1}, std::uint64_t{1000}, std::uint64_t{65536},
                              std::uint64_t{1} << 32, std::uint64_t{1} << 62,
                              (std::uint64_t{1} << 63) - 1}) {
      for (Opcode op : {Opcode::kText, Opcode::kBinary}) {
        INFO("length " << len);
        Driver d(kMax);
        // Only the header and three bytes of payload.
        CHECK(d.Feed(Header(kFin | Op(op), len) + "abc") == std::vector<Ev>{ErrorEv(1009)});
        CHECK(d.buf.empty());
        CHECK(d.reader.discarding());
        CHECK(d.reader.buffer_capacity() < 4096);
        // A frame that is not final is a message of at least its length.
        Driver d2(kMax);
        CHECK(d2.Feed(Header(Op(op), len)) == std::vector<Ev>{ErrorEv(1009)});
      }
    }
  }
  SECTION("fragments adding up past the limit") {
    Driver d(kMax);
    CHECK(d.Feed(Frame(Op(Opcode::kText), AsciiPayload(60))).empty());
    CHECK(d.Feed(Frame(Op(Opcode::kContinuation), AsciiPayload(40))).empty());
    // One byte more than the limit, refused from the header.
    CHECK(d.Feed(Header(kFin | Op(Opcode::kContinuation), 1)) == std::vector<Ev>{ErrorEv(1009)});
    CHECK(d.reader.discarding());
    // The rest of the frame and of the message are skipped; a close is read.
    CHECK(d.Feed(MaskBytes("z", kRfcMask)).empty());
    CHECK(d.Feed(Close(1009, "too big")) == std::vector<Ev>{CloseEv(1009, "too big")});
  }
  SECTION("fragments past the limit, the message not finished yet") {
    Driver d(kMax);
    CHECK(d.Feed(Frame(Op(Opcode::kBinary), AsciiPayload(80))).empty());
    CHECK(d.Feed(Header(Op(Opcode::kContinuation), 30)) == std::vector<Ev>{ErrorEv(1009)});
    CHECK(d.Feed(MaskBytes(AsciiPayload(30), kRfcMask)).empty());
    CHECK(d.Feed(Frame(Op(Opcode::kContinuation), AsciiPayload(500))).empty());
    CHECK(d.Feed(Frame(kFin | Op(Opcode::kContinuation), "end")).empty());
    CHECK(d.Feed(Ping("still here")) == std::vector<Ev>{PingEv("still here")});
  }
  SECTION("control frames are not messages: a 125-byte ping under a 16-byte limit") {
    const std::string p = AsciiPayload(125);
    CHECK(FeedWhole(Ping(p), 16) == std::vector<Ev>{PingEv(p)});
    CHECK(FeedWhole(Close(1000, AsciiPayload(100)), 16) ==
          std::vector<Ev>{CloseEv(1000, AsciiPayload(100))});
  }
}

TEST_CASE("FrameReader: after 1009 the oversized frame is skipped as it arrives", "[websocket][ws_frame_reader]") {
  constexpr std::size_t kMax = 1000;
  constexpr std::size_t kLen = 200000;
  Driver d(kMax);
  CHECK(d.Feed(Text("before")) == std::vector<Ev>{Message("before")});
  CHECK(d.Feed(Header(kFin | Op(Opcode::kBinary), kLen)) == std::vector<Ev>{ErrorEv(1009)});
  CHECK(d.reader.discarding());
  const std::string payload = MaskBytes(std::string(kLen, '\x55'), kRfcMask);
  std::size_t at = 0;
  std::size_t step = 1;
  while (at < kLen) {
    const std::size_t n = std::min(step, kLen - at);
    REQUIRE(d.Feed(std::string_view(payload).substr(at, n)).empty());
    REQUIRE(d.buf.empty());  // payload bytes are consumed, not kept
    at += n;
    step = step * 3 + 1;
  }
  CHECK(d.reader.buffer_capacity() < 4096);
  // The close frame after it, in two pieces.
  const std::string close = Close(1000, "bye");
  CHECK(d.Feed(close.substr(0, 5)).empty());
  CHECK(d.Feed(close.substr(5)) == std::vector<Ev>{CloseEv(1000, "bye")});
}

TEST_CASE("FrameReader: after 1002 every call answers the same error", "[websocket][ws_frame_reader]") {
  FrameReader r(kBig);
  std::string buf = Frame(kFin | Op(Opcode::kText), "x", false) + Text("valid");
  char* p = buf.data();
  std::size_t n = buf.size();
  FrameReader::Event e = r.Next(&p, &n);
  REQUIRE(e.kind == Kind::kError);
  CHECK(e.close_code == 1002);
  const std::string reason(e.reason);
  CHECK_FALSE(reason.empty());
  for (const std::string& more : {Text("valid"), Ping("p"), Close(1000, ""), std::string()}) {
    std::string b = more;
    char* q = b.data();
    std::size_t m = b.size();
    e = r.Next(&q, &m);
    CHECK(e.kind == Kind::kError);
    CHECK(e.close_code == 1002);
    CHECK(e.reason == reason);
    CHECK(m == 0);  // everything consumed
    CHECK(q == b.data() + b.size());
  }
  // Also what the first call left.
  e = r.Next(&p, &n);
  CHECK(e.kind == Kind::kError);
  CHECK(e.close_code == 1002);
  CHECK(n == 0);
}

// ===========================================================================
// FrameReader: Discard()

TEST_CASE("FrameReader: Discard drops data frames and reports control frames", "[websocket][ws_frame_reader]") {
  SECTION("whole data frames") {
    Driver d(100);
    CHECK_FALSE(d.reader.discarding());
    d.reader.Discard();
    CHECK(d.reader.discarding());
    CHECK(d.Feed(Text("a") + Binary("b") + Ping("p") + Text("\xFF") + Pong("q") + Text("c") +
                 Close(1000, "bye")) ==
          std::vector<Ev>{PingEv("p"), PongEv("q"), CloseEv(1000, "bye")});
    CHECK(d.reader.discarding());
  }
  SECTION("a frame bigger than max_message_bytes, fed in chunks") {
    Driver d(100);
    d.reader.Discard();
    const std::string stream =
        Binary(AsciiPayload(300000)) + Ping("p1") + Close(1001, "");
    std::vector<Ev> events;
    for (std::size_t at = 0; at < stream.size(); at += 4093) {
      auto more = d.Feed(std::string_view(stream).substr(at, 4093));
      events.insert(events.end(), more.begin(), more.end());
    }
    CHECK(events == std::vector<Ev>{PingEv("p1"), CloseEv(1001)});
    CHECK(d.reader.buffer_capacity() < 4096);
    CHECK(FeedWhole(stream, 100) == std::vector<Ev>{ErrorEv(1009), PingEv("p1"), CloseEv(1001)});
  }
  SECTION("a huge announced length is skipped as it arrives") {
    Driver d(100);
    d.reader.Discard();
    CHECK(d.Feed(Header(kFin | Op(Opcode::kBinary), std::uint64_t{1} << 62)).empty());
    for (int i = 0; i < 50; ++i) {
      REQUIRE(d.Feed(std::string(4000, 'x')).empty());
      REQUIRE(d.buf.empty());
    }
    CHECK(d.reader.buffer_capacity() < 4096);
  }
  SECTION("a fragmented message, with a ping in between") {
    Driver d;
    d.reader.Discard();
    CHECK(d.Feed(Frame(Op(Opcode::kText), "Hel") + Ping("p") +
                 Frame(Op(Opcode::kContinuation), "l") +
                 Frame(kFin | Op(Opcode::kContinuation), "o") + Pong("q")) ==
          std::vector<Ev>{PingEv("p"), PongEv("q")});
  }
  SECTION("a message being assembled is dropped") {
    Driver d;
    CHECK(d.Feed(Frame(Op(Opcode::kText), "Hel")).empty());
    d.reader.Discard();
    CHECK(d.Feed(Frame(kFin | Op(Opcode::kContinuation), "lo") + Pong("x") + Close(1000, "")) ==
          std::vector<Ev>{PongEv("x"), CloseEv(1000)});
  }
  SECTION("Discard() right after a message leaves its payload readable") {
    // "A payload view is valid until the next call to Next()": a connection
    // may read a message, decide to close (Discard()), then use the payload.
    for (bool fragmented : {false, true}) {
      INFO((fragmented ? "fragmented" : "in pieces"));
      FrameReader r(kBig);
      const std::string want = AsciiPayload(2000) + AsciiPayload(2000, 'q');
      std::string buf = fragmented ? Frame(Op(Opcode::kBinary), want.substr(0, 2000)) +
                                         Frame(kFin | Op(Opcode::kContinuation), want.substr(2000))
                                   : Binary(want);
      char* p = buf.data();
      std::size_t n = fragmented ? buf.size() : 1000;
      FrameReader::Event e = r.Next(&p, &n);
      if (!fragmented) {
        REQUIRE(e.kind == Kind::kNeedMore);
        n = buf.size() - static_cast<std::size_t>(p - buf.data());
        e = r.Next(&p, &n);
      }
      REQUIRE(e.kind == Kind::kMessage);
      r.Discard();
      REQUIRE(e.payload.size() == want.size());
      const std::string got(e.payload);
      CHECK(Hex(got.substr(0, 40)) == Hex(want.substr(0, 40)));
      CHECK((got == want));
    }
  }
  SECTION("a frame half read when Discard is called") {
    Driver d;
    const std::string frame = Text("0123456789");
    CHECK(d.Feed(frame.substr(0, 10)).empty());
    d.reader.Discard();
    CHECK(d.Feed(frame.substr(10) + Ping("after")) == std::vector<Ev>{PingEv("after")});
  }
}

// ===========================================================================
// FrameReader: message kinds and payloads

TEST_CASE("FrameReader: message kinds and payloads", "[websocket][ws_frame_reader]") {
  const std::string all_bytes = [] {
    std::string s;
    for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
    return s;
  }();
  CHECK(FeedWhole(Binary(all_bytes)) == std::vector<Ev>{Message(all_bytes, false)});
  CHECK(FeedWhole(Binary("")) == std::vector<Ev>{Message("", false)});
  CHECK(FeedWhole(Text("")) == std::vector<Ev>{Message("", true)});
  CHECK(FeedWhole(Frame(Op(Opcode::kText), "") + Frame(kFin | Op(Opcode::kContinuation), "")) ==
        std::vector<Ev>{Message("", true)});
  CHECK(FeedWhole(Frame(Op(Opcode::kBinary), "") + Frame(Op(Opcode::kContinuation), "") +
                  Frame(kFin | Op(Opcode::kContinuation), "")) ==
        std::vector<Ev>{Message("", false)});
  CHECK(FeedWhole(Ping(all_bytes.substr(100, 125))) ==
        std::vector<Ev>{PingEv(all_bytes.substr(100, 125))});
  CHECK(FeedWhole(Pong(all_bytes.substr(0, 7))) == std::vector<Ev>{PongEv(all_bytes.substr(0, 7))});
  CHECK(FeedWhole(Ping("")) == std::vector<Ev>{PingEv("")});
  // Mask phases: every mask key byte order lines up for payload lengths
  // that are not multiples of four, in frames of a fragmented message.
  std::string stream;
  std::string whole;
  for (int i = 0; i < 9; ++i) {
    const std::string piece = all_bytes.substr(i * 10, i);
    stream += Frame((i == 8 ? kFin : 0) | (i == 0 ? Op(Opcode::kBinary) : Op(Opcode::kContinuation)),
                    piece, true, {std::uint8_t(i), std::uint8_t(i * 3), 0xFF, 0x81});
    whole += piece;
  }
  CHECK(FeedWhole(stream) == std::vector<Ev>{Message(whole, false)});
  CheckSplitInvariance(stream, kBig, true);
  // Nothing complete: kNeedMore, partial header left.
  Driver d;
  CHECK(d.Feed(Text("abc").substr(0, 1)).empty());
  CHECK(d.buf.size() == 1);
  // A partial control frame is left whole until it is complete.
  Driver d2;
  const std::string ping = Ping("pingpayload");
  CHECK(d2.Feed(ping.substr(0, ping.size() - 1)).empty());
  CHECK(d2.buf.size() == ping.size() - 1);
  CHECK(d2.Feed(ping.substr(ping.size() - 1)) == std::vector<Ev>{PingEv("pingpayload")});
}

// ===========================================================================
// FrameReader: memory

TEST_CASE("FrameReader: its own buffer is given back", "[websocket][ws_frame_reader]") {
  const std::size_t empty_capacity = std::string().capacity();
  SECTION("after a small fragmented message") {
    FrameReader r(kBig);
    CHECK(r.buffer_capacity() <= empty_capacity);
    std::string buf = Frame(Op(Opcode::kText), AsciiPayload(1000)) +
                      Frame(kFin | Op(Opcode::kContinuation), AsciiPayload(1000, 'k'));
    char* p = buf.data();
    std::size_t n = buf.size();
    FrameReader::Event e = r.Next(&p, &n);
    REQUIRE(e.kind == Kind::kMessage);
    CHECK(e.payload == AsciiPayload(1000) + AsciiPayload(1000, 'k'));
    // The payload may live in the reader's buffer until the next call; after
    // it, the buffer (under kKeepBufferOver) is given back.
    e = r.Next(&p, &n);
    CHECK(e.kind == Kind::kNeedMore);
    CHECK(r.buffer_capacity() <= empty_capacity);
  }
  SECTION("after an unfragmented message that came in pieces") {
    Driver d;
    const std::string frame = Text(AsciiPayload(3000));
    CHECK(d.Feed(frame.substr(0, 1000)).empty());
    CHECK(d.Feed(frame.substr(1000)) == std::vector<Ev>{Message(AsciiPayload(3000))});
    // Feed() ended with a call that answered kNeedMore.
    CHECK(d.reader.buffer_capacity() <= empty_capacity);
  }
  SECTION("a big message's buffer stays bounded") {
    Driver d;
    const std::size_t size = 100000;
    std::string stream;
    for (std::size_t at = 0; at < size; at += 10000) {
      stream += Frame((at + 10000 >= size ? kFin : 0) |
                          (at == 0 ? Op(Opcode::kBinary) : Op(Opcode::kContinuation)),
                      AsciiPayload(10000, static_cast<char>(at)));
    }
    const auto events = d.Feed(stream);
    REQUIRE(events.size() == 1);
    CHECK(events[0].payload.size() == size);
    CHECK(d.reader.buffer_capacity() <= 4 * size);
    // A later small fragmented message does not make it grow.
    CHECK(d.Feed(Frame(Op(Opcode::kText), "a") + Frame(kFin | Op(Opcode::kContinuation), "b")) ==
          std::vector<Ev>{Message("ab")});
    CHECK(d.reader.buffer_capacity() <= 4 * size);
  }
  SECTION("nothing is allocated for an announced length") {
    Driver d(std::size_t{64} << 20);
    const std::string header = Header(kFin | Op(Opcode::kBinary), std::size_t{32} << 20);
    CHECK(d.Feed(header + "0123456789").empty());
    CHECK(d.reader.buffer_capacity() < 65536);
  }
  SECTION("a message being assembled when Discard is called") {
    Driver d;
    CHECK(d.Feed(Frame(Op(Opcode::kText), AsciiPayload(2000))).empty());
    CHECK(d.reader.buffer_capacity() >= 2000);  // it holds the first fragment
    d.reader.Discard();
    CHECK(d.Feed(Frame(kFin | Op(Opcode::kContinuation), "x") + Ping("p")) ==
          std::vector<Ev>{PingEv("p")});
    CHECK(d.reader.buffer_capacity() <= 4096 * 2);
  }
}

}  // namespace
}  // namespace courier::websocket::internal
