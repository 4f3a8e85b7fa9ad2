// Tests of examples/server/process_metrics.h: the process figures read from
// /proc, in Prometheus base units.
#include "process_metrics.h"

#include <ctime>
#include <string>

#include <catch2/catch.hpp>

#include "support/status_matchers.h"

namespace courier::server {
namespace {

TEST_CASE("Process metrics: read from /proc, in base units", "[server][metrics]") {
  auto stats = ReadProcessStats();
  COURIER_REQUIRE_OK(stats);
  CHECK(stats->resident_bytes > 1024 * 1024);  // a test binary is over 1 MiB resident
  CHECK(stats->open_fds >= 3);
  CHECK(stats->max_fds >= stats->open_fds);
  CHECK(stats->start_time_seconds > 1.6e9);               // after 2020
  CHECK(stats->start_time_seconds <= static_cast<double>(time(nullptr)) + 1);
  CHECK(stats->cpu_seconds >= 0);
  const std::string text = ProcessMetricsText(*stats);
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_open_fds", "process_start_time_seconds"}) {
    INFO(name);
    CHECK(text.find(std::string("\n") + name + " ") != std::string::npos);
  }
}

}  // namespace
}  // namespace courier::server
