// poly1305_lanes_impl.h (internal): the W-lane Poly1305 of poly1305_lanes.h,
// included by each translation unit that instantiates it for one
// instruction set (poly1305_lanes_avx2.cc and poly1305_lanes_avx512.cc: 4
// and 8 lanes, compiled with their own flags), each with its multiply:
// M::Mul(a, b), the product of each lane's low 32 bits (one vpmuludq). Its
// names have internal linkage, so each unit keeps its own copy.
//
// The arithmetic is the classic 32-bit one (five 26-bit limbs, 2^130 = 5
// mod p), done per lane: after a block's carries every limb is below 2^27,
// so each factor of the 25 products fits 32 bits (what vpmuludq reads) and
// each sum of five products stays below 2^60.
#ifndef COURIER_CORE_SRC_POLY1305_LANES_IMPL_H_
#define COURIER_CORE_SRC_POLY1305_LANES_IMPL_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "poly1305_lanes.h"

namespace courier::internal {
namespace {

template <int W>
struct Poly1305Vector;
template <>
struct Poly1305Vector<4> {
  typedef std::uint64_t type __attribute__((vector_size(32)));
};
template <>
struct Poly1305Vector<8> {
  typedef std::uint64_t type __attribute__((vector_size(64)));
};

inline std::uint32_t Poly1305Load32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

inline std::uint64_t Poly1305Load64(const unsigned char* p) {
  return std::uint64_t{Poly1305Load32(p)} | std::uint64_t{Poly1305Load32(p + 4)} << 32;
}

inline void Poly1305Store32(unsigned char* p, std::uint32_t v) {
  p[0] = static_cast<unsigned char>(v);
  p[1] = static_cast<unsigned char>(v >> 8);
  p[2] = static_cast<unsigned char>(v >> 16);
  p[3] = static_cast<unsigned char>(v >> 24);
}

constexpr std::uint64_t kLimb = 0x3ffffff;

// The tag from the accumulator's limbs (partly reduced) and s = key[16..32):
// the full reduction mod 2^130 - 5, then + s mod 2^128.
inline void Poly1305Finish(std::uint32_t h0, std::uint32_t h1, std::uint32_t h2,
                           std::uint32_t h3, std::uint32_t h4, const unsigned char* key,
                           unsigned char* tag) {
  constexpr std::uint32_t kMask = 0x3ffffff;
  std::uint32_t c = h1 >> 26;
  h1 &= kMask;
  h2 += c;
  c = h2 >> 26;
  h2 &= kMask;
  h3 += c;
  c = h3 >> 26;
  h3 &= kMask;
  h4 += c;
  c = h4 >> 26;
  h4 &= kMask;
  h0 += c * 5;
  c = h0 >> 26;
  h0 &= kMask;
  h1 += c;
  // h - p = h + 5 - 2^130: taken when it does not go below zero.
  std::uint32_t g0 = h0 + 5;
  c = g0 >> 26;
  g0 &= kMask;
  std::uint32_t g1 = h1 + c;
  c = g1 >> 26;
  g1 &= kMask;
  std::uint32_t g2 = h2 + c;
  c = g2 >> 26;
  g2 &= kMask;
  std::uint32_t g3 = h3 + c;
  c = g3 >> 26;
  g3 &= kMask;
  std::uint32_t g4 = h4 + c - (1u << 26);
  std::uint32_t take_g = (g4 >> 31) - 1;  // all ones when g4 did not wrap
  h0 = (h0 & ~take_g) | (g0 & take_g);
  h1 = (h1 & ~take_g) | (g1 & take_g);
  h2 = (h2 & ~take_g) | (g2 & take_g);
  h3 = (h3 & ~take_g) | (g3 & take_g);
  h4 = (h4 & ~take_g) | (g4 & take_g);
  const std::uint32_t w0 = h0 | (h1 << 26);
  const std::uint32_t w1 = (h1 >> 6) | (h2 << 20);
  const std::uint32_t w2 = (h2 >> 12) | (h3 << 14);
  const std::uint32_t w3 = (h3 >> 18) | (h4 << 8);
  std::uint64_t f = std::uint64_t{w0} + Poly1305Load32(key + 16);
  Poly1305Store32(tag, static_cast<std::uint32_t>(f));
  f = std::uint64_t{w1} + Poly1305Load32(key + 20) + (f >> 32);
  Poly1305Store32(tag + 4, static_cast<std::uint32_t>(f));
  f = std::uint64_t{w2} + Poly1305Load32(key + 24) + (f >> 32);
  Poly1305Store32(tag + 8, static_cast<std::uint32_t>(f));
  f = std::uint64_t{w3} + Poly1305Load32(key + 28) + (f >> 32);
  Poly1305Store32(tag + 12, static_cast<std::uint32_t>(f));
}

// One block per lane: h = (h + m) * r mod 2^130 - 5, partly reduced (every
// limb below 2^27 after it). `lo` and `hi` hold each lane's 16 bytes
// (little-endian), `high` its 2^128 bit (1 << 24 in the top limb, 0 for a
// short last block, padded with 1 and zeros).
template <class V, class M>
struct Poly1305State {
  V r0{}, r1{}, r2{}, r3{}, r4{}, s1{}, s2{}, s3{}, s4{};
  V h0{}, h1{}, h2{}, h3{}, h4{};

