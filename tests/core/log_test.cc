// courier/log.h: the process-wide sink the embedding program sets.
#include "courier/log.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "courier/sync.h"

namespace courier {
namespace {

struct Captured {
  LogLevel level;
  std::string component;
  std::string message;
};

TEST_CASE("Log: records reach the sink the host set; none without one", "[log]") {
  Mutex mu;
  std::vector<Captured> got;
  SetLogSink([&](const LogRecord& r) {
    MutexLock lock(&mu);
    got.push_back({r.level, std::string(r.component), std::string(r.message)});
  });
  Log(LogLevel::kWarning, "courier::test", "first");
  Log(LogLevel::kError, "mongoc", "second");
  SetLogSink(nullptr);  // back to the default: discard
  Log(LogLevel::kError, "courier::test", "dropped");
  MutexLock lock(&mu);
  REQUIRE(got.size() == 2);
  CHECK(got[0].level == LogLevel::kWarning);
  CHECK(got[0].component == "courier::test");
  CHECK(got[0].message == "first");
  CHECK(got[1].level == LogLevel::kError);
  CHECK(got[1].component == "mongoc");
  CHECK(LogLevelName(LogLevel::kWarning) == "warning");
  CHECK(LogLevelName(LogLevel::kDebug) == "debug");
}

TEST_CASE("Log: a sink may log or replace itself; concurrent Log and SetLogSink", "[log]") {
  std::atomic<int> calls{0};
  SetLogSink([&calls](const LogRecord& r) {
    calls.fetch_add(1);
    if (r.message == "reenter") Log(LogLevel::kInfo, "courier::test", "inner");
  });
  Log(LogLevel::kInfo, "courier::test", "reenter");  // no deadlock
  CHECK(calls.load() == 2);

  std::atomic<bool> stop{false};
  std::vector<std::thread> loggers;
  for (int t = 0; t < 3; ++t) {
    loggers.emplace_back([&stop] {
      while (!stop.load()) Log(LogLevel::kDebug, "courier::test", "x");
    });
  }
  std::atomic<int> counted{0};
  for (int i = 0; i < 200; ++i) {
    SetLogSink([&counted](const LogRecord&) { counted.fetch_add(1); });
    SetLogSink(nullptr);
  }
  stop.store(true);
  for (auto& t : loggers) t.join();
  SetLogSink(nullptr);
  CHECK(counted.load() >= 0);
}

TEST_CASE("Log: StderrLogSink is a usable sink", "[log]") {
  LogSink sink = StderrLogSink();
  REQUIRE(sink);
  sink(LogRecord{LogLevel::kInfo, "courier::test", "StderrLogSink writes this line"});
}

}  // namespace
}  // namespace courier
