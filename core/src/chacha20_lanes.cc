#include "chacha20_lanes.h"

#include "chacha20_lanes_impl.h"
#include "cpu_features.h"

namespace courier::internal {

#if defined(COURIER_CHACHA20_X86)
// chacha20_lanes_avx2.cc and chacha20_lanes_avx512.cc.
void ChaCha20BlocksAvx2(absl::Span<const ChaChaBlockJob> jobs);
void ChaCha20BlocksAvx512(absl::Span<const ChaChaBlockJob> jobs);
#endif

namespace {

// The widest lanes this CPU runs.
int Lanes() {
  const CpuFeatures& cpu = ThisCpu();
  return cpu.avx512f && cpu.avx512bw ? 16 : cpu.avx2 ? 8 : 4;
}

}  // namespace

void ChaCha20Blocks(absl::Span<const ChaChaBlockJob> jobs) { ChaCha20BlocksInLanes(Lanes(), jobs); }

void ChaCha20BlocksInLanes(int lanes, absl::Span<const ChaChaBlockJob> jobs) {
  if (jobs.empty()) return;
#if defined(COURIER_CHACHA20_X86)
  switch (lanes) {
    case 16:
      ChaCha20BlocksAvx512(jobs);
      return;
    case 8:
      ChaCha20BlocksAvx2(jobs);
      return;
    default:
      break;
  }
#else
  (void)lanes;
#endif
  BlocksOf<4>(jobs);
}

int ChaCha20Lanes() { return Lanes(); }

}  // namespace courier::internal
