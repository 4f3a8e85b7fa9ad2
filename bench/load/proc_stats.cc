// proc_stats.cc: /proc readings and their parsers.
#include "proc_stats.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace courier::load {
namespace {

// The value of the line "KEY:<whitespace>NUMBER" of a /proc key-value file.
absl::StatusOr<std::uint64_t> FieldOf(absl::string_view text, absl::string_view key,
                                      absl::string_view file) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.size() <= key.size() || line.substr(0, key.size()) != key ||
        line[key.size()] != ':') {
      continue;
    }
    std::uint64_t v = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(key.size() + 1)), &v)) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": ", key, " is not a number"));
    }
    return v;
  }
  return absl::InvalidArgumentError(absl::StrCat(file, ": no ", key));
}

}  // namespace

absl::StatusOr<std::uint64_t> ParseStatCpuTicks(absl::string_view stat) {
  // "PID (COMMAND) STATE ..." where COMMAND may hold spaces and ')': the
  // fields start after the LAST ')'. Field 3 (state) is the first there;
  // utime is field 14, stime 15.
  const std::size_t close = stat.rfind(')');
  if (close == absl::string_view::npos) return absl::InvalidArgumentError("/proc/PID/stat: no ')'");
  std::vector<absl::string_view> fields =
      absl::StrSplit(stat.substr(close + 1), ' ', absl::SkipWhitespace());
  if (fields.size() < 13) return absl::InvalidArgumentError("/proc/PID/stat: too few fields");
  std::uint64_t utime = 0, stime = 0;
  if (!absl::SimpleAtoi(fields[14 - 3], &utime) || !absl::SimpleAtoi(fields[15 - 3], &stime)) {
    return absl::InvalidArgumentError("/proc/PID/stat: utime or stime is not a number");
  }
  return utime + stime;
}

absl::StatusOr<std::uint64_t> ParseStatusCtxSwitches(absl::string_view status) {
  absl::StatusOr<std::uint64_t> voluntary = FieldOf(status, "voluntary_ctxt_switches", "status");
  if (!voluntary.ok()) return voluntary.status();
  absl::StatusOr<std::uint64_t> involuntary =
      FieldOf(status, "nonvoluntary_ctxt_switches", "status");
  if (!involuntary.ok()) return involuntary.status();
  return *voluntary + *involuntary;
}

absl::StatusOr<ThreadDetail> ParseThreadDetail(absl::string_view status, absl::string_view stat) {
  ThreadDetail d;
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    if (absl::ConsumePrefix(&line, "Name:")) {
      d.name = std::string(absl::StripAsciiWhitespace(line));
      break;
    }
  }
  absl::StatusOr<std::uint64_t> voluntary = FieldOf(status, "voluntary_ctxt_switches", "status");
  if (!voluntary.ok()) return voluntary.status();
  absl::StatusOr<std::uint64_t> involuntary =
      FieldOf(status, "nonvoluntary_ctxt_switches", "status");
  if (!involuntary.ok()) return involuntary.status();
  absl::StatusOr<std::uint64_t> ticks = ParseStatCpuTicks(stat);
  if (!ticks.ok()) return ticks.status();
  d.voluntary = *voluntary;
  d.involuntary = *involuntary;
  d.cpu_ticks = *ticks;
  return d;
}

std::string FormatThreadBreakdown(const ThreadDetails& before, const ThreadDetails& after,
                                  std::uint64_t messages, long ticks_per_second) {
  struct Sum {
    std::size_t threads = 0;
    std::uint64_t voluntary = 0, involuntary = 0, ticks = 0;
  };
  std::map<std::string, Sum> by_name;
  for (const auto& [tid, b] : after) {
    ThreadDetail a;
    if (auto it = before.find(tid); it != before.end() && it->second.voluntary <= b.voluntary &&
                                    it->second.involuntary <= b.involuntary &&
                                    it->second.cpu_ticks <= b.cpu_ticks) {
      a = it->second;
    }
    Sum& s = by_name[b.name];
    ++s.threads;
    s.voluntary += b.voluntary - a.voluntary;
    s.involuntary += b.involuntary - a.involuntary;
    s.ticks += b.cpu_ticks - a.cpu_ticks;
  }
  std::vector<std::pair<std::string, Sum>> rows(by_name.begin(), by_name.end());
  std::stable_sort(rows.begin(), rows.end(), [](const auto& x, const auto& y) {
    return x.second.ticks + x.second.voluntary + x.second.involuntary >
           y.second.ticks + y.second.voluntary + y.second.involuntary;
  });
  const double n = static_cast<double>(messages == 0 ? 1 : messages);
  const double us_per_tick = ticks_per_second > 0 ? 1e6 / static_cast<double>(ticks_per_second) : 0;
  std::string out;
  for (const auto& [name, s] : rows) {
    if (s.voluntary + s.involuntary + s.ticks == 0) continue;
    absl::StrAppend(&out, out.empty() ? "" : "; ",
                    absl::StrFormat("%s x%zu %.4f vol + %.4f invol, %.1f us", name, s.threads,
                                    static_cast<double>(s.voluntary) / n,
                                    static_cast<double>(s.involuntary) / n,
                                    static_cast<double>(s.ticks) * us_per_tick / n));
  }
  return out;
}

