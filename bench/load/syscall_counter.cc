// SyscallCounter (syscall_counter.h): perf_event_open on syscall tracepoints.
#include "syscall_counter.h"

#include <dirent.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace courier::load {
namespace {

constexpr const char* kReads[] = {"read", "readv", "recvfrom", "recvmsg", "recvmmsg"};
constexpr const char* kWrites[] = {"write", "writev", "sendto", "sendmsg", "sendmmsg"};

// The tracepoint id of syscalls:sys_enter_NAME, or an error.
absl::StatusOr<std::uint64_t> TracepointId(const std::string& name) {
  for (const char* root : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    std::ifstream in(absl::StrCat(root, "/events/syscalls/sys_enter_", name, "/id"));
    std::uint64_t id = 0;
    if (in >> id) return id;
  }
  return absl::UnavailableError(
      absl::StrCat("no tracepoint syscalls:sys_enter_", name, " (tracefs not mounted?)"));
}

absl::StatusOr<std::vector<pid_t>> Threads(pid_t pid) {
  const std::string dir = absl::StrCat("/proc/", pid, "/task");
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return absl::NotFoundError(absl::StrCat(dir, ": ", std::strerror(errno)));
  std::vector<pid_t> tids;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] >= '0' && e->d_name[0] <= '9') tids.push_back(std::atoi(e->d_name));
  }
  ::closedir(d);
  return tids;
}

int OpenCounter(std::uint64_t tracepoint, pid_t tid) {
  perf_event_attr attr{};
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.size = sizeof attr;
  attr.config = tracepoint;
  attr.inherit = 1;
  attr.exclude_hv = 1;
  return static_cast<int>(::syscall(SYS_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SyscallCounter>> SyscallCounter::Open(pid_t pid) {
  std::vector<std::pair<std::uint64_t, bool>> points;
  for (const char* name : kReads) {
    auto id = TracepointId(name);
    if (!id.ok()) return id.status();
    points.emplace_back(*id, false);
  }
  for (const char* name : kWrites) {
    auto id = TracepointId(name);
    if (!id.ok()) return id.status();
    points.emplace_back(*id, true);
  }
  auto tids = Threads(pid);
  if (!tids.ok()) return tids.status();
  std::vector<Fd> fds;
  auto close_all = [&fds] {
    for (const Fd& f : fds) ::close(f.fd);
  };
  for (pid_t tid : *tids) {
    for (const auto& [id, write] : points) {
      const int fd = OpenCounter(id, tid);
      if (fd < 0) {
        const int err = errno;
        if (err == ESRCH) break;  // the thread ended meanwhile: its calls are gone anyway
        close_all();
        const std::string why = absl::StrCat("perf_event_open on thread ", tid, ": ",
                                             std::strerror(err));
        return err == EACCES || err == EPERM ? absl::PermissionDeniedError(why)
                                             : absl::UnavailableError(why);
      }
      fds.push_back({fd, write});
    }
  }
  if (fds.empty()) return absl::NotFoundError(absl::StrCat("process ", pid, " has no thread"));
  return std::unique_ptr<SyscallCounter>(new SyscallCounter(std::move(fds)));
}

SyscallCounter::~SyscallCounter() {
  for (const Fd& f : fds_) ::close(f.fd);
}

absl::StatusOr<SyscallCounts> SyscallCounter::Read() const {
  SyscallCounts counts;
  for (const Fd& f : fds_) {
    std::uint64_t value = 0;
    if (::read(f.fd, &value, sizeof value) != static_cast<ssize_t>(sizeof value)) {
      return absl::DataLossError(absl::StrCat("reading a syscall counter: ", std::strerror(errno)));
    }
    (f.write ? counts.writes : counts.reads) += value;
  }
  return counts;
}

absl::StatusOr<SyscallCounts> ServerSyscalls::Read(pid_t pid) {
  std::lock_guard lock(mu_);
  if (pid != pid_) {
    pid_ = pid;
    counter_ = SyscallCounter::Open(pid);
  }
  if (!counter_.ok()) return counter_.status();
  return (*counter_)->Read();
}

}  // namespace courier::load
