// SyscallCounter: a process's read-family and write-family system calls,
// counted by the kernel's syscall tracepoints.
//
// /proc/PID/io's syscr and syscw count only read(2)/write(2)-style calls
// that go through the file layer; recvfrom, recvmsg, sendto and sendmsg on a
// socket are not in them, so a server doing its I/O with those shows 0.
// This counter opens, for every thread of the process, one perf counter per
// tracepoint syscalls:sys_enter_{read,readv,recvfrom,recvmsg,recvmmsg} and
// {write,writev,sendto,sendmsg,sendmmsg} (perf_event_open, inherit on: the
// threads those threads start later are counted too) and sums them.
//
// Needs tracefs (/sys/kernel/tracing or /sys/kernel/debug/tracing) and the
// right to trace the process (root, or perf_event_paranoid permitting).
// Thread-safety: Read may be called from any thread; not copyable.
// Blocking: Open reads /proc and tracefs; Read reads the counters.
#ifndef COURIER_BENCH_LOAD_SYSCALL_COUNTER_H_
#define COURIER_BENCH_LOAD_SYSCALL_COUNTER_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"

namespace courier::load {

struct SyscallCounts {
  std::uint64_t reads = 0;   // read, readv, recvfrom, recvmsg, recvmmsg
  std::uint64_t writes = 0;  // write, writev, sendto, sendmsg, sendmmsg
};

class SyscallCounter {
 public:
  // Starts counting on every thread `pid` has now. Errors: kUnavailable (no
  // tracefs, no tracepoint), kPermissionDenied, kNotFound (no such process).
  static absl::StatusOr<std::unique_ptr<SyscallCounter>> Open(pid_t pid);
  ~SyscallCounter();
  SyscallCounter(const SyscallCounter&) = delete;
  SyscallCounter& operator=(const SyscallCounter&) = delete;

  // The counts since Open. kDataLoss if a counter could not be read.
  absl::StatusOr<SyscallCounts> Read() const;

 private:
  struct Fd {
    int fd;
    bool write;
  };
  explicit SyscallCounter(std::vector<Fd> fds) : fds_(std::move(fds)) {}
  std::vector<Fd> fds_;
};

// The server's counter, opened at the first reading of a pid and again when
// the pid changes (a restart). Thread-safe.
class ServerSyscalls {
 public:
  // The counts of `pid` since its counter was opened (the first call for a
  // pid opens it and gives about 0); Open's errors as they come.
  absl::StatusOr<SyscallCounts> Read(pid_t pid);

 private:
  std::mutex mu_;
  pid_t pid_ = 0;
  absl::StatusOr<std::unique_ptr<SyscallCounter>> counter_ =
      absl::FailedPreconditionError("not opened");
};

}  // namespace courier::load

#endif  // COURIER_BENCH_LOAD_SYSCALL_COUNTER_H_
