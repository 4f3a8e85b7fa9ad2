// server_process.cc: fork/exec of courier-server and /proc readings.
#include "server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "proc_stats.h"

namespace courier::load {

ServerProcess::ServerProcess(std::string program, std::vector<std::string> args)
    : program_(std::move(program)), args_(std::move(args)) {}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Kill();
}

absl::StatusOr<std::string> ServerProcess::Start() {
  if (pid_ > 0) return absl::FailedPreconditionError("the server is already running");
  if (access(program_.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("no executable courier-server at ", program_,
                                            " (give --server PATH)"));
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError(std::strerror(errno));
  std::vector<std::string> argv_s{program_, "--listen", "127.0.0.1:0", "--admin-listen",
                                  "127.0.0.1:0"};
  argv_s.insert(argv_s.end(), args_.begin(), args_.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    execv(program_.c_str(), argv.data());
    _exit(127);
  }
  close(fds[1]);
  pid_ = pid;
  stdout_fd_ = fds[0];
  // Read lines until "listening on HOST:PORT" (60 s at most: a slow machine).
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{stdout_fd_, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return absl::UnavailableError("courier-server exited before listening");
      }
      continue;
    }
    char buf[512];
    const ssize_t n = read(stdout_fd_, buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    const std::size_t at = text.find("listening on ");
    if (at != std::string::npos) {
      const std::size_t eol = text.find('\n', at);
      if (eol != std::string::npos) {
        admin_address_.clear();
        if (text.rfind("admin on ", 0) == 0) {
          const std::size_t admin_eol = text.find('\n');
          admin_address_ = text.substr(9, admin_eol - 9);
        }
        return text.substr(at + 13, eol - at - 13);
      }
    }
  }
  Kill();
  return absl::DeadlineExceededError("courier-server did not print its listening line");
}

int ServerProcess::EndWith(int sig) {
  kill(pid_, sig);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  if (stdout_fd_ >= 0) close(stdout_fd_);
  stdout_fd_ = -1;
  return status;
}

absl::Status ServerProcess::Stop() {
  if (pid_ <= 0) return absl::OkStatus();
  const int status = EndWith(SIGTERM);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat("courier-server did not exit cleanly on SIGTERM (status ",
                                            status, ")"));
  }
  return absl::OkStatus();
}

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  EndWith(SIGKILL);
}

absl::StatusOr<std::uint64_t> ProcessCpuMicros(pid_t pid) {
  absl::StatusOr<std::string> text = ReadProcFile(absl::StrCat("/proc/", pid, "/stat"));
  if (!text.ok()) return text.status();
  absl::StatusOr<std::uint64_t> ticks = ParseStatCpuTicks(*text);
  if (!ticks.ok()) return ticks.status();
  const long hz = sysconf(_SC_CLK_TCK);
  if (hz <= 0) return absl::InternalError("sysconf(_SC_CLK_TCK) failed");
  return *ticks * 1'000'000ULL / static_cast<std::uint64_t>(hz);
}

absl::StatusOr<std::uint64_t> ProcessRssBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream f(line.substr(6));
      std::uint64_t kb = 0;
      f >> kb;
      return kb * 1024;
    }
  }
  return absl::NotFoundError("no VmRSS in /proc/PID/status");
}

std::uint64_t RaiseOpenFilesLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

}  // namespace courier::load
