// The /proc readings behind the server's per-message figures: parsers on
// fixed texts (what a figure is computed from must parse, or be refused), the
// thread-by-thread context switch delta, and live reads of this process.
#include "proc_stats.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <catch2/catch.hpp>

#include "server_process.h"

namespace courier::load {
namespace {

// A real line's shape: fields 14 and 15 (utime 1500, stime 300), a command
// holding spaces and ')'.
constexpr char kStat[] =
    "4242 (courier (io) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 1500 300 0 0 20 0 9 0 "
    "123456 1048576000 20000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0 "
    "0 0 0 0 0 0 0 0\n";

constexpr char kStatus[] =
    "Name:\tcourier-server\n"
    "State:\tS (sleeping)\n"
    "Threads:\t9\n"
    "voluntary_ctxt_switches:\t120034\n"
    "nonvoluntary_ctxt_switches:\t4521\n";

constexpr char kIo[] =
    "rchar: 812345\n"
    "wchar: 912345\n"
    "syscr: 40211\n"
    "syscw: 38810\n"
    "read_bytes: 0\n"
    "write_bytes: 4096\n"
    "cancelled_write_bytes: 0\n";

TEST_CASE("ParseStatCpuTicks: utime + stime after the command's last ')'", "[bench]") {
  absl::StatusOr<std::uint64_t> t = ParseStatCpuTicks(kStat);
  REQUIRE(t.ok());
  CHECK(*t == 1800);
  CHECK_FALSE(ParseStatCpuTicks("").ok());
  CHECK_FALSE(ParseStatCpuTicks("4242 (x) S 1 2 3").ok());  // too few fields
  CHECK_FALSE(ParseStatCpuTicks("4242 (x) S 1 2 3 4 5 6 7 8 9 10 abc 12 13 14").ok());
}

TEST_CASE("ParseStatusCtxSwitches: voluntary + nonvoluntary, both required", "[bench]") {
  absl::StatusOr<std::uint64_t> n = ParseStatusCtxSwitches(kStatus);
  REQUIRE(n.ok());
  CHECK(*n == 120034 + 4521);
  // Only one of the two (the "nonvoluntary" line must not pass for the other).
  CHECK_FALSE(ParseStatusCtxSwitches("nonvoluntary_ctxt_switches:\t5\n").ok());
  CHECK_FALSE(ParseStatusCtxSwitches("voluntary_ctxt_switches:\t5\n").ok());
  CHECK_FALSE(
      ParseStatusCtxSwitches("voluntary_ctxt_switches:\tx\nnonvoluntary_ctxt_switches:\t5\n").ok());
  CHECK_FALSE(ParseStatusCtxSwitches("").ok());
}

TEST_CASE("ParseThreadDetail and FormatThreadBreakdown: per thread name", "[bench]") {
  absl::StatusOr<ThreadDetail> d = ParseThreadDetail(kStatus, kStat);
  REQUIRE(d.ok());
  CHECK(d->name == "courier-server");
  CHECK(d->voluntary == 120034);
  CHECK(d->involuntary == 4521);
  CHECK(d->cpu_ticks == 1800);
  CHECK_FALSE(ParseThreadDetail("voluntary_ctxt_switches:\t5\n", kStat).ok());
  CHECK_FALSE(ParseThreadDetail(kStatus, "4242 (x) S 1").ok());

  ThreadDetails before{{10, {"courier-io", 100, 50, 1000}}, {11, {"courier-io", 200, 60, 900}},
                       {12, {"courier-commit", 10, 1, 100}}, {13, {"idle", 5, 0, 3}}};
  ThreadDetails after{{10, {"courier-io", 110, 70, 1100}}, {11, {"courier-io", 230, 60, 1000}},
                      {12, {"courier-commit", 30, 2, 150}}, {13, {"idle", 5, 0, 3}},
                      {14, {"new", 4, 0, 0}}};
  // 100 messages, 100 ticks a second (10,000 us a tick).
  const std::string line = FormatThreadBreakdown(before, after, 100, 100);
  CHECK(line ==
        "courier-io x2 0.4000 vol + 0.2000 invol, 20000.0 us; "
        "courier-commit x1 0.2000 vol + 0.0100 invol, 5000.0 us; "
        "new x1 0.0400 vol + 0.0000 invol, 0.0 us");
}

TEST_CASE("ParseProcIo: syscr and syscw, both required", "[bench]") {
  absl::StatusOr<ProcIo> io = ParseProcIo(kIo);
  REQUIRE(io.ok());
  CHECK(io->syscr == 40211);
  CHECK(io->syscw == 38810);
  CHECK_FALSE(ParseProcIo("rchar: 1\nsyscr: 2\n").ok());
  CHECK_FALSE(ParseProcIo("syscr: 2\nsyscw: -1\n").ok());
  CHECK_FALSE(ParseProcIo("").ok());
}

TEST_CASE("DiffThreadSwitches: per thread; started count from 0, exited are counted",
          "[bench]") {
  const ThreadSwitches before{{10, 100}, {11, 50}, {12, 7}};
  // 10: +20; 11: exited; 12: +3; 13: new (5); 14: new (9).
  const ThreadSwitches after{{10, 120}, {12, 10}, {13, 5}, {14, 9}};
  SwitchDelta d = DiffThreadSwitches(before, after);
  CHECK(d.switches == 20 + 3 + 5 + 9);
  CHECK(d.threads == 4);
  CHECK(d.started == 2);
  CHECK(d.exited == 1);

  // A thread id reused by a new thread (its count went down) counts from 0.
  d = DiffThreadSwitches({{10, 100}}, {{10, 4}});
  CHECK(d.switches == 4);
  CHECK(d.started == 1);
  CHECK(d.exited == 0);

  d = DiffThreadSwitches(before, before);
  CHECK(d.switches == 0);
  CHECK(d.threads == 3);
}

TEST_CASE("ReadThreadSwitches, ReadProcIo, ProcessCpuMicros: this process", "[bench]") {
  std::atomic<bool> stop{false};
  std::thread other([&] {
    while (!stop.load()) std::this_thread::yield();
  });
  absl::StatusOr<ThreadSwitches> threads = ReadThreadSwitches(getpid());
  REQUIRE(threads.ok());
  CHECK(threads->size() >= 2);
  CHECK(threads->count(getpid()) == 1);  // the main thread's id is the pid
  stop.store(true);
  other.join();

  absl::StatusOr<ProcIo> a = ReadProcIo(getpid());
  REQUIRE(a.ok());
  const int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  for (int i = 0; i < 10; ++i) REQUIRE(write(fd, "x", 1) == 1);
  close(fd);
  absl::StatusOr<ProcIo> b = ReadProcIo(getpid());
  REQUIRE(b.ok());
  CHECK(b->syscw >= a->syscw + 10);
  CHECK(b->syscr > a->syscr);  // reading /proc/self/io is a read

  CHECK(ProcessCpuMicros(getpid()).ok());
}

TEST_CASE("The Read functions fail on a process that does not exist", "[bench]") {
  const pid_t none = 2147483600;  // above any pid_max
  CHECK(absl::IsNotFound(ReadThreadSwitches(none).status()));
  CHECK(absl::IsNotFound(ReadProcIo(none).status()));
  CHECK(absl::IsNotFound(ProcessCpuMicros(none).status()));
}

}  // namespace
}  // namespace courier::load
