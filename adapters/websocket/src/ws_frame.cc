// ws_frame.cc: see ws_frame.h.
#include "ws_frame.h"

#include <algorithm>

#include "close_codes.h"

namespace courier::websocket::internal {

std::size_t EncodeFrameHeader(Opcode opcode, std::uint64_t payload_size, std::uint8_t* out) {
  out[0] = static_cast<std::uint8_t>(0x80 | static_cast<std::uint8_t>(opcode));
  if (payload_size <= 125) {
    out[1] = static_cast<std::uint8_t>(payload_size);
    return 2;
  }
  if (payload_size <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<std::uint8_t>(payload_size >> 8);
    out[3] = static_cast<std::uint8_t>(payload_size);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) {
    out[2 + i] = static_cast<std::uint8_t>(payload_size >> (8 * (7 - i)));
  }
  return 10;
}

std::string_view CutAtCharacter(std::string_view reason, std::size_t max) {
  if (reason.size() <= max) return reason;
  std::size_t cut = max;
  // Back up over continuation bytes so that no character is split.
  while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
  return reason.substr(0, cut);
}

namespace {

std::string Frame(Opcode opcode, std::string_view a, std::string_view b) {
  std::uint8_t header[kMaxServerHeaderBytes];
  const std::size_t n = EncodeFrameHeader(opcode, a.size() + b.size(), header);
  std::string out;
  out.reserve(n + a.size() + b.size());
  out.append(reinterpret_cast<const char*>(header), n);
  out.append(a);
  out.append(b);
  return out;
}

}  // namespace

void AppendTextFrame(std::string_view payload, std::string& out) {
  std::uint8_t header[kMaxServerHeaderBytes];
  const std::size_t n = EncodeFrameHeader(Opcode::kText, payload.size(), header);
  out.append(reinterpret_cast<const char*>(header), n);
  out.append(payload);
}

std::string EncodeCloseFrame(std::uint16_t code, std::string_view reason) {
  if (code == kNoStatus) return Frame(Opcode::kClose, {}, {});
  const char code_bytes[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  return Frame(Opcode::kClose, std::string_view(code_bytes, 2),
               CutAtCharacter(reason, kMaxCloseReason));
}

std::string EncodeControlFrame(Opcode opcode, std::string_view payload) {
  return Frame(opcode, payload.substr(0, std::min(payload.size(), kMaxControlPayload)), {});
}

bool IsValidReceivedCloseCode(std::uint16_t code) {
  // 1004-1006 and 1015 are reserved (never in a close frame), 1012-1014
  // and 1016-2999 unassigned here.
  if (code >= kNormalClosure && code <= kUnsupportedData) return true;
  if (code >= kBadData && code <= kInternalError) return true;
  return code >= kFirstRegisteredCode && code <= kLastPrivateCode;
}

}  // namespace courier::websocket::internal
