// process_metrics.h: the process_* metrics of the Prometheus client
// conventions, read from /proc/self (Linux).
//
//   process_cpu_seconds_total      user + system CPU time
//   process_resident_memory_bytes  resident set size
//   process_virtual_memory_bytes   virtual memory size
//   process_open_fds               open file descriptors
//   process_max_fds                the RLIMIT_NOFILE soft limit
//   process_start_time_seconds     start time, unix seconds
//
// Thread-safety: safe from any thread. Blocking: reads a few /proc files
//   (cheap; no lock).
#ifndef COURIER_EXAMPLES_SERVER_PROCESS_METRICS_H_
#define COURIER_EXAMPLES_SERVER_PROCESS_METRICS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace courier::server {

struct ProcessStats {
  double cpu_seconds = 0;
  std::uint64_t resident_bytes = 0;
  std::uint64_t virtual_bytes = 0;
  std::uint64_t open_fds = 0;
  std::uint64_t max_fds = 0;
  double start_time_seconds = 0;
};

// kUnavailable when /proc cannot be read (not Linux, or hidden).
absl::StatusOr<ProcessStats> ReadProcessStats();

// Prometheus text 0.0.4 of `stats`, one HELP/TYPE pair per metric.
std::string ProcessMetricsText(const ProcessStats& stats);

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_PROCESS_METRICS_H_
