// Tests of adapters/websocket/src's RFC 6455 framing layer, against the
// contracts in its headers: utf8.h (IsValidUtf8), ws_frame.h (what the
// server writes), ws_frame_reader.h (FrameReader, the incremental parser of
// client frames) and ws_handshake.h (the opening handshake).
//
// The reader is driven the way a connection drives it (Driver below): bytes
// are appended to a buffer, Next() is called until kNeedMore, and whatever
// it did not consume is given again in front of the next bytes. Payloads
// are copied out of each event before the next call.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/status/status.h"
#include "utf8.h"
#include "ws_frame.h"
#include "ws_frame_reader.h"
#include "ws_handshake.h"

namespace courier::websocket::internal {
namespace {

using Kind = FrameReader::Kind;

constexpr std::size_t kBig = std::size_t{1} << 20;  // default max_message_bytes
// A whole control frame with the longest header (64-bit length, mask).
constexpr std::size_t kMaxControlFrameBytes = 2 + 8 + 4 + kMaxControlPayload;

// ---------------------------------------------------------------------------
// Building client frames.

using Mask = std::array<std::uint8_t, 4>;
constexpr Mask kRfcMask = {0x37, 0xfa, 0x21, 0x3d};

constexpr std::uint8_t kFin = 0x80;

enum class LenForm { kMinimal, k16, k64 };

// A frame header: `b0` (FIN, RSV, opcode) then the length `len` (in the
// smallest form unless `form` says otherwise), then the mask key if `masked`.
std::string Header(std::uint8_t b0, std::uint64_t len, bool masked = true,
                   Mask mask = kRfcMask, LenForm form = LenForm::kMinimal) {
  std::string h;
  h.push_back(static_cast<char>(b0));
  const std::uint8_t mbit = masked ? 0x80 : 0x00;
  if (form == LenForm::kMinimal && len <= 125) {
    h.push_back(static_cast<char>(mbit | len));
  } else if (form != LenForm::k64 && len <= 0xFFFF) {
    h.push_back(static_cast<char>(mbit | 126));
    h.push_back(static_cast<char>(len >> 8));
    h.push_back(static_cast<char>(len & 0xFF));
  } else {
    h.push_back(static_cast<char>(mbit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) {
      h.push_back(static_cast<char>((len >> shift) & 0xFF));
    }
  }
  if (masked) {
    for (std::uint8_t m : mask) h.push_back(static_cast<char>(m));
  }
  return h;
}

std::string MaskBytes(std::string_view payload, Mask mask, std::size_t phase = 0) {
  std::string out(payload);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<char>(static_cast<std::uint8_t>(out[i]) ^ mask[(i + phase) % 4]);
  }
  return out;
}

// A whole client frame, masked unless `masked` is false.
std::string Frame(std::uint8_t b0, std::string_view payload, bool masked = true,
                  Mask mask = kRfcMask, LenForm form = LenForm::kMinimal) {
  std::string f = Header(b0, payload.size(), masked, mask, form);
  f += masked ? MaskBytes(payload, mask) : std::string(payload);
  return f;
}

std::uint8_t Op(Opcode op) { return static_cast<std::uint8_t>(op); }

std::string Text(std::string_view p) { return Frame(kFin | Op(Opcode::kText), p); }
std::string Binary(std::string_view p) { return Frame(kFin | Op(Opcode::kBinary), p); }
std::string Ping(std::string_view p) { return Frame(kFin | Op(Opcode::kPing), p); }
std::string Pong(std::string_view p) { return Frame(kFin | Op(Opcode::kPong), p); }
std::string ClosePayload(std::uint16_t code, std::string_view reason) {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xFF));
  p += reason;
  return p;
}
std::string Close(std::uint16_t code, std::string_view reason) {
  return Frame(kFin | Op(Opcode::kClose), ClosePayload(code, reason));
}

// A text message sent as one frame per piece: {the frames, the whole text}.
std::pair<std::string, std::string> FragmentedText(const std::vector<std::string>& pieces) {
  std::string stream;
  std::string whole;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const std::uint8_t op = i == 0 ? Op(Opcode::kText) : Op(Opcode::kContinuation);
    stream += Frame((i + 1 == pieces.size() ? kFin : 0) | op, pieces[i]);
    whole += pieces[i];
  }
  return {stream, whole};
}

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

