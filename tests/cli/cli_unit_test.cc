// Unit tests of courier-cli's pieces that need no server: the --server URL, the
// token file, the XDG config directory and settings.json, the JSON helpers and the
// error-frame mapping. (The chat screen: chat_screen_test.cc.)
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "chat_session.h"
#include "credentials.h"
#include "json.h"
#include "server_url.h"
#include "support/status_matchers.h"
#include "support/temp_dir.h"

namespace courier_cli {
namespace {

using courier::testing::IsOk;
using courier::testing::StatusIs;
using courier::testing::TempDir;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

TEST_CASE("ParseServerUrl: schemes, default ports, hosts", "[cli]") {
  struct Case {
    const char* url;
    bool tls;
    const char* host;
    const char* port;
    const char* canonical;  // ToString
  };
  const Case cases[] = {
      {"ws://127.0.0.1:8080", false, "127.0.0.1", "8080", "http://127.0.0.1:8080"},
      {"wss://chat.example.org", true, "chat.example.org", "443", "https://chat.example.org:443"},
      {"http://localhost/", false, "localhost", "80", "http://localhost:80"},
      {"https://h:9443", true, "h", "9443", "https://h:9443"},
      {"10.0.0.5:7000", false, "10.0.0.5", "7000", "http://10.0.0.5:7000"},  // bare: http
      {"ws://[::1]:8080", false, "::1", "8080", "http://[::1]:8080"},
  };
  for (const Case& c : cases) {
    INFO(c.url);
    auto url = ParseServerUrl(c.url);
    COURIER_REQUIRE_OK(url);
    CHECK(url->tls == c.tls);
    CHECK(url->host == c.host);
    CHECK(url->port == c.port);
    CHECK(ToString(*url) == c.canonical);
  }
}

TEST_CASE("ParseServerUrl: refuses what it cannot use", "[cli]") {
  for (const char* bad : {"ftp://h:1", "ws://h:1/v1/ws", "ws://:80", "ws://h:0", "ws://h:65536",
                          "ws://h:8o", "ws://[::1:80", "ws://[::1]x", ""}) {
    INFO(bad);
    CHECK_THAT(ParseServerUrl(bad).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  }
  CHECK_THAT(ParseServerUrl(std::string(3000, 'a')).status(),
             StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_CASE("Credentials: save then load round-trips, file private", "[cli]") {
  TempDir dir;
  const std::string path = dir.File("sub/token");
  Credentials c{"http://127.0.0.1:8080", "alice", "a.b.c", NowMs() + 3600 * 1000};
  REQUIRE_THAT(SaveCredentials(path, c), IsOk());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat(dir.File("sub").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);

  auto loaded = LoadCredentials(path);
  COURIER_REQUIRE_OK(loaded);
  CHECK(loaded->server == c.server);
  CHECK(loaded->user == "alice");
  CHECK(loaded->token == "a.b.c");
  CHECK(loaded->expires_at == c.expires_at);

  // Saving again replaces it.
  c.user = "bob";
  REQUIRE_THAT(SaveCredentials(path, c), IsOk());
  CHECK(LoadCredentials(path)->user == "bob");
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_CASE("Credentials: missing, expired, or not a token file", "[cli]") {
  TempDir dir;
  CHECK_THAT(LoadCredentials(dir.File("none")).status(), StatusIs(absl::StatusCode::kUnauthenticated));

  REQUIRE_THAT(SaveCredentials(dir.File("old"), {"s", "alice", "t", NowMs() - 1000}), IsOk());
  CHECK_THAT(LoadCredentials(dir.File("old")).status(), StatusIs(absl::StatusCode::kUnauthenticated));

  std::ofstream(dir.File("garbage")) << "not json";
  CHECK_THAT(LoadCredentials(dir.File("garbage")).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  std::ofstream(dir.File("empty-token")) << R"({"user":"alice","token":""})";
  CHECK_THAT(LoadCredentials(dir.File("empty-token")).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  std::ofstream(dir.File("huge")) << std::string(100 * 1024, ' ');
  CHECK_THAT(LoadCredentials(dir.File("huge")).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_CASE("ConfigDir: $XDG_CONFIG_HOME/courier, else ~/.config/courier", "[cli]") {
  const char* old_xdg = std::getenv("XDG_CONFIG_HOME");
  const char* old_home = std::getenv("HOME");
  const std::string saved_xdg = old_xdg ? old_xdg : "";
  const std::string saved_home = old_home ? old_home : "";
  ::unsetenv("COURIER_CLI_TOKEN_FILE");
  ::setenv("HOME", "/home/alice", 1);
  ::setenv("XDG_CONFIG_HOME", "/cfg", 1);
  CHECK(ConfigDir() == "/cfg/courier");
  CHECK(DefaultTokenFile() == "/cfg/courier/token");
  CHECK(DefaultSettingsFile() == "/cfg/courier/settings.json");
  ::setenv("XDG_CONFIG_HOME", "relative/cfg", 1);  // the spec says: ignore a relative path
  CHECK(ConfigDir() == "/home/alice/.config/courier");
  ::unsetenv("XDG_CONFIG_HOME");
  CHECK(DefaultTokenFile() == "/home/alice/.config/courier/token");
  if (old_xdg) ::setenv("XDG_CONFIG_HOME", saved_xdg.c_str(), 1);
  if (old_home) ::setenv("HOME", saved_home.c_str(), 1);
}

TEST_CASE("LoadSettings: optional file, known string keys only", "[cli]") {
  TempDir dir;
  auto none = LoadSettings(dir.File("absent.json"));
  COURIER_REQUIRE_OK(none);
  CHECK(none->server.empty());
  std::ofstream(dir.File("ok.json")) << R"({"server":"wss://chat.example.org","chat_device":"laptop"})";
  auto ok = LoadSettings(dir.File("ok.json"));
  COURIER_REQUIRE_OK(ok);
  CHECK(ok->server == "wss://chat.example.org");
  CHECK(ok->chat_device == "laptop");
  std::ofstream(dir.File("typo.json")) << R"({"sever":"x"})";
  CHECK_THAT(LoadSettings(dir.File("typo.json")).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  std::ofstream(dir.File("number.json")) << R"({"server":8080})";
  CHECK_THAT(LoadSettings(dir.File("number.json")).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  std::ofstream(dir.File("junk.json")) << "server = x";
  CHECK_THAT(LoadSettings(dir.File("junk.json")).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_CASE("JsonObject: escapes strings and parses back", "[cli]") {
  const std::string body = "quote \" backslash \\ newline \n tab \t nul-free ✓ 😀";
  const std::string text =
      JsonObject().Add("op", "send").Add("body", body).Add("seq", int64_t{9007199254740993}).AddBool("dup", true).str();
  CHECK(text.find('\n') == std::string::npos);
  auto doc = ParseObject(text);
  COURIER_REQUIRE_OK(doc);
  CHECK(StringField(*doc, "op") == "send");
  CHECK(StringField(*doc, "body") == body);
  CHECK(IntField(*doc, "seq") == int64_t{9007199254740993});
  CHECK(!StringField(*doc, "seq").has_value());
  CHECK(!IntField(*doc, "body").has_value());
  CHECK(!StringField(*doc, "absent").has_value());
  CHECK(Compact(*doc) == text);
}

TEST_CASE("ParseObject: only a JSON object", "[cli]") {
  CHECK_THAT(ParseObject("[1,2]").status(), StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(ParseObject("{\"a\":").status(), StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(ParseObject("").status(), StatusIs(absl::StatusCode::kInvalidArgument));
  COURIER_REQUIRE_OK(ParseObject("{}"));
}

TEST_CASE("FrameError: each protocol error code maps to its own status code", "[cli]") {
  const std::pair<const char*, absl::StatusCode> cases[] = {
      {"unauthorized", absl::StatusCode::kUnauthenticated},
      {"not_friends", absl::StatusCode::kFailedPrecondition},
      {"unknown_user", absl::StatusCode::kNotFound},
      {"too_large", absl::StatusCode::kInvalidArgument},
      {"bad_frame", absl::StatusCode::kInvalidArgument},
      {"bad_seq", absl::StatusCode::kInvalidArgument},
      {"rate_limited", absl::StatusCode::kResourceExhausted},
      {"queue_full", absl::StatusCode::kResourceExhausted},
      {"unavailable", absl::StatusCode::kUnavailable},
      {"unknown_op", absl::StatusCode::kUnknown},
  };
  for (const auto& [code, want] : cases) {
    auto frame = ParseObject(JsonObject().Add("op", "error").Add("code", code).Add("message", "why").str());
    COURIER_REQUIRE_OK(frame);
    const absl::Status s = FrameError(*frame);
    INFO(code);
    CHECK_THAT(s, StatusIs(want));
    CHECK(std::string(s.message()).find(code) != std::string::npos);
    CHECK(std::string(s.message()).find("why") != std::string::npos);
  }
}

}  // namespace
}  // namespace courier_cli
