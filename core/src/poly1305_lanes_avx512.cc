// The 8-lane instantiation of poly1305_lanes_impl.h with AVX-512's
// 32x32->64 multiply (vpmuludq on zmm); this file alone is compiled with
// -mavx512f (core/CMakeLists.txt), and poly1305_lanes.cc calls it only
// where the CPU has AVX-512 F.
#include <immintrin.h>

#include "poly1305_lanes_impl.h"

namespace courier::internal {
namespace {

struct Avx512Multiply {
  using V = Poly1305Vector<8>::type;
  // The zero-masked form: GCC 12's plain _mm512_mul_epu32 warns of its
  // own undefined source operand (-Wmaybe-uninitialized); all 8 lanes kept.
  static V Mul(V a, V b) {
    return reinterpret_cast<V>(_mm512_maskz_mul_epu32(
        static_cast<__mmask8>(0xff), reinterpret_cast<__m512i>(a), reinterpret_cast<__m512i>(b)));
  }
};

}  // namespace

void Poly1305TagsAvx512(absl::Span<const Poly1305Job> jobs) {
  Poly1305TagsOf<8, Avx512Multiply>(jobs);
}

}  // namespace courier::internal