std::string Hex(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (!out.empty()) out.push_back(' ');
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

// A payload of `n` bytes that is valid UTF-8 (ASCII).
std::string AsciiPayload(std::size_t n, char seed = 'a') {
  std::string s(n, ' ');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (seed + i) % 26);
  return s;
}

// A server frame as a client would send it: mask bit set, mask key
// inserted after the length, payload masked.
std::string MaskServerFrame(std::string_view frame, Mask mask = {0xde, 0xad, 0xbe, 0xef}) {
  REQUIRE(frame.size() >= 2);
  const std::uint8_t len7 = static_cast<std::uint8_t>(frame[1]) & 0x7F;
  REQUIRE((static_cast<std::uint8_t>(frame[1]) & 0x80) == 0);
  const std::size_t header = len7 < 126 ? 2 : len7 == 126 ? 4 : 10;
  REQUIRE(frame.size() >= header);
  std::string out(frame.substr(0, header));
  out[1] = static_cast<char>(static_cast<std::uint8_t>(out[1]) | 0x80);
  for (std::uint8_t m : mask) out.push_back(static_cast<char>(m));
  out += MaskBytes(frame.substr(header), mask);
  return out;
}

// ---------------------------------------------------------------------------
// Driving the reader.

struct Ev {
  Kind kind = Kind::kNeedMore;
  bool text = false;
  std::string payload;
  std::uint16_t code = 0;

  bool operator==(const Ev& o) const {
    return kind == o.kind && text == o.text && payload == o.payload && code == o.code;
  }
  bool operator!=(const Ev& o) const { return !(*this == o); }
};

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kNeedMore: return "NeedMore";
    case Kind::kMessage: return "Message";
    case Kind::kPing: return "Ping";
    case Kind::kPong: return "Pong";
    case Kind::kClose: return "Close";
    case Kind::kError: return "Error";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, const Ev& e) {
  os << "{" << KindName(e.kind);
  if (e.kind == Kind::kMessage) os << (e.text ? " text" : " binary");
  if (e.kind == Kind::kClose || e.kind == Kind::kError) os << " " << e.code;
  if (e.payload.size() <= 40) {
    os << " [" << Hex(e.payload) << "]";
  } else {
    os << " (" << e.payload.size() << " bytes)";
  }
  return os << "}";
}

Ev Message(std::string_view p, bool text = true) { return Ev{Kind::kMessage, text, std::string(p), 0}; }
Ev PingEv(std::string_view p) { return Ev{Kind::kPing, false, std::string(p), 0}; }
Ev PongEv(std::string_view p) { return Ev{Kind::kPong, false, std::string(p), 0}; }
Ev CloseEv(std::uint16_t code, std::string_view reason = "") {
  return Ev{Kind::kClose, false, std::string(reason), code};
}
Ev ErrorEv(std::uint16_t code) { return Ev{Kind::kError, false, "", code}; }

Ev Copy(const FrameReader::Event& e) {
  Ev out;
  out.kind = e.kind;
  switch (e.kind) {
    case Kind::kMessage:
      out.text = e.text;
      out.payload = std::string(e.payload);
      break;
    case Kind::kPing:
    case Kind::kPong:
      out.payload = std::string(e.payload);
      break;
    case Kind::kClose:
      out.payload = std::string(e.payload);
      out.code = e.close_code;
      break;
    case Kind::kError:
      out.code = e.close_code;
      break;
    case Kind::kNeedMore:
      break;
  }
  return out;
}

// A connection's reading loop around one FrameReader.
class Driver {
 public:
  explicit Driver(std::size_t max_message_bytes = kBig) : reader(max_message_bytes) {}

