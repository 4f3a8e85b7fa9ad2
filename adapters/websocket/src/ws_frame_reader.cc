// ws_frame_reader.cc: see ws_frame_reader.h.
#include "ws_frame_reader.h"

#include <algorithm>
#include <cstring>

#include "close_codes.h"
#include "courier/types.h"

namespace courier::websocket::internal {
namespace {

constexpr std::uint16_t kTooBig = Code(CloseCode::kTooBig);

bool IsControl(std::uint8_t opcode) { return (opcode & 0x8) != 0; }

bool IsKnownOpcode(std::uint8_t opcode) {
  switch (static_cast<Opcode>(opcode)) {
    case Opcode::kContinuation:
    case Opcode::kText:
    case Opcode::kBinary:
    case Opcode::kClose:
    case Opcode::kPing:
    case Opcode::kPong:
      return true;
  }
  return false;
}

void Consume(char** data, std::size_t* size, std::size_t n) {
  *data += n;
  *size -= n;
}

}  // namespace

FrameReader::FrameReader(std::size_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

std::size_t FrameReader::buffer_capacity() const {
  return message_.capacity();
}

FrameReader::Event FrameReader::Fail(std::uint16_t code, const char* reason) {
  Event e;
  e.kind = Kind::kError;
  e.close_code = code;
  e.reason = reason;
  if (code == kProtocolError) {
    state_ = State::kBroken;
    broken_code_ = code;
    broken_reason_ = reason;
  } else {
    Discard();
  }
  return e;
}

void FrameReader::Discard() {
  discard_ = true;
  in_message_ = false;
  if (state_ == State::kPayload) frame_skipped_ = true;
  // A message just handed out from message_ stays readable until the next
  // call, which gives the buffer back.
  if (!release_pending_) message_.Reset();
}

void FrameReader::ReleaseBuffer() {
  message_.clear();
  if (message_.capacity() <= kKeepBufferOver) message_.Reset();
}

void FrameReader::Unmask(char* p, std::size_t n) {
  // The key, turned so that its first byte applies to p[0].
  std::uint8_t key[8];
  for (int i = 0; i < 8; ++i) key[i] = mask_[(mask_phase_ + i) & 3];
  std::uint64_t wide;
  std::memcpy(&wide, key, sizeof wide);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t chunk;
    std::memcpy(&chunk, p + i, sizeof chunk);
    chunk ^= wide;
    std::memcpy(p + i, &chunk, sizeof chunk);
  }
  for (; i < n; ++i) p[i] = static_cast<char>(p[i] ^ key[i & 7]);
  mask_phase_ = static_cast<std::uint8_t>((mask_phase_ + n) & 3);
}

FrameReader::Event FrameReader::Next(char** data, std::size_t* size) {
  if (release_pending_) {
    release_pending_ = false;
    ReleaseBuffer();
  }
  for (;;) {
    switch (state_) {
      case State::kBroken:
        Consume(data, size, *size);
        return Fail(broken_code_, broken_reason_);
      case State::kHeader: {
        const std::size_t before = *size;
        Event e = ParseHeader(data, size);
        if (e.kind != Kind::kNeedMore) return e;
        if (*size == before) return e;  // not a whole header yet
        break;                          // a header was consumed: on to its payload
      }
      case State::kPayload: {
        Event e = ReadPayload(data, size);
        if (e.kind != Kind::kNeedMore || state_ == State::kPayload) return e;
        break;  // the frame is done (skipped, or one fragment of a message)
      }
    }
  }
}

FrameReader::Event FrameReader::ParseHeader(char** data, std::size_t* size) {
  if (*size < 2) return {};
  const auto* p = reinterpret_cast<const std::uint8_t*>(*data);
  const bool fin = (p[0] & 0x80) != 0;
  const std::uint8_t opcode = p[0] & 0x0F;
  const bool masked = (p[1] & 0x80) != 0;
  const std::uint8_t len7 = p[1] & 0x7F;
  // Every rule the first two bytes can break, before waiting for more.
  if ((p[0] & 0x70) != 0) return Fail(kProtocolError, "reserved bits set (no extension agreed)");
  if (!IsKnownOpcode(opcode)) return Fail(kProtocolError, "reserved opcode");
  if (!masked) return Fail(kProtocolError, "client frames must be masked");
  if (IsControl(opcode) && !fin) return Fail(kProtocolError, "fragmented control frame");
  const std::size_t length_bytes = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  const std::size_t header = 2 + length_bytes + 4;
  if (*size < header) return {};
  std::uint64_t length = len7;
  if (length_bytes > 0) {
    length = 0;
    for (std::size_t i = 0; i < length_bytes; ++i) length = (length << 8) | p[2 + i];
    if ((length >> 63) != 0) return Fail(kProtocolError, "frame length over 2^63");
  }
  std::memcpy(mask_, p + 2 + length_bytes, 4);
  mask_phase_ = 0;

  if (IsControl(opcode)) {
    // (Its length may come in a longer form than needed; the value counts.)
    if (length > kMaxControlPayload) return Fail(kProtocolError, "control frame over 125 bytes");
    // Consumed only once whole (at most 139 bytes).
    if (*size - header < length) return {};
    char* payload = *data + header;
    Unmask(payload, static_cast<std::size_t>(length));
    Consume(data, size, header + static_cast<std::size_t>(length));
    return ControlFrame(static_cast<Opcode>(opcode),
                        std::string_view(payload, static_cast<std::size_t>(length)));
  }

  frame_fin_ = fin;
  frame_left_ = length;
  frame_skipped_ = discard_;
  if (!discard_) {
    const bool continuation = opcode == static_cast<std::uint8_t>(Opcode::kContinuation);
    if (continuation && !in_message_) {
      return Fail(kProtocolError, "continuation frame without a message begun");
    }
    if (!continuation && in_message_) {
      return Fail(kProtocolError, "new message before the last one's final frame");
    }
    const std::size_t so_far = in_message_ ? message_.size() : 0;
    if (length > max_message_bytes_ - so_far) {
      // The framing is still in step: skip this frame's payload as it comes.
      Consume(data, size, header);
      state_ = State::kPayload;
      return Fail(kTooBig, "frame over the size limit");
    }
    if (!continuation) message_text_ = opcode == static_cast<std::uint8_t>(Opcode::kText);
    // The usual frame: a whole message that arrived whole. No copy.
    if (fin && !in_message_ && *size - header >= length) {
      char* payload = *data + header;
      Unmask(payload, static_cast<std::size_t>(length));
      Consume(data, size, header + static_cast<std::size_t>(length));
      return FinishMessage(std::string_view(payload, static_cast<std::size_t>(length)));
    }
    in_message_ = true;
  }
  Consume(data, size, header);
  state_ = State::kPayload;
  return {};
}

FrameReader::Event FrameReader::ReadPayload(char** data, std::size_t* size) {
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(*size, frame_left_));
  if (!frame_skipped_) {
    Unmask(*data, n);
    message_.append(*data, n);
  }
  Consume(data, size, n);
  frame_left_ -= n;
  if (frame_left_ > 0) return {};
  state_ = State::kHeader;
  if (frame_skipped_ || !frame_fin_) return {};
  release_pending_ = true;  // the view below points into message_
  return FinishMessage(message_.view());
}

