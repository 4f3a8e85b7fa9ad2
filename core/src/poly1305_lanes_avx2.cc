// The 4-lane instantiation of poly1305_lanes_impl.h with AVX2's 32x32->64
// multiply (vpmuludq); this file alone is compiled with -mavx2
// (core/CMakeLists.txt), and poly1305_lanes.cc calls it only where the CPU
// has AVX2.
#include <immintrin.h>

#include "poly1305_lanes_impl.h"

namespace courier::internal {
namespace {

struct Avx2Multiply {
  using V = Poly1305Vector<4>::type;
  static V Mul(V a, V b) {
    return reinterpret_cast<V>(
        _mm256_mul_epu32(reinterpret_cast<__m256i>(a), reinterpret_cast<__m256i>(b)));
  }
};

}  // namespace

void Poly1305TagsAvx2(absl::Span<const Poly1305Job> jobs) {
  Poly1305TagsOf<4, Avx2Multiply>(jobs);
}

}  // namespace courier::internal