  // Appends `bytes` to the unread part and calls Next() until kNeedMore.
  // Stops early (and from then on ignores input) at a 1002 error, after
  // which the reader answers the same error forever.
  std::vector<Ev> Feed(std::string_view bytes) {
    std::vector<Ev> events;
    if (broken) return events;
    buf.append(bytes);
    for (int guard = 0;; ++guard) {
      if (guard > 10000000) FAIL("Next() never answers kNeedMore");
      char* p = buf.data();
      std::size_t n = buf.size();
      const FrameReader::Event e = reader.Next(&p, &n);
      // It consumes from the front: what is left is a suffix of the buffer.
      if (n > buf.size() || p != buf.data() + (buf.size() - n)) {
        FAIL("Next() did not advance data/size consistently");
      }
      Ev copy = Copy(e);
      buf.erase(0, buf.size() - n);
      if (e.kind == Kind::kNeedMore) {
        // Everything usable was consumed: at most a partial control frame
        // (or a partial header) is left.
        if (buf.size() > kMaxControlFrameBytes) {
          FAIL("kNeedMore with " << buf.size() << " unconsumed bytes");
        }
        break;
      }
      events.push_back(std::move(copy));
      if (e.kind == Kind::kError && e.close_code == 1002) {
        broken = true;
        break;
      }
    }
    return events;
  }

  FrameReader reader;
  std::string buf;
  bool broken = false;
};

std::vector<Ev> FeedWhole(std::string_view stream, std::size_t max = kBig) {
  Driver d(max);
  return d.Feed(stream);
}

// Feeds `stream` in pieces that end at `cuts` (increasing offsets).
std::vector<Ev> FeedCut(std::string_view stream, const std::vector<std::size_t>& cuts,
                        std::size_t max = kBig) {
  Driver d(max);
  std::vector<Ev> events;
  std::size_t at = 0;
  for (std::size_t cut : cuts) {
    auto more = d.Feed(stream.substr(at, cut - at));
    events.insert(events.end(), more.begin(), more.end());
    at = cut;
  }
  auto more = d.Feed(stream.substr(at));
  events.insert(events.end(), more.begin(), more.end());
  return events;
}

std::vector<Ev> FeedBytewise(std::string_view stream, std::size_t max = kBig) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < stream.size(); ++i) cuts.push_back(i);
  return FeedCut(stream, cuts, max);
}

// Splitting the stream anywhere (once, twice at random, byte by byte) gives
// the events of the whole stream.
void CheckSplitInvariance(std::string_view stream, std::size_t max, bool every_split) {
  const std::vector<Ev> whole = FeedWhole(stream, max);
  if (every_split) {
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
      INFO("split at " << cut);
      REQUIRE(FeedCut(stream, {cut}, max) == whole);
    }
  }
  std::mt19937 rng(1234);
  for (int round = 0; round < 40; ++round) {
    std::vector<std::size_t> cuts;
    std::size_t at = 0;
    const std::size_t max_chunk = std::size_t{1} << (round % 12);
    while (at < stream.size()) {
      at += 1 + rng() % max_chunk;
      if (at < stream.size()) cuts.push_back(at);
    }
    INFO("random chunks up to " << max_chunk << " bytes, round " << round);
    REQUIRE(FeedCut(stream, cuts, max) == whole);
  }
  INFO("byte by byte");
  REQUIRE(FeedBytewise(stream, max) == whole);
}

// ---------------------------------------------------------------------------
// A reference UTF-8 decoder, written from RFC 3629 section 4 by code point
// arithmetic rather than byte tables.

