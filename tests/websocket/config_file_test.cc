// Tests of examples/server/config_file.h and --config in ParseOptions:
// the TOML subset, precedence (flags > environment > file > default) and
// the errors (unknown key, bad value, unreadable file: exit code 2).
#include "config_file.h"

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <variant>
#include <vector>

#include "options.h"
#include "support/status_matchers.h"

namespace courier::server {
namespace {

using ::courier::testing::StatusIs;

std::variant<ServerFlags, int> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "courier-server");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return ParseOptions(static_cast<int>(argv.size()), argv.data());
}

// A config file in a fresh temporary directory.
class TempConfig {
 public:
  explicit TempConfig(const std::string& text) {
    char dir[] = "/tmp/courier-config-test-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    dir_ = dir;
    path_ = dir_ + "/server.toml";
    std::ofstream(path_) << text;
  }
  ~TempConfig() {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

TEST_CASE("Config file: the TOML subset", "[server][config]") {
  auto entries = ParseConfigText(
      "# a comment\n"
      "\n"
      "listen = \"0.0.0.0:9000\"   # trailing comment\n"
      "data_dir = '/var/lib/c#d'\n"
      "window = 1_024\n"
      "tls-cert = \"a \\\"quoted\\\" \\u00e9 name\"\r\n"
      "flag = true\n",
      "f.toml");
  COURIER_REQUIRE_OK(entries);
  REQUIRE(entries->size() == 5);
  CHECK((*entries)[0].key == "listen");
  CHECK((*entries)[0].value == "0.0.0.0:9000");
  CHECK((*entries)[1].key == "data-dir");  // '_' is '-'
  CHECK((*entries)[1].value == "/var/lib/c#d");
  CHECK((*entries)[2].value == "1024");
  CHECK((*entries)[2].line == 5);
  CHECK((*entries)[3].value == "a \"quoted\" \xC3\xA9 name");
  CHECK((*entries)[4].value == "true");
}

TEST_CASE("Config file: syntax errors name the file and line", "[server][config]") {
  for (const char* bad : {"[server]\nlisten = \"x\"", "listen \"x\"", "listen = x", "listen =",
                          "listen = \"open", "window = -5", "window = 1.5", "a = [1, 2]",
                          "listen = \"x\" junk", "window = 1\nwindow = 2", "= 3",
                          "listen = \"\"\"x\"\"\"", "listen = \"\\q\"", "listen = # nothing",
                          "window = +", "window = _1", "window = 1_"}) {
    INFO(bad);
    auto entries = ParseConfigText(bad, "f.toml");
    CHECK_THAT(entries.status(), StatusIs(absl::StatusCode::kInvalidArgument));
    CHECK(entries.status().message().substr(0, 7) == "f.toml:");
  }
}

TEST_CASE("Config file: flags and environment override it", "[server][config]") {
  ::unsetenv("COURIER_NODE_ID");
  ::unsetenv("COURIER_WINDOW");
  ::unsetenv("COURIER_CONFIG");
  TempConfig config(
      "node-id = \"from-file\"\n"
      "window = 512\n"
      "rate-limit = \"7/60\"\n"
      "log-format = \"json\"\n"
      "max-group-members = 64\n"
      "typing-rate = \"4/2\"\n");
  auto parsed = Parse({"--config", config.path()});
  REQUIRE(std::holds_alternative<ServerFlags>(parsed));
  ServerFlags f = std::get<ServerFlags>(parsed);
  CHECK(f.max_group_members == 64);
  CHECK(f.typing_rate == "4/2");
  CHECK(f.node_id == "from-file");
  CHECK(f.window == 512);
  CHECK(f.rate_limit == "7/60");
  CHECK(f.log_format == "json");
  CHECK(f.max_undelivered == 100'000);  // not in the file: the default

  ::setenv("COURIER_NODE_ID", "from-env", 1);
  f = std::get<ServerFlags>(Parse({"--config", config.path(), "--window", "64"}));
  CHECK(f.node_id == "from-env");  // environment over file
  CHECK(f.window == 64);            // command line over file
  CHECK(f.rate_limit == "7/60");
  f = std::get<ServerFlags>(Parse({"--config", config.path(), "--node-id", "from-flag"}));
  CHECK(f.node_id == "from-flag");  // command line over environment
  ::unsetenv("COURIER_NODE_ID");

  ::setenv("COURIER_CONFIG", config.path().c_str(), 1);  // the file itself by environment
  f = std::get<ServerFlags>(Parse({}));
  CHECK(f.window == 512);
  ::unsetenv("COURIER_CONFIG");
}

TEST_CASE("Config file: unknown keys, bad values and unreadable files exit 2",
          "[server][config]") {
  ::unsetenv("COURIER_CONFIG");
  for (const char* text : {"no-such-flag = 1\n", "config = \"other.toml\"\n", "help = true\n",
                           "window = 0\n", "window = \"many\"\n", "log-level = \"loud\"\n",
                           "listen = \"nowhere\"\n", "log-format = \"xml\"\n"}) {
    INFO(text);
    TempConfig config(text);
    auto parsed = Parse({"--config", config.path()});
    REQUIRE(std::holds_alternative<int>(parsed));
    CHECK(std::get<int>(parsed) == 2);
  }
  auto missing = Parse({"--config", "/nonexistent/courier.toml"});
  REQUIRE(std::holds_alternative<int>(missing));
  CHECK(std::get<int>(missing) == 2);
  auto directory = Parse({"--config", "/tmp"});
  REQUIRE(std::holds_alternative<int>(directory));
  CHECK(std::get<int>(directory) == 2);
  CHECK_THAT(ReadConfigFile("/nonexistent/courier.toml").status(),
             StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace courier::server
