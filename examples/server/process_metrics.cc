// process_metrics.cc: /proc/self/stat, /proc/self/fd, /proc/stat (btime).
#include "process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace courier::server {
namespace {

absl::StatusOr<std::string> ReadWhole(const char* path) {
  std::ifstream in(path);
  if (!in) return absl::UnavailableError(fmt::format("cannot read {}", path));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Seconds since the epoch when the machine booted (/proc/stat "btime").
absl::StatusOr<double> BootTime() {
  absl::StatusOr<std::string> text = ReadWhole("/proc/stat");
  if (!text.ok()) return text.status();
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (line.substr(0, 6) != "btime ") continue;
    std::uint64_t v = 0;
    if (absl::SimpleAtoi(line.substr(6), &v)) return static_cast<double>(v);
  }
  return absl::UnavailableError("no btime in /proc/stat");
}

void Metric(std::string& out, const char* name, const char* type, const char* help, double v) {
  fmt::format_to(std::back_inserter(out), "# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help,
                 type, v);
}

}  // namespace

absl::StatusOr<ProcessStats> ReadProcessStats() {
  ProcessStats s;
  absl::StatusOr<std::string> stat = ReadWhole("/proc/self/stat");
  if (!stat.ok()) return stat.status();
  // The command name (field 2) is in parentheses and may hold spaces: the
  // fields after it start behind the last ')'.
  const std::size_t close = stat->rfind(')');
  if (close == std::string::npos) return absl::UnavailableError("malformed /proc/self/stat");
  std::vector<absl::string_view> f =
      absl::StrSplit(absl::string_view(*stat).substr(close + 2), ' ', absl::SkipEmpty());
  // f[0] is field 3 (state): field N is f[N - 3].
  auto field = [&f](std::size_t n, std::uint64_t& out) {
    return n >= 3 && n - 3 < f.size() && absl::SimpleAtoi(f[n - 3], &out);
  };
  std::uint64_t utime = 0, stime = 0, start_ticks = 0, vsize = 0, rss_pages = 0;
  if (!field(14, utime) || !field(15, stime) || !field(22, start_ticks) || !field(23, vsize) ||
      !field(24, rss_pages)) {
    return absl::UnavailableError("malformed /proc/self/stat");
  }
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const std::uint64_t page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  s.cpu_seconds = static_cast<double>(utime + stime) / ticks;
  s.virtual_bytes = vsize;
  s.resident_bytes = rss_pages * page;
  absl::StatusOr<double> boot = BootTime();
  if (!boot.ok()) return boot.status();
  s.start_time_seconds = *boot + static_cast<double>(start_ticks) / ticks;
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++s.open_fds;
  }
  if (ec) return absl::UnavailableError("cannot list /proc/self/fd");
  if (s.open_fds > 0) --s.open_fds;  // the directory iterator's own descriptor
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) s.max_fds = limit.rlim_cur;
  return s;
}

std::string ProcessMetricsText(const ProcessStats& s) {
  std::string out;
  Metric(out, "process_cpu_seconds_total", "counter", "User and system CPU time spent, seconds.",
         s.cpu_seconds);
  Metric(out, "process_resident_memory_bytes", "gauge", "Resident memory size, bytes.",
         static_cast<double>(s.resident_bytes));
  Metric(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size, bytes.",
         static_cast<double>(s.virtual_bytes));
  Metric(out, "process_open_fds", "gauge", "Open file descriptors.",
         static_cast<double>(s.open_fds));
  Metric(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
         static_cast<double>(s.max_fds));
  Metric(out, "process_start_time_seconds", "gauge",
         "Start time of the process since the unix epoch, seconds.", s.start_time_seconds);
  return out;
}

}  // namespace courier::server