bool ReferenceUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const std::uint8_t b = static_cast<std::uint8_t>(s[i]);
    int extra;
    std::uint32_t cp;
    std::uint32_t min;
    if (b < 0x80) {
      ++i;
      continue;
    } else if ((b & 0xE0) == 0xC0) {
      extra = 1, cp = b & 0x1F, min = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
      extra = 2, cp = b & 0x0F, min = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
      extra = 3, cp = b & 0x07, min = 0x10000;
    } else {
      return false;  // a continuation byte, or 0xF8..0xFF
    }
    if (s.size() - i <= static_cast<std::size_t>(extra)) return false;
    for (int k = 1; k <= extra; ++k) {
      const std::uint8_t c = static_cast<std::uint8_t>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

// Encodes any value up to 0x1FFFFF the UTF-8 way (surrogates included).
std::string Encode(std::uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}

// ===========================================================================
// IsValidUtf8

TEST_CASE("IsValidUtf8: ASCII and well-formed characters", "[websocket][utf8]") {
  CHECK(IsValidUtf8(""));
  CHECK(IsValidUtf8("hello, world"));
  CHECK(IsValidUtf8(std::string_view("\0", 1)));
  CHECK(IsValidUtf8(std::string(1000, 'x')));
  CHECK(IsValidUtf8("\xC3\xA9"));                // é
  CHECK(IsValidUtf8("\xE2\x82\xAC"));            // €
  CHECK(IsValidUtf8("\xF0\x9F\x98\x80"));        // 😀
  CHECK(IsValidUtf8("a\xC3\xA9" "b\xE2\x82\xAC" "c\xF0\x9F\x98\x80" "d"));
}

TEST_CASE("IsValidUtf8: boundaries of each length", "[websocket][utf8]") {
  CHECK(IsValidUtf8("\x7F"));                    // U+007F
  CHECK(IsValidUtf8("\xC2\x80"));                // U+0080
  CHECK(IsValidUtf8("\xDF\xBF"));                // U+07FF
  CHECK(IsValidUtf8("\xE0\xA0\x80"));            // U+0800
  CHECK(IsValidUtf8("\xED\x9F\xBF"));            // U+D7FF
  CHECK(IsValidUtf8("\xEE\x80\x80"));            // U+E000
  CHECK(IsValidUtf8("\xEF\xBF\xBF"));            // U+FFFF
  CHECK(IsValidUtf8("\xF0\x90\x80\x80"));        // U+10000
  CHECK(IsValidUtf8("\xF4\x8F\xBF\xBF"));        // U+10FFFF
  for (std::uint32_t cp : {0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xFFFFu, 0x10000u, 0x10FFFFu}) {
    INFO("U+" << std::hex << cp);
    CHECK(IsValidUtf8(Encode(cp)));
  }
}

TEST_CASE("IsValidUtf8: ill-formed sequences", "[websocket][utf8]") {
  // Overlong forms.
  CHECK_FALSE(IsValidUtf8("\xC0\x80"));
  CHECK_FALSE(IsValidUtf8("\xC1\xBF"));
  CHECK_FALSE(IsValidUtf8("\xE0\x80\x80"));
  CHECK_FALSE(IsValidUtf8("\xE0\x9F\xBF"));
  CHECK_FALSE(IsValidUtf8("\xF0\x80\x80\x80"));
  CHECK_FALSE(IsValidUtf8("\xF0\x8F\xBF\xBF"));
  // Surrogates.
  CHECK_FALSE(IsValidUtf8("\xED\xA0\x80"));
  CHECK_FALSE(IsValidUtf8("\xED\xBF\xBF"));
  CHECK_FALSE(IsValidUtf8("\xED\xA0\x80\xED\xB0\x80"));  // a CESU-8 pair
  // Above U+10FFFF.
  CHECK_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));
  for (int lead = 0xF5; lead <= 0xFF; ++lead) {
    INFO("lead byte " << lead);
    CHECK_FALSE(IsValidUtf8(Bytes({lead, 0x80, 0x80, 0x80})));
    CHECK_FALSE(IsValidUtf8(Bytes({lead})));
  }
  // Truncated at the end.
  CHECK_FALSE(IsValidUtf8("\xC3"));
  CHECK_FALSE(IsValidUtf8("\xE2\x82"));
  CHECK_FALSE(IsValidUtf8("\xE2"));
  CHECK_FALSE(IsValidUtf8("\xF0\x9F\x98"));
  CHECK_FALSE(IsValidUtf8("abc\xF0\x9F"));
  CHECK_FALSE(IsValidUtf8("abcdefgh\xF0"));
  // Truncated in the middle (an ASCII byte where a continuation belongs).
  CHECK_FALSE(IsValidUtf8("\xC3" "a"));
  CHECK_FALSE(IsValidUtf8("\xE2\x82" "a"));
  CHECK_FALSE(IsValidUtf8("\xF0\x9F\x98" "a"));
  // Lone continuation bytes.
  CHECK_FALSE(IsValidUtf8("\x80"));
  CHECK_FALSE(IsValidUtf8("\xBF"));
  CHECK_FALSE(IsValidUtf8("a\x80" "b"));
  CHECK_FALSE(IsValidUtf8("\xC3\xA9\xA9"));
  CHECK_FALSE(IsValidUtf8("\xF0\x9F\x98\x80\x80"));
}

