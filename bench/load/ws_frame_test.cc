// The client's WebSocket framing: what it sends is masked and decodes back
// to the payload; what it reads is checked against the server's rules; the
// send frame built in place is the one the protocol expects.
#include <catch2/catch.hpp>

#include <string>

#include "workload_common.h"
#include "ws_client.h"
#include "ws_frame.h"

namespace courier::load {
namespace {

// Unmasks a client frame the way a server does; returns the payload.
std::string Unmask(const std::string& frame, WsOp& op, bool& fin) {
  const auto* b = reinterpret_cast<const unsigned char*>(frame.data());
  fin = (b[0] & 0x80) != 0;
  op = static_cast<WsOp>(b[0] & 0x0F);
  REQUIRE((b[1] & 0x80) != 0);  // masked
  std::uint64_t len = b[1] & 0x7F;
  std::size_t h = 2;
  if (len == 126) {
    len = (std::uint64_t{b[2]} << 8) | b[3];
    h = 4;
  } else if (len == 127) {
    len = 0;
    for (int i = 2; i < 10; ++i) len = (len << 8) | b[i];
    h = 10;
  }
  const unsigned char* key = b + h;
  h += 4;
  REQUIRE(frame.size() == h + len);
  std::string out(len, '\0');
  for (std::size_t i = 0; i < len; ++i) out[i] = static_cast<char>(b[h + i] ^ key[i % 4]);
  return out;
}

TEST_CASE("AppendClientFrame: masked, every length form, appended", "[bench]") {
  for (std::size_t n : {0u, 1u, 7u, 8u, 9u, 125u, 126u, 127u, 65535u, 65536u, 70001u}) {
    std::string payload(n, 'a');
    for (std::size_t i = 0; i < n; ++i) payload[i] = static_cast<char>('a' + i % 26);
    std::string out = "prefix";
    AppendClientFrame(out, WsOp::text, payload, 0xA1B2C3D4u);
    REQUIRE(out.rfind("prefix", 0) == 0);
    WsOp op;
    bool fin = false;
    CHECK(Unmask(out.substr(6), op, fin) == payload);
    CHECK(op == WsOp::text);
    CHECK(fin);
  }
}

TEST_CASE("AppendClientFrame: the masking key really changes the bytes", "[bench]") {
  std::string a, b;
  AppendClientFrame(a, WsOp::text, "hello world", 0x01020304u);
  AppendClientFrame(b, WsOp::text, "hello world", 0x0A0B0C0Du);
  CHECK(a.substr(6) != b.substr(6));
  CHECK(a.find("hello") == std::string::npos);
}

std::string ServerFrame(unsigned char b0, std::uint64_t len, bool ext16 = false) {
  std::string f;
  f += static_cast<char>(b0);
  if (ext16) {
    f += static_cast<char>(126);
    f += static_cast<char>(len >> 8);
    f += static_cast<char>(len & 0xFF);
  } else {
    f += static_cast<char>(len);
  }
  return f + std::string(len, 'x');
}

TEST_CASE("ParseServerFrameHeader: lengths and fragments", "[bench]") {
  WsFrameHeader h;
  CHECK(ParseServerFrameHeader("", h, nullptr) == WsHeaderResult::kNeedMore);
  CHECK(ParseServerFrameHeader(std::string(1, '\x81'), h, nullptr) == WsHeaderResult::kNeedMore);
  REQUIRE(ParseServerFrameHeader(ServerFrame(0x81, 5), h, nullptr) == WsHeaderResult::kOk);
  CHECK(h.fin);
  CHECK(h.op == WsOp::text);
  CHECK(h.payload_len == 5);
  CHECK(h.header_len == 2);
  REQUIRE(ParseServerFrameHeader(ServerFrame(0x01, 300, true), h, nullptr) == WsHeaderResult::kOk);
  CHECK_FALSE(h.fin);
  CHECK(h.payload_len == 300);
  CHECK(h.header_len == 4);
  CHECK(ParseServerFrameHeader(std::string("\x81\x7e\x01", 3), h, nullptr) ==
        WsHeaderResult::kNeedMore);
  std::string big("\x82\x7f\x00\x00\x00\x01\x00\x00\x00\x00", 10);
  REQUIRE(ParseServerFrameHeader(big, h, nullptr) == WsHeaderResult::kOk);
  CHECK(h.payload_len == (std::uint64_t{1} << 32));
  CHECK(h.header_len == 10);
}

TEST_CASE("ParseServerFrameHeader: what a server may not send is refused", "[bench]") {
  WsFrameHeader h;
  const char* why = nullptr;
  CHECK(ParseServerFrameHeader(ServerFrame(0xC1, 1), h, &why) == WsHeaderResult::kInvalid);  // RSV1
  CHECK(why != nullptr);
  // opcode 3
  CHECK(ParseServerFrameHeader(ServerFrame(0x83, 1), h, &why) == WsHeaderResult::kInvalid);
  CHECK(ParseServerFrameHeader(std::string("\x81\x81\x00\x00\x00\x00x", 7), h, &why) ==
        WsHeaderResult::kInvalid);  // masked
  // ping without FIN
  CHECK(ParseServerFrameHeader(ServerFrame(0x09, 1), h, &why) == WsHeaderResult::kInvalid);
  CHECK(ParseServerFrameHeader(ServerFrame(0x89, 126, true), h, &why) ==
        WsHeaderResult::kInvalid);  // ping over 125 bytes
  CHECK(ParseServerFrameHeader(std::string("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10), h,
                               &why) == WsHeaderResult::kInvalid);  // 64th bit
}

TEST_CASE("NextMask: not constant", "[bench]") {
  const std::uint32_t a = NextMask(), b = NextMask(), c = NextMask();
  CHECK_FALSE((a == b && b == c));
}

TEST_CASE("AppendSendJson: the send frame, parsed back", "[bench]") {
  std::string out = "junk";
  out.clear();
  AppendSendJson(out, 17, "bob", 3, 42, 40);
  CHECK(out == R"({"op":"send","cid":"c17","to":"bob","body":")" + Body(3, 42, 40) + R"("})");
  CHECK(Body(3, 42, 40).size() == 40);
  std::size_t tag = 0, index = 0;
  REQUIRE(ParseBody(Body(3, 42, 40), tag, index));
  CHECK(tag == 3);
  CHECK(index == 42);
}

TEST_CASE("ParseServerFrameInPlace: views into the buffer, escapes undone", "[bench]") {
  std::string text = R"({"op":"msg","seq":9,"id":"m\"1","from":"a","body":"0:3:x"})";
  InFrame f;
  REQUIRE(ParseServerFrameInPlace(text.data(), text.size(), f));
  CHECK(f.op == InFrame::Op::kMsg);
  CHECK(f.seq == 9);
  CHECK(f.id == "m\"1");
  CHECK(f.body == "0:3:x");
  CHECK(f.body.data() >= text.data());
  CHECK(f.body.data() < text.data() + text.size());
  std::string repeated = R"({"op":"sent","cid":"c1","cid":"c2","dup":false})";
  REQUIRE(ParseServerFrameInPlace(repeated.data(), repeated.size(), f));
  CHECK(f.cid == "c1");  // the first of a repeated key
  CHECK_FALSE(f.dup);
  std::string trailing = R"({"op":"pong"} x)";
  CHECK_FALSE(ParseServerFrameInPlace(trailing.data(), trailing.size(), f));
  std::string array = R"(["op","msg"])";
  CHECK_FALSE(ParseServerFrameInPlace(array.data(), array.size(), f));
}

}  // namespace
}  // namespace courier::load
