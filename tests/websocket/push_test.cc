// Tests of examples/server/push.h: subscription normalization, what the PUT
// /v1/devices/{device}/push route stores.
#include "push.h"

#include <string>

#include <catch2/catch.hpp>

namespace courier::server {
namespace {

TEST_CASE("NormalizeSubscription keeps the three fields and refuses bad bodies", "[push]") {
  // A P-256 point (the generator) as the p256dh key, and a 16-byte auth.
  const std::string p256dh =
      "BGsX0fLhLEJH-Lzm5WOkQPJ3A32BLeszoPShOUXYmMKWT-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU";
  const std::string body = R"({"endpoint":"https://push.example.net/s/1","expirationTime":null,)"
                           R"("keys":{"p256dh":")" + p256dh + R"(","auth":"MDEyMzQ1Njc4OWFiY2RlZg"}})";
  auto normal = NormalizeSubscription(body);
  REQUIRE(normal.ok());
  CHECK(normal->find("https://push.example.net/s/1") != std::string::npos);
  CHECK(normal->find("expirationTime") == std::string::npos);
  auto again = NormalizeSubscription(*normal);  // the stored form parses back the same
  REQUIRE(again.ok());
  CHECK(*again == *normal);
  CHECK(absl::IsInvalidArgument(NormalizeSubscription("{").status()));
  CHECK(absl::IsInvalidArgument(NormalizeSubscription(R"({"endpoint":"https://x.net/"})").status()));
  CHECK(absl::IsInvalidArgument(
      NormalizeSubscription(R"({"endpoint":"http://push.example.net/","keys":{"p256dh":")" + p256dh +
                            R"(","auth":"MDEyMzQ1Njc4OWFiY2RlZg"}})")
          .status()));
}

}  // namespace
}  // namespace courier::server