TEST_CASE("IsValidUtf8: one bad byte anywhere in an ASCII run", "[websocket][utf8]") {
  // Every position of runs that straddle the eight-byte fast path, from
  // every start offset of a larger buffer (alignment).
  std::string storage(64, 'x');
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t len = 1; len <= 48; ++len) {
      for (std::size_t pos = 0; pos < len && pos <= 40; ++pos) {
        for (const char bad : {'\x80', '\xFF', '\xC3', '\xF5'}) {
          std::string s = storage;
          s[offset + pos] = bad;
          INFO("offset " << offset << " length " << len << " bad byte at " << pos);
          REQUIRE_FALSE(IsValidUtf8(std::string_view(s).substr(offset, len)));
        }
      }
      REQUIRE(IsValidUtf8(std::string_view(storage).substr(offset, len)));
    }
  }
  // A valid multi-byte character at every position is fine; cut short at
  // the end of the view it is not.
  for (std::size_t pos = 0; pos <= 40; ++pos) {
    for (std::uint32_t cp : {0xE9u, 0x20ACu, 0x1F600u}) {
      const std::string c = Encode(cp);
      std::string s = std::string(pos, 'a') + c + std::string(16, 'b');
      INFO("U+" << std::hex << cp << " at " << std::dec << pos);
      REQUIRE(IsValidUtf8(s));
      REQUIRE_FALSE(IsValidUtf8(std::string_view(s).substr(0, pos + c.size() - 1)));
      // The 0x80 bit in a continuation, then ASCII, is found too.
      std::string broken = s;
      broken[pos + c.size() - 1] = 'z';
      REQUIRE_FALSE(IsValidUtf8(broken));
    }
  }
}

TEST_CASE("IsValidUtf8: every code point", "[websocket][utf8]") {
  for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    if (IsValidUtf8(Encode(cp)) == surrogate) {
      FAIL("U+" << std::hex << cp << (surrogate ? " (surrogate) accepted" : " refused"));
    }
  }
  for (std::uint32_t cp = 0x110000; cp < 0x140000; cp += 0x111) {
    if (IsValidUtf8(Encode(cp))) FAIL("U+" << std::hex << cp << " accepted");
  }
}

