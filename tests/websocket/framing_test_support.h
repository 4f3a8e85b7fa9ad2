// Test support for the RFC 6455 framing tests (utf8_test.cc, ws_frame_test.cc,
// ws_frame_reader_test.cc): building client frames byte by byte, and driving
// a FrameReader the way a connection drives it.
//
// The reader is driven by Driver below: bytes are appended to a buffer,
// Next() is called until kNeedMore, and whatever it did not consume is given
// again in front of the next bytes. Payloads are copied out of each event
// before the next call.
#ifndef COURIER_TESTS_WEBSOCKET_FRAMING_TEST_SUPPORT_H_
#define COURIER_TESTS_WEBSOCKET_FRAMING_TEST_SUPPORT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "ws_frame.h"
#include "ws_frame_reader.h"

namespace courier::websocket::internal::framing_test {

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
inline std::string Header(std::uint8_t b0, std::uint64_t len, bool masked = true,
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

inline std::string MaskBytes(std::string_view payload, Mask mask, std::size_t phase = 0) {
  std::string out(payload);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<char>(static_cast<std::uint8_t>(out[i]) ^ mask[(i + phase) % 4]);
  }
  return out;
}

// A whole client frame, masked unless `masked` is false.
inline std::string Frame(std::uint8_t b0, std::string_view payload, bool masked = true,
                         Mask mask = kRfcMask, LenForm form = LenForm::kMinimal) {
  std::string f = Header(b0, payload.size(), masked, mask, form);
  f += masked ? MaskBytes(payload, mask) : std::string(payload);
  return f;
}

inline std::uint8_t Op(Opcode op) { return static_cast<std::uint8_t>(op); }

inline std::string Text(std::string_view p) { return Frame(kFin | Op(Opcode::kText), p); }
inline std::string Binary(std::string_view p) { return Frame(kFin | Op(Opcode::kBinary), p); }
inline std::string Ping(std::string_view p) { return Frame(kFin | Op(Opcode::kPing), p); }
inline std::string Pong(std::string_view p) { return Frame(kFin | Op(Opcode::kPong), p); }
inline std::string ClosePayload(std::uint16_t code, std::string_view reason) {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xFF));
  p += reason;
  return p;
}
inline std::string Close(std::uint16_t code, std::string_view reason) {
  return Frame(kFin | Op(Opcode::kClose), ClosePayload(code, reason));
}

// A text message sent as one frame per piece: {the frames, the whole text}.
inline std::pair<std::string, std::string> FragmentedText(const std::vector<std::string>& pieces) {
  std::string stream;
  std::string whole;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const std::uint8_t op = i == 0 ? Op(Opcode::kText) : Op(Opcode::kContinuation);
    stream += Frame((i + 1 == pieces.size() ? kFin : 0) | op, pieces[i]);
    whole += pieces[i];
  }
  return {stream, whole};
}

inline std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

inline std::string Hex(std::string_view s) {
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
inline std::string AsciiPayload(std::size_t n, char seed = 'a') {
  std::string s(n, ' ');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (seed + i) % 26);
  return s;
}

// A server frame as a client would send it: mask bit set, mask key
// inserted after the length, payload masked.
inline std::string MaskServerFrame(std::string_view frame, Mask mask = {0xde, 0xad, 0xbe, 0xef}) {
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

inline const char* KindName(Kind k) {
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

inline std::ostream& operator<<(std::ostream& os, const Ev& e) {
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

inline Ev Message(std::string_view p, bool text = true) { return Ev{Kind::kMessage, text, std::string(p), 0}; }
inline Ev PingEv(std::string_view p) { return Ev{Kind::kPing, false, std::string(p), 0}; }
inline Ev PongEv(std::string_view p) { return Ev{Kind::kPong, false, std::string(p), 0}; }
inline Ev CloseEv(std::uint16_t code, std::string_view reason = "") {
  return Ev{Kind::kClose, false, std::string(reason), code};
}
inline Ev ErrorEv(std::uint16_t code) { return Ev{Kind::kError, false, "", code}; }

inline Ev Copy(const FrameReader::Event& e) {
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

inline std::vector<Ev> FeedWhole(std::string_view stream, std::size_t max = kBig) {
  Driver d(max);
  return d.Feed(stream);
}

// Feeds `stream` in pieces that end at `cuts` (increasing offsets).
inline std::vector<Ev> FeedCut(std::string_view stream, const std::vector<std::size_t>& cuts,
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

inline std::vector<Ev> FeedBytewise(std::string_view stream, std::size_t max = kBig) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < stream.size(); ++i) cuts.push_back(i);
  return FeedCut(stream, cuts, max);
}

// Splitting the stream anywhere (once, twice at random, byte by byte) gives
// the events of the whole stream.
inline void CheckSplitInvariance(std::string_view stream, std::size_t max, bool every_split) {
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
// UTF-8 text.

// Encodes any value up to 0x1FFFFF the UTF-8 way (surrogates included), so
// tests can build ill-formed text too.
inline std::string EncodeCodePoint(std::uint32_t cp) {
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

}  // namespace courier::websocket::internal::framing_test

#endif  // COURIER_TESTS_WEBSOCKET_FRAMING_TEST_SUPPORT_H_