absl::StatusOr<ProcIo> ParseProcIo(absl::string_view io) {
  absl::StatusOr<std::uint64_t> r = FieldOf(io, "syscr", "/proc/PID/io");
  if (!r.ok()) return r.status();
  absl::StatusOr<std::uint64_t> w = FieldOf(io, "syscw", "/proc/PID/io");
  if (!w.ok()) return w.status();
  return ProcIo{*r, *w};
}

SwitchDelta DiffThreadSwitches(const ThreadSwitches& before, const ThreadSwitches& after) {
  SwitchDelta d;
  d.threads = after.size();
  for (const auto& [tid, count] : after) {
    auto it = before.find(tid);
    if (it != before.end() && it->second <= count) {
      d.switches += count - it->second;
    } else {
      d.switches += count;  // new, or a new thread on a freed id
      ++d.started;
    }
  }
  for (const auto& [tid, count] : before) {
    if (after.find(tid) == after.end()) ++d.exited;
  }
  return d;
}

absl::StatusOr<std::string> ReadProcFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  std::string text;
  int err = 0;
  if (fd < 0) {
    err = errno;
  } else {
    char buf[4096];
    for (;;) {
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n > 0) {
        text.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0) {
        break;
      } else if (errno != EINTR) {
        err = errno;
        break;
      }
    }
    close(fd);
  }
  if (err == 0) return text;
  const std::string what = absl::StrCat(path, ": ", std::strerror(err));
  if (err == ENOENT || err == ESRCH) return absl::NotFoundError(what);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(what);
  return absl::InternalError(what);
}

namespace {

// Calls `visit` with the path of each thread of `pid` (/proc/PID/task/TID)
// and its id. A NotFound from `visit` (the thread exited since the listing)
// skips the thread; another error stops the walk and is returned. NotFound
// when no thread was visited.
absl::Status ForEachThread(
    pid_t pid, const std::function<absl::Status(const std::string& path, pid_t tid)>& visit) {
  const std::string dir = absl::StrCat("/proc/", pid, "/task");
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    const int err = errno;
    const std::string what = absl::StrCat(dir, ": ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(what) : absl::InternalError(what);
  }
  absl::Status failed;
  int visited = 0;
  while (dirent* e = readdir(d)) {
    pid_t tid = 0;
    if (!absl::SimpleAtoi(e->d_name, &tid)) continue;  // "." and ".."
    const absl::Status s = visit(absl::StrCat(dir, "/", tid), tid);
    if (absl::IsNotFound(s)) continue;
    if (!s.ok()) {
      failed = s;
      break;
    }
    ++visited;
  }
  closedir(d);
  if (!failed.ok()) return failed;
  if (visited == 0) return absl::NotFoundError(absl::StrCat(dir, ": no thread left"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ThreadSwitches> ReadThreadSwitches(pid_t pid) {
  ThreadSwitches threads;
  const absl::Status walked = ForEachThread(pid, [&](const std::string& path, pid_t tid) {
    absl::StatusOr<std::string> text = ReadProcFile(path + "/status");
    if (!text.ok()) return text.status();
    absl::StatusOr<std::uint64_t> n = ParseStatusCtxSwitches(*text);
    if (!n.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, "/status: ", n.status().message()));
    }
    threads[tid] = *n;
    return absl::OkStatus();
  });
  if (!walked.ok()) return walked;
  return threads;
}

absl::StatusOr<ThreadDetails> ReadThreadDetails(pid_t pid) {
  ThreadDetails threads;
  const absl::Status walked = ForEachThread(pid, [&](const std::string& path, pid_t tid) {
    absl::StatusOr<std::string> status = ReadProcFile(path + "/status");
    absl::StatusOr<std::string> stat = ReadProcFile(path + "/stat");
    if (absl::IsNotFound(status.status()) || absl::IsNotFound(stat.status())) {
      return absl::NotFoundError(path);
    }
    if (!status.ok()) return status.status();
    if (!stat.ok()) return stat.status();
    absl::StatusOr<ThreadDetail> detail = ParseThreadDetail(*status, *stat);
    if (!detail.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", detail.status().message()));
    }
    threads[tid] = *std::move(detail);
    return absl::OkStatus();
  });
  if (!walked.ok()) return walked;
  return threads;
}

absl::StatusOr<ProcIo> ReadProcIo(pid_t pid) {
  const std::string path = absl::StrCat("/proc/", pid, "/io");
  absl::StatusOr<std::string> text = ReadProcFile(path);
  if (!text.ok()) return text.status();
  return ParseProcIo(*text);
}

}  // namespace courier::load