TEST_CASE("IsValidUtf8: agrees with a reference decoder", "[websocket][utf8]") {
  SECTION("every two-byte string and three-byte strings with a multi-byte lead") {
    for (int a = 0; a < 256; ++a) {
      for (int b = 0; b < 256; ++b) {
        const std::string s = Bytes({a, b});
        if (IsValidUtf8(s) != ReferenceUtf8(s)) FAIL("disagree on " << Hex(s));
      }
    }
    for (int a = 0xE0; a <= 0xF4; ++a) {
      for (int b = 0x70; b < 0xD0; ++b) {
        for (int c = 0; c < 256; ++c) {
          const std::string s = Bytes({a, b, c});
          if (IsValidUtf8(s) != ReferenceUtf8(s)) FAIL("disagree on " << Hex(s));
          const std::string t = Bytes({a, b, c, 0x80});
          if (IsValidUtf8(t) != ReferenceUtf8(t)) FAIL("disagree on " << Hex(t));
        }
      }
    }
  }
  SECTION("random strings biased towards 0x7F..0xF5") {
    std::mt19937 rng(20240611);
    int valid = 0;
    for (int i = 0; i < 20000; ++i) {
      const std::size_t len = rng() % 40;
      std::string s;
      for (std::size_t k = 0; k < len; ++k) {
        const unsigned r = rng() % 8;
        if (r < 4) {
          s.push_back(static_cast<char>(0x7F + rng() % (0xF6 - 0x7F)));
        } else if (r < 6) {
          s.push_back(static_cast<char>(0x80 + rng() % 0x40));
        } else if (r < 7) {
          s.push_back(static_cast<char>(rng() % 0x80));
        } else {
          s.push_back(static_cast<char>(rng() % 256));
        }
      }
      const bool want = ReferenceUtf8(s);
      valid += want;
      if (IsValidUtf8(s) != want) FAIL("disagree on " << Hex(s) << ": reference says " << want);
    }
    // The generator must produce both answers to be a useful comparison.
    CHECK(valid > 100);
  }
  SECTION("random well-formed text, then one byte changed") {
    std::mt19937 rng(7);
    for (int i = 0; i < 5000; ++i) {
      std::string s;
      const int chars = rng() % 24;
      for (int k = 0; k < chars; ++k) {
        std::uint32_t cp;
        switch (rng() % 4) {
          case 0: cp = rng() % 0x80; break;
          case 1: cp = 0x80 + rng() % (0x800 - 0x80); break;
          case 2: cp = 0x800 + rng() % (0x10000 - 0x800); break;
          default: cp = 0x10000 + rng() % (0x110000 - 0x10000); break;
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'S';
        s += Encode(cp);
      }
      REQUIRE(IsValidUtf8(s));
      if (s.empty()) continue;
      s[rng() % s.size()] = static_cast<char>(rng() % 256);
      const bool want = ReferenceUtf8(s);
      if (IsValidUtf8(s) != want) FAIL("disagree on " << Hex(s) << ": reference says " << want);
    }
  }
}

// ===========================================================================
// Server frames (ws_frame.h)

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
    const std::string c = Encode(cp);
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

// ===========================================================================
// FrameReader: RFC 6455 section 5.7's examples

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

// ===========================================================================
// Handshake (ws_handshake.h)

TEST_CASE("SecWebSocketAccept: the RFC 6455 example", "[websocket][ws_handshake]") {
  // RFC 6455 section 1.3.
  CHECK(SecWebSocketAccept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  // Worked out with another SHA-1 and base64 (Python's hashlib): keys of
  // bytes 1..16 and of sixteen zeros.
  CHECK(SecWebSocketAccept("AQIDBAUGBwgJCgsMDQ4PEA==") == "C/0nmHhBztSRGR1CwL6Tf4ZjwpY=");
  CHECK(SecWebSocketAccept("AAAAAAAAAAAAAAAAAAAAAA==") == "ICX+Yqv66kxgM0FcWaLWlFLwTAI=");
}

TEST_CASE("CheckUpgrade: version and key", "[websocket][ws_handshake]") {
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  SECTION("version 13 and a 16-byte key") {
    auto accept = CheckUpgrade("13", key);
    REQUIRE(accept.ok());
    CHECK(*accept == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    auto other = CheckUpgrade("13", "AAAAAAAAAAAAAAAAAAAAAA==");
    REQUIRE(other.ok());
    CHECK(*other == SecWebSocketAccept("AAAAAAAAAAAAAAAAAAAAAA=="));
  }
  SECTION("another version is FailedPrecondition") {
    for (std::string_view v : {"8", "", "12", "1", "130", "14", "7, 8"}) {
      INFO("version '" << v << "'");
      auto r = CheckUpgrade(v, key);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == absl::StatusCode::kFailedPrecondition);
    }
  }
  SECTION("a missing or malformed key is InvalidArgument") {
    const std::vector<std::string> bad = {
        "",                              // missing
        "!!!!!!!!!!!!!!!!!!!!!!==",      // not base64, right length
        "dGhlIHNhbXBsZSBub25j*Q==",      // one character not base64
        "AQIDBAUGBwgJCgsMDQ4P",          // base64 of 15 bytes
        "AQIDBAUGBwgJCgsMDQ4PEBE=",      // base64 of 17 bytes
        "AQIDBAUGBwgJCgsMDQ4PEBES",      // base64 of 18 bytes
        "AQID",                          // 3 bytes
        "dGhlIHNhbXBsZSBub25jZQ==dGhl",  // 16 bytes then more
    };
    for (const std::string& k : bad) {
      INFO("key '" << k << "'");
      auto r = CheckUpgrade("13", k);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST_CASE("SwitchingProtocolsResponse", "[websocket][ws_handshake]") {
  const std::string accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
  const std::string r = SwitchingProtocolsResponse(accept);
  CHECK(r.rfind("HTTP/1.1 101", 0) == 0);
  CHECK(r.find("\r\nUpgrade: websocket\r\n") != std::string::npos);
  CHECK(r.find("\r\nConnection: Upgrade\r\n") != std::string::npos);
  CHECK(r.find("\r\nSec-WebSocket-Accept: " + accept + "\r\n") != std::string::npos);
  REQUIRE(r.size() >= 4);
  CHECK(r.substr(r.size() - 4) == "\r\n\r\n");
  // One blank line only: the end of the head.
  CHECK(r.find("\r\n\r\n") == r.size() - 4);
  // No extension and no subprotocol is agreed.
  CHECK(r.find("Sec-WebSocket-Extensions") == std::string::npos);
  CHECK(r.find("Sec-WebSocket-Protocol") == std::string::npos);
}

}  // namespace
}  // namespace courier::websocket::internal