  void Block(V lo, V hi, V high, V live) {
    const V a0 = h0 + (lo & kLimb);
    const V a1 = h1 + ((lo >> 26) & kLimb);
    const V a2 = h2 + (((lo >> 52) | (hi << 12)) & kLimb);
    const V a3 = h3 + ((hi >> 14) & kLimb);
    const V a4 = h4 + ((hi >> 40) | high);
    V d0 = M::Mul(a0, r0) + M::Mul(a1, s4) + M::Mul(a2, s3) + M::Mul(a3, s2) + M::Mul(a4, s1);
    V d1 = M::Mul(a0, r1) + M::Mul(a1, r0) + M::Mul(a2, s4) + M::Mul(a3, s3) + M::Mul(a4, s2);
    V d2 = M::Mul(a0, r2) + M::Mul(a1, r1) + M::Mul(a2, r0) + M::Mul(a3, s4) + M::Mul(a4, s3);
    V d3 = M::Mul(a0, r3) + M::Mul(a1, r2) + M::Mul(a2, r1) + M::Mul(a3, r0) + M::Mul(a4, s4);
    V d4 = M::Mul(a0, r4) + M::Mul(a1, r3) + M::Mul(a2, r2) + M::Mul(a3, r1) + M::Mul(a4, r0);
    V c = d0 >> 26;
    V n0 = d0 & kLimb;
    d1 += c;
    c = d1 >> 26;
    V n1 = d1 & kLimb;
    d2 += c;
    c = d2 >> 26;
    const V n2 = d2 & kLimb;
    d3 += c;
    c = d3 >> 26;
    const V n3 = d3 & kLimb;
    d4 += c;
    c = d4 >> 26;
    const V n4 = d4 & kLimb;
    n0 += c * 5;
    c = n0 >> 26;
    n0 &= kLimb;
    n1 += c;
    h0 = (n0 & live) | (h0 & ~live);
    h1 = (n1 & live) | (h1 & ~live);
    h2 = (n2 & live) | (h2 & ~live);
    h3 = (n3 & live) | (h3 & ~live);
    h4 = (n4 & live) | (h4 & ~live);
  }
};

// The tags of up to W jobs, one per lane: first the blocks every lane has
// whole (no masks), then the rest, each lane only while its message lasts.
template <int W, class M>
void Poly1305Group(const Poly1305Job* jobs, std::size_t count) {
  using V = typename Poly1305Vector<W>::type;
  Poly1305State<V, M> st;
  std::size_t blocks[W] = {};
  std::size_t max_blocks = 0;
  std::size_t whole = ~std::size_t{0};  // blocks that every lane has whole
  for (std::size_t i = 0; i < count; ++i) {
    // r, clamped (RFC 8439: r &= 0x0ffffffc0ffffffc0ffffffc0fffffff).
    const unsigned char* key = jobs[i].key;
    st.r0[i] = Poly1305Load32(key) & 0x3ffffff;
    st.r1[i] = (Poly1305Load32(key + 3) >> 2) & 0x3ffff03;
    st.r2[i] = (Poly1305Load32(key + 6) >> 4) & 0x3ffc0ff;
    st.r3[i] = (Poly1305Load32(key + 9) >> 6) & 0x3f03fff;
    st.r4[i] = (Poly1305Load32(key + 12) >> 8) & 0x00fffff;
    blocks[i] = (jobs[i].size + 15) / 16;
    max_blocks = std::max(max_blocks, blocks[i]);
    whole = std::min(whole, jobs[i].size / 16);
  }
  if (count < W) whole = 0;  // the empty lanes have no blocks
  st.s1 = st.r1 * 5;
  st.s2 = st.r2 * 5;
  st.s3 = st.r3 * 5;
  st.s4 = st.r4 * 5;
  V all{};
  all = ~all;
  V high_bit{};
  high_bit += std::uint64_t{1} << 24;  // the 2^128 of a whole block
  std::size_t b = 0;
  for (; b < whole; ++b) {
    V lo, hi;
    for (std::size_t i = 0; i < W; ++i) {
      const unsigned char* p = jobs[i].message + 16 * b;
      lo[i] = Poly1305Load64(p);
      hi[i] = Poly1305Load64(p + 8);
    }
    st.Block(lo, hi, high_bit, all);
  }
  for (; b < max_blocks; ++b) {
    V lo{}, hi{}, high{}, live{};
    for (std::size_t i = 0; i < count; ++i) {
      if (b >= blocks[i]) continue;
      const std::size_t left = jobs[i].size - 16 * b;
      const unsigned char* p = jobs[i].message + 16 * b;
      unsigned char last[16];
      high[i] = std::uint64_t{1} << 24;
      if (left < 16) {  // the last, short block: its bytes, 1, zeros
        std::memset(last, 0, sizeof last);
        std::memcpy(last, p, left);
        last[left] = 1;
        p = last;
        high[i] = 0;
      }
      lo[i] = Poly1305Load64(p);
      hi[i] = Poly1305Load64(p + 8);
      live[i] = ~std::uint64_t{0};
    }
    st.Block(lo, hi, high, live);
  }
  for (std::size_t i = 0; i < count; ++i) {
    Poly1305Finish(static_cast<std::uint32_t>(st.h0[i]), static_cast<std::uint32_t>(st.h1[i]),
                   static_cast<std::uint32_t>(st.h2[i]), static_cast<std::uint32_t>(st.h3[i]),
                   static_cast<std::uint32_t>(st.h4[i]), jobs[i].key, jobs[i].tag);
  }
}

template <int W, class M>
void Poly1305TagsOf(absl::Span<const Poly1305Job> jobs) {
  for (std::size_t start = 0; start < jobs.size(); start += W) {
    Poly1305Group<W, M>(jobs.data() + start, std::min<std::size_t>(W, jobs.size() - start));
  }
}

}  // namespace
}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_POLY1305_LANES_IMPL_H_
