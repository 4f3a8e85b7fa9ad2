// Tests of examples/server/metrics.h: the /metrics text in base units, with
// the build info.
#include "metrics.h"

#include <string>

#include <catch2/catch.hpp>

#include "courier/version.h"

namespace courier::server {
namespace {

TEST_CASE("Metrics: base units and build info", "[server][metrics]") {
  EngineStats e;
  e.commits = 4;
  e.commit_latency_us_total = 2'500'000;  // 2.5 s
  e.commit_busy_us_total = 1'250'000;
  const std::string text = PrometheusText(e, websocket::ServerStats{});
  CHECK(text.find("courier_commit_latency_seconds_total 2.5\n") != std::string::npos);
  CHECK(text.find("courier_commit_busy_seconds_total 1.25\n") != std::string::npos);
  CHECK(text.find("microseconds") == std::string::npos);
  CHECK(text.find(std::string("courier_build_info{version=\"") + kVersion + "\",commit=\"" +
                  kGitCommit + "\"} 1\n") != std::string::npos);
}

}  // namespace
}  // namespace courier::server
