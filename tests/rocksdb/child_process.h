// tests/rocksdb/child_process.h: runs a function in a forked child process and
// collects what it writes to a pipe, and how it ended, within a deadline.
//
// Used to crash a process on purpose (the power-loss test) and to look at the
// result from a clean one. The child gets a copy of the caller's memory and
// only the calling thread: call RunInChild from a process that has started no
// threads the child would need (no open RocksDB database, whose background
// threads do not survive fork()).
//
// Thread-safety: call from one thread at a time.
// Blocking: RunInChild blocks until the child ended or the deadline passed.
#ifndef COURIER_TESTS_ROCKSDB_CHILD_PROCESS_H_
#define COURIER_TESTS_ROCKSDB_CHILD_PROCESS_H_

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace courier::testing {

// The exit code of a child whose body threw an exception.
inline constexpr int kChildThrewExitCode = 97;

struct ChildOutcome {
  std::string output;       // everything the child wrote to its pipe
  bool exited = false;      // ended by exit/_exit; then exit_code is set
  int exit_code = -1;
  int signal = 0;           // the signal that ended it, when not exited
  bool timed_out = false;   // killed with SIGKILL after the deadline

  // "exit 86", "signal 6 (Aborted)", "killed after the deadline".
  std::string Describe() const;
};

// Forks a child that runs body(fd), fd being the write end of a pipe, then
// _exit(0) when body returns (_exit(kChildThrewExitCode) when it throws); the
// child never returns into the caller. The parent reads the pipe until the
// child and everything it started closed it, or until `deadline` passed (then
// it kills the child), and reaps the child. A failed fork() or pipe() is
// reported as a child that exited with code -1 and the error in `output`.
ChildOutcome RunInChild(const std::function<void(int fd)>& body,
                        std::chrono::milliseconds deadline);

// Writes all of `text` to `fd`, retrying short writes; false on error.
// Async-signal-safe (write(2) only), for use in a child about to crash.
bool WriteAll(int fd, std::string_view text);

}  // namespace courier::testing

#endif  // COURIER_TESTS_ROCKSDB_CHILD_PROCESS_H_
