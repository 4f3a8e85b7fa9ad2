// The 16-lane instantiation of chacha20_lanes_impl.h; this file alone is
// compiled with -mavx512f -mavx512bw (core/CMakeLists.txt), and
// chacha20_lanes.cc calls it only where the CPU has both.
#include "chacha20_lanes_impl.h"

namespace courier::internal {

void ChaCha20BlocksAvx512(absl::Span<const ChaChaBlockJob> jobs) { BlocksOf<16>(jobs); }

}  // namespace courier::internal
