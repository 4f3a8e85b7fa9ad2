// ws_frame.cc: RFC 6455 framing, client side.
#include "ws_frame.h"

#include <cstring>
#include <random>

namespace courier::load {

void AppendClientFrame(std::string& out, WsOp op, std::string_view payload, std::uint32_t mask) {
  const std::uint64_t n = payload.size();
  unsigned char head[14];
  std::size_t h = 0;
  head[h++] = static_cast<unsigned char>(0x80 | static_cast<unsigned>(op));
  if (n < 126) {
    head[h++] = static_cast<unsigned char>(0x80 | n);
  } else if (n <= 0xFFFF) {
    head[h++] = 0x80 | 126;
    head[h++] = static_cast<unsigned char>(n >> 8);
    head[h++] = static_cast<unsigned char>(n);
  } else {
    head[h++] = 0x80 | 127;
    for (int shift = 56; shift >= 0; shift -= 8) {
      head[h++] = static_cast<unsigned char>(n >> shift);
    }
  }
  const unsigned char key[4] = {static_cast<unsigned char>(mask >> 24),
                                static_cast<unsigned char>(mask >> 16),
                                static_cast<unsigned char>(mask >> 8),
                                static_cast<unsigned char>(mask)};
  std::memcpy(head + h, key, 4);
  h += 4;
  const std::size_t start = out.size();
  out.resize(start + h + payload.size());
  char* dst = out.data() + start;
  std::memcpy(dst, head, h);
  dst += h;
  // Eight bytes at a time: the key repeated twice, in memory order.
  unsigned char key8[8];
  std::memcpy(key8, key, 4);
  std::memcpy(key8 + 4, key, 4);
  std::uint64_t k;
  std::memcpy(&k, key8, 8);
  std::size_t i = 0;
  for (; i + 8 <= payload.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, payload.data() + i, 8);
    w ^= k;
    std::memcpy(dst + i, &w, 8);
  }
  for (; i < payload.size(); ++i) {
    dst[i] = static_cast<char>(static_cast<unsigned char>(payload[i]) ^ key[i % 4]);
  }
}

WsHeaderResult ParseServerFrameHeader(std::string_view bytes, WsFrameHeader& out,
                                      const char** why) {
  auto invalid = [why](const char* rule) {
    if (why != nullptr) *why = rule;
    return WsHeaderResult::kInvalid;
  };
  if (bytes.size() < 2) return WsHeaderResult::kNeedMore;
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  if ((b[0] & 0x70) != 0) return invalid("RSV bits set (no extension was negotiated)");
  const unsigned opcode = b[0] & 0x0F;
  switch (opcode) {
    case 0x0: case 0x1: case 0x2: case 0x8: case 0x9: case 0xA:
      break;
    default:
      return invalid("unknown opcode");
  }
  if ((b[1] & 0x80) != 0) return invalid("masked frame from the server");
  const bool fin = (b[0] & 0x80) != 0;
  const bool control = (opcode & 0x8) != 0;
  std::uint64_t len = b[1] & 0x7F;
  std::size_t h = 2;
  if (len == 126) {
    if (bytes.size() < 4) return WsHeaderResult::kNeedMore;
    len = (std::uint64_t{b[2]} << 8) | b[3];
    h = 4;
  } else if (len == 127) {
    if (bytes.size() < 10) return WsHeaderResult::kNeedMore;
    len = 0;
    for (int i = 2; i < 10; ++i) len = (len << 8) | b[i];
    if ((len >> 63) != 0) return invalid("payload length over 63 bits");
    h = 10;
  }
  if (control && (!fin || len > 125)) {
    return invalid("control frame fragmented or over 125 bytes");
  }
  out.fin = fin;
  out.op = static_cast<WsOp>(opcode);
  out.payload_len = len;
  out.header_len = h;
  return WsHeaderResult::kOk;
}

std::uint32_t NextMask() {
  thread_local std::uint64_t state = [] {
    std::random_device rd;
    const std::uint64_t s = (std::uint64_t{rd()} << 32) | rd();
    return s != 0 ? s : 0x9E3779B97F4A7C15ull;
  }();
  // xorshift64*
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return static_cast<std::uint32_t>((state * 0x2545F4914F6CDD1Dull) >> 32);
}

}  // namespace courier::load