FrameReader::Event FrameReader::FinishMessage(std::string_view payload) {
  in_message_ = false;
  if (message_text_ && !IsValidUtf8(payload)) {
    return Fail(kBadData, "text message is not UTF-8");
  }
  Event e;
  e.kind = Kind::kMessage;
  e.text = message_text_;
  e.payload = payload;
  return e;
}

FrameReader::Event FrameReader::ControlFrame(Opcode opcode, std::string_view payload) {
  Event e;
  e.payload = payload;
  if (opcode == Opcode::kPing || opcode == Opcode::kPong) {
    e.kind = opcode == Opcode::kPing ? Kind::kPing : Kind::kPong;
    return e;
  }
  e.kind = Kind::kClose;
  if (payload.empty()) {
    e.close_code = kNoStatus;
    return e;
  }
  if (payload.size() == 1) return Fail(kProtocolError, "close frame of one byte");
  const auto* p = reinterpret_cast<const std::uint8_t*>(payload.data());
  e.close_code = static_cast<std::uint16_t>((p[0] << 8) | p[1]);
  if (!IsValidReceivedCloseCode(e.close_code)) return Fail(kProtocolError, "invalid close code");
  e.payload = payload.substr(2);
  if (!IsValidUtf8(e.payload)) return Fail(kBadData, "close reason is not UTF-8");
  return e;
}

}  // namespace courier::websocket::internal
