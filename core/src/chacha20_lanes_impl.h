// chacha20_lanes_impl.h (internal): the W-lane ChaCha20 block function of
// chacha20_lanes.h, included by each translation unit that instantiates it
// for one instruction set (chacha20_lanes.cc: 4 lanes, the target's
// baseline; chacha20_lanes_avx2.cc: 8 lanes, compiled with -mavx2;
// chacha20_lanes_avx512.cc: 16, with -mavx512f -mavx512bw). Its
// names have internal linkage, so each unit keeps its own copy, compiled
// with its own flags.
#ifndef COURIER_CORE_SRC_CHACHA20_LANES_IMPL_H_
#define COURIER_CORE_SRC_CHACHA20_LANES_IMPL_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "chacha20_lanes.h"

namespace courier::internal {
namespace {

template <int W>
struct LaneVector;
template <>
struct LaneVector<4> {
  typedef std::uint32_t type __attribute__((vector_size(16)));
  typedef unsigned char bytes __attribute__((vector_size(16)));
};
template <>
struct LaneVector<8> {
  typedef std::uint32_t type __attribute__((vector_size(32)));
  typedef unsigned char bytes __attribute__((vector_size(32)));
};
template <>
struct LaneVector<16> {
  typedef std::uint32_t type __attribute__((vector_size(64)));
  typedef unsigned char bytes __attribute__((vector_size(64)));
};

inline std::uint32_t Load32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

inline void Store32(unsigned char* p, std::uint32_t v) {
  p[0] = static_cast<unsigned char>(v);
  p[1] = static_cast<unsigned char>(v >> 8);
  p[2] = static_cast<unsigned char>(v >> 16);
  p[3] = static_cast<unsigned char>(v >> 24);
}

template <int N, int W>
inline typename LaneVector<W>::type Rotl(typename LaneVector<W>::type v) {
#if defined(__GNUC__) && !defined(__clang__)
  using V = typename LaneVector<W>::type;
  if constexpr (N == 16 || N == 8) {
    // A whole-byte rotation is one byte shuffle (pshufb) instead of two
    // shifts and an or.
    using Bytes = typename LaneVector<W>::bytes;
    Bytes mask;
    for (unsigned i = 0; i < sizeof(V); ++i) {
      const unsigned word = i & ~3u;
      mask[i] = static_cast<unsigned char>(word + ((i - word + 4 - N / 8) & 3));
    }
    return reinterpret_cast<V>(__builtin_shuffle(reinterpret_cast<Bytes>(v), mask));
  }
#endif
  return (v << N) | (v >> (32 - N));
}

template <int W, class V = typename LaneVector<W>::type>
inline void QuarterRound(V& a, V& b, V& c, V& d) {
  a += b;
  d = Rotl<16, W>(d ^ a);
  c += d;
  b = Rotl<12, W>(b ^ c);
  a += b;
  d = Rotl<8, W>(d ^ a);
  c += d;
  b = Rotl<7, W>(b ^ c);
}

// The blocks of jobs[0..W) (all W present: the caller pads a short group).
template <int W>
void BlocksOfGroup(const ChaChaBlockJob* jobs) {
  using V = typename LaneVector<W>::type;
  V in[16];
  // "expand 32-byte k", then the key, the counter and the nonce, one job per lane.
  in[0] = V{} + 0x61707865u;
  in[1] = V{} + 0x3320646eu;
  in[2] = V{} + 0x79622d32u;
  in[3] = V{} + 0x6b206574u;
  for (int w = 0; w < 16 - 4; ++w) in[4 + w] = V{};
  for (int lane = 0; lane < W; ++lane) {
    const ChaChaBlockJob& j = jobs[lane];
    for (int k = 0; k < 8; ++k) in[4 + k][lane] = Load32(j.key + 4 * k);
    in[12][lane] = j.counter;
    for (int k = 0; k < 3; ++k) in[13 + k][lane] = Load32(j.nonce + 4 * k);
  }
  V x[16];
  for (int i = 0; i < 16; ++i) x[i] = in[i];
  for (int round = 0; round < 10; ++round) {
    QuarterRound<W>(x[0], x[4], x[8], x[12]);
    QuarterRound<W>(x[1], x[5], x[9], x[13]);
    QuarterRound<W>(x[2], x[6], x[10], x[14]);
    QuarterRound<W>(x[3], x[7], x[11], x[15]);
    QuarterRound<W>(x[0], x[5], x[10], x[15]);
    QuarterRound<W>(x[1], x[6], x[11], x[12]);
    QuarterRound<W>(x[2], x[7], x[8], x[13]);
    QuarterRound<W>(x[3], x[4], x[9], x[14]);
  }
  for (int i = 0; i < 16; ++i) x[i] += in[i];
  for (int lane = 0; lane < W; ++lane) {
    unsigned char* out = jobs[lane].out;
    for (int i = 0; i < 16; ++i) Store32(out + 4 * i, x[i][lane]);
  }
  // The state held key words and keystream: not left on the stack.
  std::memset(static_cast<void*>(in), 0, sizeof in);
  std::memset(static_cast<void*>(x), 0, sizeof x);
  __asm__ __volatile__("" : : "r"(in), "r"(x) : "memory");
}

// Every job's block, W at a time; a last group of fewer than W jobs is
// padded with copies of its last job writing to a scratch block.
template <int W>
void BlocksOf(absl::Span<const ChaChaBlockJob> jobs) {
  std::size_t i = 0;
  for (; i + W <= jobs.size(); i += W) BlocksOfGroup<W>(jobs.data() + i);
  if (i == jobs.size()) return;
  alignas(64) unsigned char scratch[64];
  ChaChaBlockJob group[W];
  for (int lane = 0; lane < W; ++lane) {
    group[lane] = i + lane < jobs.size() ? jobs[i + lane] : jobs.back();
    if (i + lane >= jobs.size()) group[lane].out = scratch;
  }
  BlocksOfGroup<W>(group);
  std::memset(scratch, 0, sizeof scratch);
  __asm__ __volatile__("" : : "r"(scratch) : "memory");
}

}  // namespace
}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_CHACHA20_LANES_IMPL_H_
