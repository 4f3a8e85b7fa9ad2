// fuzz_load_frames: courier-load's client framing (bench/load/ws_frame.h) on
// any bytes.
//
// Input: the first four bytes (zero-padded) are a masking key; all of the
// input is both
//   - a stream of server frames: ParseServerFrameHeader is called frame after
//     frame, skipping each payload, until it needs more or refuses. Every
//     accepted header must keep the header's promises (2, 4 or 10 bytes and
//     within the input, the shortest length form's bounds, control frames
//     final and at most 125 bytes, a length under 2^63, a known opcode); a
//     refusal must say why;
//   - a payload: AppendClientFrame with that key, appended after a prefix,
//     must leave the prefix alone, be a final masked text frame, and unmask
//     back to the input;
//   - a server frame's JSON (bench/load/server_frame.h): the flat scanner of
//     ParseServerFrameInPlace must answer what RapidJSON's DOM answers
//     (ParseServerFrameWithDom), field for field.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>
#include <string_view>

#include "fuzz_check.h"
#include "server_frame.h"
#include "ws_frame.h"

namespace {

using courier::load::AppendClientFrame;
using courier::load::InFrame;
using courier::load::ParseServerFrameInPlace;
using courier::load::ParseServerFrameWithDom;
using courier::load::ParseServerFrameHeader;
using courier::load::WsFrameHeader;
using courier::load::WsHeaderResult;
using courier::load::WsOp;

void ParseStream(std::string_view bytes) {
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const std::string_view rest = bytes.substr(pos);
    WsFrameHeader h;
    const char* why = nullptr;
    const WsHeaderResult r = ParseServerFrameHeader(rest, h, &why);
    if (r == WsHeaderResult::kNeedMore) {
      FUZZ_CHECK(rest.size() < 10, "kNeedMore with %zu bytes there", rest.size());
      return;
    }
    if (r == WsHeaderResult::kInvalid) {
      FUZZ_CHECK(why != nullptr && std::strlen(why) > 0, "a refusal without a reason");
      return;
    }
    FUZZ_CHECK(h.header_len == 2 || h.header_len == 4 || h.header_len == 10, "header of %zu",
               h.header_len);
    FUZZ_CHECK(h.header_len <= rest.size(), "header past the input");
    const auto b1 = static_cast<unsigned char>(rest[1]);
    FUZZ_CHECK((b1 & 0x80) == 0, "a masked frame accepted");
    FUZZ_CHECK((static_cast<unsigned char>(rest[0]) & 0x70) == 0, "RSV bits accepted");
    if (h.header_len == 2) FUZZ_CHECK(h.payload_len < 126, "7-bit form too long");
    if (h.header_len == 4) FUZZ_CHECK(h.payload_len <= 0xFFFF, "16-bit form too long");
    FUZZ_CHECK((h.payload_len >> 63) == 0, "length over 63 bits");
    const auto op = static_cast<unsigned>(h.op);
    FUZZ_CHECK(op <= 2 || (op >= 8 && op <= 10), "opcode %u accepted", op);
    if (op >= 8) FUZZ_CHECK(h.fin && h.payload_len <= 125, "bad control frame accepted");
    const std::size_t left = rest.size() - h.header_len;
    if (h.payload_len > left) return;  // its payload has not "arrived"
    pos += h.header_len + static_cast<std::size_t>(h.payload_len);
  }
}

// The frame AppendClientFrame must write, byte for byte: FIN and text, the
// mask bit and the shortest length form, the key, the payload XOR the key.
void RoundTrip(std::string_view payload, std::uint32_t mask) {
  std::string out = "pre";
  AppendClientFrame(out, WsOp::text, payload, mask);
  FUZZ_CHECK(out.compare(0, 3, "pre") == 0, "the prefix changed");
  const std::uint64_t n = payload.size();
  std::string want = "\x81";
  const int len_bytes = n < 126 ? 0 : n <= 0xFFFF ? 2 : 8;
  want += static_cast<char>(0x80 | (len_bytes == 0 ? n : len_bytes == 2 ? 126 : 127));
  for (int i = len_bytes - 1; i >= 0; --i) want += static_cast<char>((n >> (8 * i)) & 0xFF);
  for (int i = 3; i >= 0; --i) want += static_cast<char>((mask >> (8 * i)) & 0xFF);
  const std::size_t key_at = want.size() - 4;
  for (std::size_t i = 0; i < payload.size(); ++i) {
    want += static_cast<char>(payload[i] ^ want[key_at + i % 4]);
  }
  FUZZ_CHECK(out.size() == 3 + want.size() && out.compare(3, want.size(), want) == 0,
             "the frame for %zu payload bytes differs", payload.size());
}

// The same bytes through both parses, each in its own copy ('\0' after the
// input as the parses require). The copies are padded to whole 16-byte
// blocks: with RAPIDJSON_SSE2 RapidJSON's reader loads aligned 16-byte
// blocks, which may pass the '\0' inside its block (harmless outside a
// sanitizer, an "overflow" under ASan). The scanner reads only [0, size).
void SameParse(std::string_view bytes) {
  const std::size_t padded = (bytes.size() + 1 + 15) / 16 * 16 + 16;
  std::vector<char> a(padded, '\0'), b(padded, '\0');
  if (!bytes.empty()) {
    std::memcpy(a.data(), bytes.data(), bytes.size());
    std::memcpy(b.data(), bytes.data(), bytes.size());
  }
  InFrame fa, fb;
  const bool ra = ParseServerFrameInPlace(a.data(), bytes.size(), fa);
  const bool rb = ParseServerFrameWithDom(b.data(), bytes.size(), fb);
  FUZZ_CHECK(ra == rb, "scanner %d, RapidJSON %d", ra ? 1 : 0, rb ? 1 : 0);
  if (!ra) return;
  FUZZ_CHECK(fa.op == fb.op && fa.seq == fb.seq && fa.cursor == fb.cursor &&
                 fa.head == fb.head && fa.dup == fb.dup,
             "the scanner's op or numbers differ from RapidJSON's");
  FUZZ_CHECK(fa.cid == fb.cid && fa.id == fb.id && fa.from == fb.from && fa.body == fb.body &&
                 fa.code == fb.code && fa.message == fb.message,
             "the scanner's strings differ from RapidJSON's");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  unsigned char k[4] = {0, 0, 0, 0};
  std::memcpy(k, data, size < 4 ? size : 4);
  const std::uint32_t mask = (std::uint32_t{k[0]} << 24) | (std::uint32_t{k[1]} << 16) |
                             (std::uint32_t{k[2]} << 8) | k[3];
  ParseStream(bytes);
  RoundTrip(bytes, mask);
  SameParse(bytes);
  return 0;
}
