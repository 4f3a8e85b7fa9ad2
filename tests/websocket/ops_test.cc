// Tests of courier-server's operations helpers: the JSON log lines
// (log_format.h), the process metrics (process_metrics.h), the admin token
// file (admin_token.h) and the metrics' base units (metrics.h).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "admin_token.h"
#include "courier/version.h"
#include "log_format.h"
#include "metrics.h"
#include "process_metrics.h"
#include "rapidjson/document.h"
#include "support/status_matchers.h"

namespace courier::server {
namespace {

using ::courier::testing::StatusIs;

rapidjson::Document ParseJson(const std::string& text) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag>(text.data(), text.size());
  REQUIRE_FALSE(d.HasParseError());
  REQUIRE(d.IsObject());
  return d;
}

TEST_CASE("JSON log: key=value text becomes message and fields", "[server][log]") {
  rapidjson::Document d = ParseJson(JsonLogLine(
      "2026-12-06T03:45:05.123Z", "info",
      "event=started listen=127.0.0.1:8080 store=\"rocksdb:./x y\" note=\"say \"hi\" now\""));
  CHECK(std::string(d["time"].GetString()) == "2026-12-06T03:45:05.123Z");
  CHECK(std::string(d["level"].GetString()) == "info");
  CHECK(std::string(d["message"].GetString()) == "started");
  const auto& f = d["fields"];
  CHECK(std::string(f["listen"].GetString()) == "127.0.0.1:8080");
  CHECK(std::string(f["store"].GetString()) == "rocksdb:./x y");
  CHECK(std::string(f["note"].GetString()) == "say \"hi\" now");
  CHECK_FALSE(f.HasMember("event"));
}

TEST_CASE("JSON log: free text, control bytes and bad UTF-8 stay valid JSON", "[server][log]") {
  rapidjson::Document d =
      ParseJson(JsonLogLine("t", "warning", "plain words\n\t\x01 and \xff\xfe bytes \xC3\xA9"));
  CHECK(std::string(d["message"].GetString()) ==
        "plain words\n\t\x01 and \xEF\xBF\xBD\xEF\xBF\xBD bytes \xC3\xA9");
  CHECK(d["fields"].ObjectEmpty());
}

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

TEST_CASE("Metrics: base units and build info", "[server][metrics]") {
  EngineStats e;
  e.commits = 4;
  e.commit_latency_us_total = 2'500'000;  // 2.5 s
  const std::string text = PrometheusText(e, websocket::ServerStats{});
  CHECK(text.find("courier_commit_latency_seconds_total 2.5\n") != std::string::npos);
  CHECK(text.find("microseconds") == std::string::npos);
  CHECK(text.find(std::string("courier_build_info{version=\"") + kVersion + "\",commit=\"" +
                  kGitCommit + "\"} 1\n") != std::string::npos);
}

TEST_CASE("Admin token: made once with mode 0600, then read", "[server][admin]") {
  char dir[] = "/tmp/courier-admin-token-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string path = std::string(dir) + "/admin-token";
  CHECK_THAT(LoadOrCreateAdminToken(path, false).status(), StatusIs(absl::StatusCode::kNotFound));
  auto made = LoadOrCreateAdminToken(path, true);
  COURIER_REQUIRE_OK(made);
  CHECK(made->size() == 64);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto again = LoadOrCreateAdminToken(path, true);
  COURIER_REQUIRE_OK(again);
  CHECK(*again == *made);
  CHECK(TokenMatches(*made, *again));
  CHECK_FALSE(TokenMatches(made->substr(1), *made));
  CHECK_FALSE(TokenMatches("", *made));

  const std::string own = std::string(dir) + "/own-token";
  std::ofstream(own) << "  a-token-of-my-own-choice  \n";
  auto read = LoadOrCreateAdminToken(own, false);
  COURIER_REQUIRE_OK(read);
  CHECK(*read == "a-token-of-my-own-choice");
  std::ofstream(own, std::ios::trunc) << "short\n";
  CHECK_THAT(LoadOrCreateAdminToken(own, false).status(),
             StatusIs(absl::StatusCode::kInvalidArgument));
  std::ofstream(own, std::ios::trunc) << "a token with spaces inside\n";
  CHECK_THAT(LoadOrCreateAdminToken(own, false).status(),
             StatusIs(absl::StatusCode::kInvalidArgument));
  ::unlink(path.c_str());
  ::unlink(own.c_str());
  ::rmdir(dir);
}

}  // namespace
}  // namespace courier::server
