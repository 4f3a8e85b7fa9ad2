#include "chacha20_lanes.h"

#include "chacha20_lanes_impl.h"

namespace courier::internal {

#if defined(COURIER_CHACHA20_X86)
// chacha20_lanes_avx2.cc and chacha20_lanes_avx512.cc.
void ChaCha20BlocksAvx2(absl::Span<const ChaChaBlockJob> jobs);
void ChaCha20BlocksAvx512(absl::Span<const ChaChaBlockJob> jobs);
#endif

namespace {

// The widest lanes this CPU runs (once per process).
int DetectLanes() {
#if defined(COURIER_CHACHA20_X86)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) return 16;
  if (__builtin_cpu_supports("avx2")) return 8;
#endif
  return 4;
}

int Lanes() {
  static const int lanes = DetectLanes();
  return lanes;
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
