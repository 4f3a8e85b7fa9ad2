// Tests of ws_handshake.h: the opening handshake's accept key, version and
// key checks, and the 101 response.
#include "ws_handshake.h"

#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/status/status.h"
namespace courier::websocket::internal {
namespace {

TEST_CASE("SecWebSocketAccept: the RFC 6455 example", "[websocket][ws_handshake]") {
  // RFC 6455 section 1.3.
  CHECK(SecWebSocketAccept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  // Worked out with another SHA-1 and base64 (Python's hashlib): keys of
  // bytes 1..16 and of sixteen zeros.
  CHECK(SecWebSocketAccept("AQIDBAUGBwgJCgsMDQ4PEA==") == "C/0nmHhBztSRGR1CwL6Tf4ZjwpY=");
  CHECK(SecWebSocketAccept("AAAAAAAAAAAAAAAAAAAAAA==") == "ICX+Yqv66kxgM0FcWaLWlFLwTAI=");
}

TEST_CASE("CheckUpgrade: version and key", "[websocket][ws_handshake]") {
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  SECTION("version 13 and a 16-byte key") {
    auto accept = CheckUpgrade("13", key);
    REQUIRE(accept.ok());
    CHECK(*accept == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    auto other = CheckUpgrade("13", "AAAAAAAAAAAAAAAAAAAAAA==");
    REQUIRE(other.ok());
    CHECK(*other == SecWebSocketAccept("AAAAAAAAAAAAAAAAAAAAAA=="));
  }
  SECTION("another version is FailedPrecondition") {
    for (std::string_view v : {"8", "", "12", "1", "130", "14", "7, 8"}) {
      INFO("version '" << v << "'");
      auto r = CheckUpgrade(v, key);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == absl::StatusCode::kFailedPrecondition);
    }
  }
  SECTION("a missing or malformed key is InvalidArgument") {
    const std::vector<std::string> bad = {
        "",                              // missing
        "!!!!!!!!!!!!!!!!!!!!!!==",      // not base64, right length
        "dGhlIHNhbXBsZSBub25j*Q==",      // one character not base64
        "AQIDBAUGBwgJCgsMDQ4P",          // base64 of 15 bytes
        "AQIDBAUGBwgJCgsMDQ4PEBE=",      // base64 of 17 bytes
        "AQIDBAUGBwgJCgsMDQ4PEBES",      // base64 of 18 bytes
        "AQID",                          // 3 bytes
        "dGhlIHNhbXBsZSBub25jZQ==dGhl",  // 16 bytes then more
    };
    for (const std::string& k : bad) {
      INFO("key '" << k << "'");
      auto r = CheckUpgrade("13", k);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST_CASE("SwitchingProtocolsResponse", "[websocket][ws_handshake]") {
  const std::string accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
  const std::string r = SwitchingProtocolsResponse(accept);
  CHECK(r.rfind("HTTP/1.1 101", 0) == 0);
  CHECK(r.find("\r\nUpgrade: websocket\r\n") != std::string::npos);
  CHECK(r.find("\r\nConnection: Upgrade\r\n") != std::string::npos);
  CHECK(r.find("\r\nSec-WebSocket-Accept: " + accept + "\r\n") != std::string::npos);
  REQUIRE(r.size() >= 4);
  CHECK(r.substr(r.size() - 4) == "\r\n\r\n");
  // One blank line only: the end of the head.
  CHECK(r.find("\r\n\r\n") == r.size() - 4);
  // No extension and no subprotocol is agreed.
  CHECK(r.find("Sec-WebSocket-Extensions") == std::string::npos);
  CHECK(r.find("Sec-WebSocket-Protocol") == std::string::npos);
}

}  // namespace
}  // namespace courier::websocket::internal
