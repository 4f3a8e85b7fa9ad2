#include "poly1305_lanes.h"

#include <sodium.h>

#include "cpu_features.h"

namespace courier::internal {

#if defined(COURIER_POLY1305_X86)
// poly1305_lanes_avx2.cc and poly1305_lanes_avx512.cc.
void Poly1305TagsAvx2(absl::Span<const Poly1305Job> jobs);
void Poly1305TagsAvx512(absl::Span<const Poly1305Job> jobs);
#endif

int Poly1305Lanes() {
  const CpuFeatures& cpu = ThisCpu();
  return cpu.avx512f ? 8 : cpu.avx2 ? 4 : 1;
}

void Poly1305Tags(absl::Span<const Poly1305Job> jobs) { Poly1305TagsInLanes(Poly1305Lanes(), jobs); }

void Poly1305TagsInLanes(int lanes, absl::Span<const Poly1305Job> jobs) {
#if defined(COURIER_POLY1305_X86)
  switch (lanes) {
    case 8:
      Poly1305TagsAvx512(jobs);
      return;
    case 4:
      Poly1305TagsAvx2(jobs);
      return;
    default:
      break;
  }
#else
  (void)lanes;
#endif
  for (const Poly1305Job& job : jobs) {
    crypto_onetimeauth_poly1305(job.tag, job.message, job.size, job.key);
  }
}

}  // namespace courier::internal
