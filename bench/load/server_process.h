// server_process.h: the courier-server that courier-load starts and stops.
//
// Start() forks and execs the server with a listen address and an admin
// address of 127.0.0.1:0, waits for its "listening on HOST:PORT" line on
// standard output (the "admin on HOST:PORT" line comes before it), and
// returns the address. Stop() sends SIGTERM and waits for the
// exit; Kill() sends SIGKILL. The server's standard error is courier-load's.
// Also reads a process's CPU time (/proc/PID/stat) and RSS (/proc/PID/status).
//
// Ownership: the object owns the child; its destructor kills a child still
//   running.
// Thread-safety: not thread-safe; used from the main thread.
// Blocking: Start blocks until the line (or a timeout), Stop until the exit.
#ifndef COURIER_BENCH_LOAD_SERVER_PROCESS_H_
#define COURIER_BENCH_LOAD_SERVER_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace courier::load {

class ServerProcess {
 public:
  // `args` are the flags after the program (without --listen).
  ServerProcess(std::string program, std::vector<std::string> args);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts the server; returns "HOST:PORT" from its listening line.
  absl::StatusOr<std::string> Start();
  // SIGTERM, then waits; an exit status other than 0 is an error.
  absl::Status Stop();
  // SIGKILL, then waits.
  void Kill();

  pid_t pid() const { return pid_; }
  // "HOST:PORT" of the admin address (/metrics) after Start; "" if not seen.
  const std::string& admin_address() const { return admin_address_; }
  bool running() const { return pid_ > 0; }

 private:
  // Sends `sig` to the running server, waits for its exit and forgets it;
  // the wait status.
  int EndWith(int sig);

  std::string program_;
  std::vector<std::string> args_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string admin_address_;
};

// utime + stime of `pid` in microseconds (/proc/PID/stat).
absl::StatusOr<std::uint64_t> ProcessCpuMicros(pid_t pid);
// VmRSS of `pid` in bytes (/proc/PID/status).
absl::StatusOr<std::uint64_t> ProcessRssBytes(pid_t pid);
// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft one.
std::uint64_t RaiseOpenFilesLimit();

}  // namespace courier::load

#endif  // COURIER_BENCH_LOAD_SERVER_PROCESS_H_
