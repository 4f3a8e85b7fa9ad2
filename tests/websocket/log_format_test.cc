// Tests of examples/server/log_format.h: the JSON log lines (--log-format
// json) stay valid JSON whatever the text.
#include "log_format.h"

#include <string>

#include <catch2/catch.hpp>

#include "rapidjson/document.h"

namespace courier::server {
namespace {

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

}  // namespace
}  // namespace courier::server
