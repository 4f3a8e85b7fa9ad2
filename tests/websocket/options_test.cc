// Tests of examples/server/options.h: the flags and their env fallbacks.
#include "options.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "support/status_matchers.h"

namespace courier::server {
namespace {

std::variant<ServerFlags, int> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "courier-server");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return ParseOptions(static_cast<int>(argv.size()), argv.data());
}

TEST_CASE("Options: HOST:PORT", "[server][options]") {
  auto hp = ParseHostPort("127.0.0.1:0");
  REQUIRE(hp.has_value());
  CHECK(hp->host == "127.0.0.1");
  CHECK(hp->port == 0);
  hp = ParseHostPort("[::1]:8080");
  REQUIRE(hp.has_value());
  CHECK(hp->host == "::1");
  CHECK(hp->port == 8080);
  for (const char* bad : {"", "8080", ":8080", "host:", "host:65536", "host:-1", "host:8o"}) {
    INFO(bad);
    CHECK_FALSE(ParseHostPort(bad).has_value());
  }
}

TEST_CASE("Options: N/SECONDS rate limits", "[server][options]") {
  auto r = ParseRateLimit("50/900");
  REQUIRE(r.has_value());
  CHECK(r->count == 50);
  CHECK(r->period_s == 900);
  for (const char* bad : {"", "50", "0/10", "10/0", "a/b", "5/-1", "1/2/3"}) {
    INFO(bad);
    CHECK_FALSE(ParseRateLimit(bad).has_value());
  }
}

TEST_CASE("Options: defaults, flags, and COURIER_ environment fallbacks", "[server][options]") {
  ::unsetenv("COURIER_NODE_ID");
  auto parsed = Parse({"--listen", "127.0.0.1:0", "--data-dir", "/tmp/x"});
  REQUIRE(std::holds_alternative<ServerFlags>(parsed));
  ServerFlags f = std::get<ServerFlags>(parsed);
  CHECK(f.listen == "127.0.0.1:0");
  CHECK(f.rate_limit == "50/900");
  CHECK(f.node_id == "node-1");
  CHECK(f.presence_ttl_ms == 30'000);
  f = std::get<ServerFlags>(Parse({"--presence-ttl-ms", "9000"}));
  CHECK(f.presence_ttl_ms == 9'000);

  ::setenv("COURIER_NODE_ID", "from-env", 1);
  f = std::get<ServerFlags>(Parse({}));
  CHECK(f.node_id == "from-env");
  f = std::get<ServerFlags>(Parse({"--node-id", "from-flag"}));
  CHECK(f.node_id == "from-flag");
  ::unsetenv("COURIER_NODE_ID");
}

TEST_CASE("Options: group limits and the typing rate", "[server][options]") {
  ServerFlags f = std::get<ServerFlags>(Parse({}));
  CHECK(f.max_group_members == 256);
  CHECK(f.max_groups_per_user == 256);
  CHECK(f.typing_rate == "20/10");
  f = std::get<ServerFlags>(Parse({"--max-group-members", "1024", "--max-groups-per-user", "3",
                                   "--typing-rate", "2/1"}));
  CHECK(f.max_group_members == 1024);
  CHECK(f.max_groups_per_user == 3);
  CHECK(f.typing_rate == "2/1");
  f = std::get<ServerFlags>(Parse({"--max-group-members", "1"}));
  CHECK(f.max_group_members == 1);
}

TEST_CASE("Options: a bad command line exits 2", "[server][options]") {
  for (std::vector<std::string> bad : {std::vector<std::string>{"--listen", "nowhere"},
                                       {"--rate-limit", "fast"},
                                       {"--tls-cert", "c.pem"},
                                       {"--no-such-flag"},
                                       {"--log-level", "loud"},
                                       {"--durability", "maybe"},
                                       {"--presence-ttl-ms", "299"},
                                       {"--presence-ttl-ms", "86400001"},
                                       {"--max-group-members", "0"},
                                       {"--max-group-members", "1025"},
                                       {"--max-groups-per-user", "0"},
                                       {"--typing-rate", "20"},
                                       {"--typing-rate", "0/10"}}) {
    INFO(bad[0]);
    auto parsed = Parse(bad);
    REQUIRE(std::holds_alternative<int>(parsed));
    CHECK(std::get<int>(parsed) == 2);
  }
}

}  // namespace
}  // namespace courier::server
