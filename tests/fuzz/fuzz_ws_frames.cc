// fuzz_ws_frames: websocket::internal::FrameReader (RFC 6455 client frames)
// on any bytes, read the way a connection reads them.
//
// Input: three control bytes, then the byte stream.
//   [0] how the stream is cut: chunks of 1..2^(b & 7) bytes from a PRNG
//       seeded with the byte (0: one byte at a time);
//   [1] max_message_bytes = 64 << (b % 7), 64..4096;
//   [2] bit 7 set: Discard() once (b & 0x7F) events have been reported
//       (0: before the first byte), as soon as the last of them is returned,
//       before its payload is read (a view stays valid until the next Next()).
// The stream is fed in those chunks, each time in front of what the reader
// left unconsumed, calling Next() until kNeedMore; and fed whole. Both must
// give the same events (kinds, text flag, payload bytes, codes), and every
// event must keep the header's promises: messages within max_message_bytes,
// text messages and close reasons UTF-8, control payloads within 125 bytes,
// close codes that may be received (or 1005 with nothing), errors 1002, 1007
// or 1009, no message once discarding (Discard() or after 1007/1009), a
// 1002 answered again by every later call, at most a partial control frame
// left unconsumed at kNeedMore, and the reader's own buffer bounded.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "courier/types.h"
#include "fuzz_check.h"
#include "ws_frame.h"
#include "ws_frame_reader.h"

namespace {

using courier::IsValidUtf8;
using courier::websocket::internal::FrameReader;
using courier::websocket::internal::IsValidReceivedCloseCode;
using courier::websocket::internal::kMaxCloseReason;
using courier::websocket::internal::kMaxControlPayload;
using Kind = FrameReader::Kind;

// A whole control frame with the longest header (64-bit length and mask).
constexpr std::size_t kMaxControlFrameBytes = 2 + 8 + 4 + kMaxControlPayload;

struct Ev {
  Kind kind;
  bool text;
  std::string payload;
  std::uint16_t code;

