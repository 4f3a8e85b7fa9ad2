#include "cpu_features.h"

namespace courier::internal {
namespace {

CpuFeatures Detect() {
  CpuFeatures cpu;
#if defined(COURIER_CPU_X86)
  __builtin_cpu_init();
  cpu.avx2 = __builtin_cpu_supports("avx2");
  cpu.avx512f = __builtin_cpu_supports("avx512f");
  cpu.avx512bw = __builtin_cpu_supports("avx512bw");
#endif
  return cpu;
}

}  // namespace

const CpuFeatures& ThisCpu() {
  static const CpuFeatures cpu = Detect();
  return cpu;
}

}  // namespace courier::internal
