// frame_codec_bench: Google Benchmark of the WebSocket adapter's per-frame
// work on the wire path of W1 and W2: the JSON frame codec
// (courier/websocket/frame_codec.h: decode of the client's send and ack,
// encode of the server's msg and sent) and the RFC 6455 framing
// (ws_frame_reader.h: unmask and parse a client frame in place; ws_frame.h:
// a server frame's header).
#include <cstdint>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "courier/websocket/frame_codec.h"
#include "ws_frame.h"
#include "ws_frame_reader.h"

namespace courier::websocket {
namespace {

const std::string kSend =
    R"({"op":"send","cid":"c12345","to":"bob","body":")" + std::string(100, 'x') + R"("})";
const std::string kAck = R"({"op":"ack","seq":123456})";

void BM_Decode_Send(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(DecodeClientFrame(kSend));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kSend.size()));
}

void BM_Decode_Ack(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(DecodeClientFrame(kAck));
}

void BM_Encode_Msg(benchmark::State& state) {
  Event e;
  e.seq = 123456;
  e.kind = EventKind::kMessage;
  e.id = "0123456789abcdef0123456789abcdef";
  e.peer = "alice";
  e.body = std::string(100, 'x');
  e.ts = 1764000000000;
  const ServerFrame frame = EventFrame{e};
  for (auto _ : state) benchmark::DoNotOptimize(EncodeServerFrame(frame));
}

void BM_Encode_Sent(benchmark::State& state) {
  const ServerFrame frame = SentFrame{"c12345", "0123456789abcdef0123456789abcdef", 1764000000000, false};
  for (auto _ : state) benchmark::DoNotOptimize(EncodeServerFrame(frame));
}

// A masked client text frame carrying `payload`.
std::string MaskedFrame(const std::string& payload) {
  std::string out;
  out.push_back(static_cast<char>(0x81));
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(0x80 | payload.size()));
  } else {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size() & 0xFF));
  }
  const char key[4] = {0x12, 0x34, 0x56, 0x78};
  out.append(key, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) out.push_back(payload[i] ^ key[i % 4]);
  return out;
}

// Reads the `frames` messages of `wire` as they arrive: from a fresh copy
// each time (as a read buffer would be), unmasked in place, parsed, UTF-8
// checked. Returns how many of them came out as whole messages.
int ReadMessages(internal::FrameReader& reader, const std::string& wire, int frames,
                 std::string& buf) {
  buf = wire;
  char* p = buf.data();
  std::size_t n = buf.size();
  int messages = 0;
  while (messages < frames && reader.Next(&p, &n).kind == internal::FrameReader::Kind::kMessage) {
    ++messages;
  }
  return messages;
}

// The reader's cost for `frames` masked client frames of `payload` read in
// one system call. No figure unless each of them reads as a message.
void FrameReaderBench(benchmark::State& state, const std::string& payload, int frames) {
  std::string wire;
  for (int i = 0; i < frames; ++i) wire += MaskedFrame(payload);
  internal::FrameReader reader(256 * 1024);
  std::string buf;
  if (ReadMessages(reader, wire, frames, buf) != frames) {
    state.SkipWithError("the frames do not read back as messages");
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(ReadMessages(reader, wire, frames, buf));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * frames));
}

// One send frame.
void BM_FrameReader_Send(benchmark::State& state) { FrameReaderBench(state, kSend, 1); }

// 64 acks, parsed one after another.
void BM_FrameReader_64Acks(benchmark::State& state) { FrameReaderBench(state, kAck, 64); }

void BM_ServerFrameHeader(benchmark::State& state) {
  std::uint8_t header[internal::kMaxServerHeaderBytes];
  std::uint64_t size = 180;
  for (auto _ : state) {
    benchmark::DoNotOptimize(internal::EncodeFrameHeader(internal::Opcode::kText, size, header));
    benchmark::ClobberMemory();
  }
}

BENCHMARK(BM_Decode_Send);
BENCHMARK(BM_Decode_Ack);
BENCHMARK(BM_Encode_Msg);
BENCHMARK(BM_Encode_Sent);
BENCHMARK(BM_FrameReader_Send);
BENCHMARK(BM_FrameReader_64Acks);
BENCHMARK(BM_ServerFrameHeader);

}  // namespace
}  // namespace courier::websocket

BENCHMARK_MAIN();
