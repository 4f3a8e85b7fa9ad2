// Tests of examples/server/push_payload.h: the JSON a push carries and its
// limits.
#include "push_payload.h"

#include <string>

#include <catch2/catch.hpp>

#include "rapidjson/document.h"

namespace courier::server {
namespace {

PushNotice Notice() {
  PushNotice n;
  n.user = "bob";
  n.count = 3;
  n.senders = {"alice", "carol"};
  return n;
}

Event Message(const std::string& from, const std::string& body) {
  Event e;
  e.id = "m1";
  e.peer = from;
  e.body = body;
  e.ts = 1700000000000;
  return e;
}

TEST_CASE("a names-only push names the user, the count and the senders", "[push]") {
  CHECK(PushPayloadJson(Notice(), 4000) ==
        R"({"type":"inbox","user":"bob","count":3,"senders":["alice","carol"]})");
}

TEST_CASE("a full push carries the messages, bodies cut at a UTF-8 boundary", "[push]") {
  PushNotice n = Notice();
  // 999 ASCII bytes then a 3-byte character: the cut at 1000 bytes falls
  // inside it, so the character goes whole.
  n.messages = {Message("alice", std::string(999, 'a') + "\xE2\x82\xAC" + "tail")};
  const std::string json = PushPayloadJson(n, 4000);
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  REQUIRE_FALSE(doc.HasParseError());
  const auto& m = doc["messages"][0];
  CHECK(std::string(m["from"].GetString()) == "alice");
  CHECK(m["ts"].GetInt64() == 1700000000000);
  CHECK(std::string(m["body"].GetString()) == std::string(999, 'a'));
}

TEST_CASE("a full push that would not fit drops the messages", "[push]") {
  PushNotice n = Notice();
  n.messages = {Message("alice", std::string(900, 'x')), Message("carol", std::string(900, 'y'))};
  const std::string full = PushPayloadJson(n, 4000);
  CHECK(full.find("\"messages\"") != std::string::npos);
  const std::string small = PushPayloadJson(n, 1000);
  CHECK(small == PushPayloadJson(Notice(), 1000));
  CHECK(small.size() <= 1000);
}

}  // namespace
}  // namespace courier::server
