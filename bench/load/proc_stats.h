// proc_stats.h: the server's counters in /proc behind the per-message
// figures of BENCH.md, and their parsers (pure, unit-tested).
//
//   server_cpu_us_per_msg        utime + stime of /proc/PID/stat
//   server_ctx_switches_per_msg  voluntary_ctxt_switches + nonvoluntary_ctxt_switches
//                                of every /proc/PID/task/TID/status
//   server_syscalls_per_msg      syscr + syscw of /proc/PID/io
//
// What the kernel offers, and why these (Linux 6.x, fs/proc/array.c and
// fs/proc/base.c):
//  * Context switches exist only per thread in /proc. /proc/PID/status shows
//    the thread group LEADER's own counts (the main thread, which mostly
//    waits for a signal), not the process's; /proc/PID/stat and schedstat
//    have no totals either. The process total that includes exited threads
//    (signal_struct's nvcsw/nivcsw) is reachable only by the process itself
//    (getrusage) or by wait4 after its exit, or through taskstats (netlink),
//    none of which gives a phase of a running peer. So the switches are
//    summed over /proc/PID/task/*/status, per thread id: a thread's delta is
//    its count after minus its count before; a thread started during the
//    phase counts from 0 (all of its switches belong to the phase). A thread
//    that EXITS during the phase is gone from /proc/PID/task together with
//    its switches: DiffThreadSwitches counts such threads, and courier-load
//    refuses to print the figure when there is one (courier-server keeps its
//    threads for its whole life, so none is expected).
//  * /proc/PID/io is per process (the tgid file sums the live threads and
//    the exited ones), so syscr and syscw need no such care. They count the
//    read and write FAMILIES only: read, readv, pread64, preadv, write, writev,
//    pwrite64, pwritev, sendfile, copy_file_range, on any file (a socket
//    too), but NOT send/recv/sendto/recvfrom/sendmsg/recvmsg (measured: 1,000
//    sendmsg + 1,000 recvmsg on a socketpair add nothing; 1,000 write + 1,000
//    read add 1,000 each), nor epoll_wait, futex or fsync. Asio moves every
//    byte of a TCP socket with sendmsg/recvmsg, so in courier-server this
//    figure counts Asio's reactor wake-ups (eventfd read/write: work posted
//    to another thread), the store's file I/O (RocksDB's WAL and tables,
//    SQLite's pages), not the socket I/O.
//
// Thread-safety: plain functions. Blocking: the Read* functions read /proc.
#ifndef COURIER_BENCH_LOAD_PROC_STATS_H_
#define COURIER_BENCH_LOAD_PROC_STATS_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace courier::load {

// utime + stime (clock ticks) from the text of /proc/PID/stat.
// kInvalidArgument when the text is not a stat line.
absl::StatusOr<std::uint64_t> ParseStatCpuTicks(absl::string_view stat);

// voluntary_ctxt_switches + nonvoluntary_ctxt_switches from the text of a
// /proc/PID/task/TID/status (or /proc/PID/status). kInvalidArgument when
// either is missing or not a number.
absl::StatusOr<std::uint64_t> ParseStatusCtxSwitches(absl::string_view status);

struct ProcIo {
  std::uint64_t syscr = 0;  // read-family system calls
  std::uint64_t syscw = 0;  // write-family system calls
};
// syscr and syscw from the text of /proc/PID/io. kInvalidArgument when
// either is missing or not a number.
absl::StatusOr<ProcIo> ParseProcIo(absl::string_view io);

// Thread id -> voluntary + nonvoluntary context switches.
using ThreadSwitches = std::map<pid_t, std::uint64_t>;

struct SwitchDelta {
  std::uint64_t switches = 0;  // over the threads alive at the end
  std::size_t threads = 0;     // alive at the end
  std::size_t started = 0;     // of those, not there at the start (counted from 0)
  std::size_t exited = 0;      // there at the start, gone at the end: switches lost
};
// The switches between two readings, thread by thread. A thread id whose
// count went down is a new thread that got a freed id: counted from 0.
SwitchDelta DiffThreadSwitches(const ThreadSwitches& before, const ThreadSwitches& after);

// Reads /proc/PID/task/*/status. A thread that exits between the listing and
// the read of its file is left out (as if it had exited before). kNotFound
// when the process is gone; other errors (a file that does not parse, a
// permission) as they come.
absl::StatusOr<ThreadSwitches> ReadThreadSwitches(pid_t pid);
// One thread's counters, for the per-thread breakdown courier-load logs on
// stderr (which thread switches, and why: voluntary = it slept, waiting
// for something; involuntary = it was preempted while runnable).
struct ThreadDetail {
  std::string name;  // Name: of its status (the thread's comm, 15 bytes)
  std::uint64_t voluntary = 0;
  std::uint64_t involuntary = 0;
  std::uint64_t cpu_ticks = 0;  // utime + stime of its stat
};
using ThreadDetails = std::map<pid_t, ThreadDetail>;
// From the texts of /proc/PID/task/TID/status and .../stat. kInvalidArgument
// when a field is missing or not a number.
absl::StatusOr<ThreadDetail> ParseThreadDetail(absl::string_view status, absl::string_view stat);
// Reads every /proc/PID/task/TID/{status,stat}; a thread that exits
// meanwhile is left out. Errors as ReadThreadSwitches.
absl::StatusOr<ThreadDetails> ReadThreadDetails(pid_t pid);
// One line: per thread name, in order of CPU, the threads of that name, their
// voluntary and involuntary switches per message and CPU microseconds per
// message between the two readings (threads counted as DiffThreadSwitches
// does: a new one from 0; an exited one is left out).
std::string FormatThreadBreakdown(const ThreadDetails& before, const ThreadDetails& after,
                                  std::uint64_t messages, long ticks_per_second);

// Reads /proc/PID/io (needs the right to ptrace-read PID: the same user).
absl::StatusOr<ProcIo> ReadProcIo(pid_t pid);
// The whole of a /proc file. kNotFound for ENOENT/ESRCH, kPermissionDenied
// for EACCES/EPERM.
absl::StatusOr<std::string> ReadProcFile(const std::string& path);

}  // namespace courier::load

#endif  // COURIER_BENCH_LOAD_PROC_STATS_H_
