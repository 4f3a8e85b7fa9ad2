// utf8.cc: courier::IsValidUtf8 (courier/types.h) and the core's text checks
// (utf8.h).
#include "utf8.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "courier/types.h"

namespace courier {

bool IsValidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const unsigned char* const end = p + text.size();
  while (p < end) {
    // ASCII fast path: eight bytes at a time while none has its top bit.
    while (end - p >= 8) {
      std::uint64_t chunk;
      std::memcpy(&chunk, p, sizeof chunk);
      if ((chunk & 0x8080808080808080ULL) != 0) break;
      p += 8;
    }
    if (p == end) break;
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    // The lead byte fixes the length and the range of the second byte
    // (which is what excludes overlongs, surrogates and > U+10FFFF).
    std::size_t length = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c == 0xE0) {
      length = 3;
      low = 0xA0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      length = 3;
    } else if (c == 0xED) {
      length = 3;
      high = 0x9F;  // U+D800..U+DFFF are surrogates
    } else if (c == 0xF0) {
      length = 4;
      low = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
      length = 4;
    } else if (c == 0xF4) {
      length = 4;
      high = 0x8F;
    } else {
      return false;  // a continuation byte, C0, C1 or F5..FF
    }
    if (static_cast<std::size_t>(end - p) < length) return false;
    if (p[1] < low || p[1] > high) return false;
    for (std::size_t i = 2; i < length; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
    }
    p += length;
  }
  return true;
}

namespace internal {

bool IsDisplayText(std::string_view text) {
  if (!IsValidUtf8(text)) return false;
  // In well-formed UTF-8 the C0 controls and DEL are single bytes, and the
  // C1 controls (U+0080..U+009F) are C2 80..C2 9F: C2 is only ever a lead.
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) return false;
    if (c == 0xC2 && static_cast<unsigned char>(text[i + 1]) <= 0x9F) return false;
  }
  return true;
}

}  // namespace internal
}  // namespace courier
