// The 8-lane instantiation of chacha20_lanes_impl.h; this file alone is
// compiled with -mavx2 (core/CMakeLists.txt), and chacha20_lanes.cc calls
// it only where the CPU has AVX2.
#include "chacha20_lanes_impl.h"

namespace courier::internal {

void ChaCha20BlocksAvx2(absl::Span<const ChaChaBlockJob> jobs) { BlocksOf<8>(jobs); }

}  // namespace courier::internal