  bool operator==(const Ev& o) const {
    return kind == o.kind && text == o.text && payload == o.payload && code == o.code;
  }
};

struct Config {
  std::size_t max_message_bytes;
  bool discard;
  std::size_t discard_after;  // events reported before Discard()
};

// Feeds `stream` in pieces of `chunks` bytes (the rest in one piece; none:
// whole) and checks each event; returns them, payloads copied.
std::vector<Ev> Run(std::string_view stream, const std::vector<std::size_t>& chunks,
                    const Config& config) {
  FrameReader reader(config.max_message_bytes);
  std::vector<Ev> events;
  std::string buf;
  bool discarding = false;  // Discard() called, or a 1007/1009 reported
  if (config.discard && config.discard_after == 0) {
    reader.Discard();
    discarding = true;
  }
  std::size_t at = 0;
  std::size_t chunk = 0;
  while (true) {
    std::size_t n = stream.size() - at;
    if (chunk < chunks.size() && chunks[chunk] < n) n = chunks[chunk];
    ++chunk;
    buf.append(stream.substr(at, n));
    at += n;
    for (;;) {
      char* p = buf.data();
      std::size_t left = buf.size();
      const FrameReader::Event e = reader.Next(&p, &left);
      FUZZ_CHECK(left <= buf.size() && p == buf.data() + (buf.size() - left),
                 "Next() moved data/size inconsistently");
      Ev ev{e.kind, false, "", 0};
      const bool was_discarding = discarding;
      // Discard() after this event: before its payload is read, which must
      // stay valid until the next Next().
      if (e.kind != Kind::kNeedMore && config.discard && !discarding &&
          events.size() + 1 == config.discard_after) {
        reader.Discard();
        discarding = true;
      }
      switch (e.kind) {
        case Kind::kNeedMore:
          FUZZ_CHECK(left <= kMaxControlFrameBytes, "kNeedMore left %zu bytes unconsumed", left);
          break;
        case Kind::kMessage:
          FUZZ_CHECK(!was_discarding, "a message while discarding");
          FUZZ_CHECK(e.payload.size() <= config.max_message_bytes,
                     "a message of %zu bytes over the %zu limit", e.payload.size(),
                     config.max_message_bytes);
          FUZZ_CHECK(!e.text || IsValidUtf8(e.payload), "a text message that is not UTF-8");
          ev.text = e.text;
          ev.payload = std::string(e.payload);
          break;
        case Kind::kPing:
        case Kind::kPong:
          FUZZ_CHECK(e.payload.size() <= kMaxControlPayload, "a control payload of %zu bytes",
                     e.payload.size());
          ev.payload = std::string(e.payload);
          break;
        case Kind::kClose:
          if (e.close_code == 1005) {
            FUZZ_CHECK(e.payload.empty(), "a reason without a close code");
          } else {
            FUZZ_CHECK(IsValidReceivedCloseCode(e.close_code), "close code %u accepted",
                       unsigned{e.close_code});
          }
          FUZZ_CHECK(e.payload.size() <= kMaxCloseReason, "a close reason of %zu bytes",
                     e.payload.size());
          FUZZ_CHECK(IsValidUtf8(e.payload), "a close reason that is not UTF-8");
          ev.payload = std::string(e.payload);
          ev.code = e.close_code;
          break;
        case Kind::kError:
          FUZZ_CHECK(e.close_code == 1002 || e.close_code == 1007 || e.close_code == 1009,
                     "error close code %u", unsigned{e.close_code});
          FUZZ_CHECK(!e.reason.empty(), "an error without a reason");
          ev.code = e.close_code;
          break;
      }
      buf.erase(0, buf.size() - left);
      // The reader's own buffer holds at most one message (within the limit).
      FUZZ_CHECK(reader.buffer_capacity() <= 2 * config.max_message_bytes + 64,
                 "the reader holds %zu bytes with a %zu-byte limit", reader.buffer_capacity(),
                 config.max_message_bytes);
      if (e.kind == Kind::kNeedMore) break;
      events.push_back(ev);

      if (e.kind == Kind::kError && e.close_code == 1002) {
        // The stream cannot be parsed any more: every later call consumes
        // everything and answers the same error.
        const std::string_view reason = e.reason;
        std::string rest = buf + std::string(stream.substr(at));
        for (int round = 0; round < 3; ++round) {
          char* q = rest.data();
          std::size_t m = rest.size();
          const FrameReader::Event again = reader.Next(&q, &m);
          FUZZ_CHECK(again.kind == Kind::kError && again.close_code == 1002,
                     "after 1002: event %d code %u", static_cast<int>(again.kind),
                     unsigned{again.close_code});
          FUZZ_CHECK(again.reason == reason, "after 1002: another reason");
          FUZZ_CHECK(m == 0, "after 1002: %zu bytes not consumed", m);
          rest.clear();
        }
        return events;
      }
      if (e.kind == Kind::kError) {
        FUZZ_CHECK(reader.discarding(), "not discarding after error %u", unsigned{e.close_code});
        discarding = true;
      }
      if (discarding) FUZZ_CHECK(reader.discarding(), "Discard() did not stick");
    }
    if (at == stream.size()) break;
  }
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::uint8_t split = data[0];
  Config config;
  config.max_message_bytes = std::size_t{64} << (data[1] % 7);
  config.discard = (data[2] & 0x80) != 0;
  config.discard_after = data[2] & 0x7F;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 3, size - 3);

  std::vector<std::size_t> chunks;
  std::uint32_t state = 0x9E3779B9u ^ (std::uint32_t{split} * 0x01000193u);
  const std::uint32_t limit = split == 0 ? 1 : std::uint32_t{1} << (split & 7);
  for (std::size_t total = 0; total < stream.size();) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    const std::size_t n = 1 + state % limit;
    chunks.push_back(n);
    total += n;
  }

  const std::vector<Ev> whole = Run(stream, {}, config);
  const std::vector<Ev> cut = Run(stream, chunks, config);
  const std::size_t common = whole.size() < cut.size() ? whole.size() : cut.size();
  for (std::size_t i = 0; i < common; ++i) {
    FUZZ_CHECK(whole[i] == cut[i],
               "event %zu differs: whole kind %d code %u %zu bytes, in chunks kind %d code %u "
               "%zu bytes",
               i, static_cast<int>(whole[i].kind), unsigned{whole[i].code},
               whole[i].payload.size(), static_cast<int>(cut[i].kind), unsigned{cut[i].code},
               cut[i].payload.size());
  }
  FUZZ_CHECK(whole.size() == cut.size(), "%zu events whole, %zu in chunks", whole.size(),
             cut.size());
  return 0;
}
