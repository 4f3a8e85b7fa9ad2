#include "child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

namespace courier::testing {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void RunBodyAndExit(const std::function<void(int)>& body, int fd) {
  try {
    body(fd);
  } catch (...) {
    _exit(kChildThrewExitCode);
  }
  _exit(0);
}

// Reads `fd` until EOF or `until`; false when the deadline passed first.
bool ReadUntilEof(int fd, Clock::time_point until, std::string* out) {
  char buffer[1 << 16];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) return false;
    if (ready < 0) return true;  // poll failed: nothing more can be read
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;  // EOF (or an error: nothing more to read)
    out->append(buffer, static_cast<std::size_t>(n));
  }
}

void Reap(pid_t pid, ChildOutcome* outcome) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) {
    outcome->exited = true;
    outcome->exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    outcome->signal = WTERMSIG(status);
  }
}

ChildOutcome SetupFailure(const char* what) {
  ChildOutcome outcome;
  outcome.exited = true;
  outcome.output = std::string(what) + " failed: " + std::strerror(errno);
  return outcome;
}

}  // namespace

std::string ChildOutcome::Describe() const {
  if (timed_out) return "killed after the deadline";
  if (exited) return "exit " + std::to_string(exit_code);
  return "signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
}

ChildOutcome RunInChild(const std::function<void(int fd)>& body,
                        std::chrono::milliseconds deadline) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return SetupFailure("pipe");
  // Buffered output would otherwise be written twice if the child flushed it.
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return SetupFailure("fork");
  }
  if (pid == 0) {
    ::close(fds[0]);
    RunBodyAndExit(body, fds[1]);
  }
  ::close(fds[1]);
  ChildOutcome outcome;
  if (!ReadUntilEof(fds[0], Clock::now() + deadline, &outcome.output)) {
    outcome.timed_out = true;
    ::kill(pid, SIGKILL);
  }
  ::close(fds[0]);
  Reap(pid, &outcome);
  return outcome;
}

bool WriteAll(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace courier::testing
