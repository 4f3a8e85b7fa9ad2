// frame_codec_bench: Google Benchmark of the WebSocket adapter's JSON frame
// codec (courier/websocket/frame_codec.h), the per-frame cost on the wire
// path of W1 and W2: decode of the client's send and ack, encode of the
// server's msg and sent.
#include <string>

#include <benchmark/benchmark.h>

#include "courier/websocket/frame_codec.h"

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

BENCHMARK(BM_Decode_Send);
BENCHMARK(BM_Decode_Ack);
BENCHMARK(BM_Encode_Msg);
BENCHMARK(BM_Encode_Sent);

}  // namespace
}  // namespace courier::websocket

BENCHMARK_MAIN();
