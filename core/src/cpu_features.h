// cpu_features.h (internal): which vector instructions this CPU runs, read
// once per process, for the files that pick their widest lanes at run time
// (chacha20_lanes.cc, poly1305_lanes.cc). All false where the build does
// not compile the x86 paths (COURIER_CPU_X86, core/CMakeLists.txt).
//
// Thread-safety: any threads at once (a function-local static).
// Blocking: never.
#ifndef COURIER_CORE_SRC_CPU_FEATURES_H_
#define COURIER_CORE_SRC_CPU_FEATURES_H_

namespace courier::internal {

struct CpuFeatures {
  bool avx2 = false;
  bool avx512f = false;
  bool avx512bw = false;
};

const CpuFeatures& ThisCpu();

}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_CPU_FEATURES_H_
