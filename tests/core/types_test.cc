#include "courier/types.h"

#include <catch2/catch.hpp>

#include <limits>
#include <string>

#include "support/status_matchers.h"

namespace courier {
namespace {

using testing::StatusIs;

TEST_CASE("ValidateName: 1-64 of [A-Za-z0-9_.-]", "[types]") {
  COURIER_REQUIRE_OK(ValidateName("user", "alice.B_9-x"));
  COURIER_REQUIRE_OK(ValidateName("user", std::string(64, 'a')));
  CHECK_THAT(ValidateName("user", ""), StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(ValidateName("user", std::string(65, 'a')),
             StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(ValidateName("user", "a b"), StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(ValidateName("user", "../etc"), StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(ValidateName("user", "\xc3\xa9"), StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK(ValidateName("device", "").message().find("device") != absl::string_view::npos);
}

TEST_CASE("ValidateClientId: 1-64 bytes without NUL", "[types]") {
  COURIER_REQUIRE_OK(ValidateClientId("any thing: \xe2\x9c\x93"));
  CHECK_THAT(ValidateClientId(""), StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(ValidateClientId(std::string(65, 'c')), StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(ValidateClientId(std::string("a\0b", 3)),
             StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_CASE("ValidateMessageId: 1-64 of [A-Za-z0-9_-], one rule for every store", "[types]") {
  CHECK(ValidateMessageId("0123abcdefABCDEF_-").ok());
  CHECK(ValidateMessageId(std::string(64, 'a')).ok());
  CHECK_FALSE(ValidateMessageId("").ok());
  CHECK_FALSE(ValidateMessageId(std::string(65, 'a')).ok());
  for (const char* bad : {"a.b", "a b", "a/b", "é", "a\nb"}) {
    CHECK(ValidateMessageId(bad).code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("TimeBefore: now - span, saturating", "[types]") {
  constexpr TimeMs kMin = std::numeric_limits<TimeMs>::min();
  constexpr TimeMs kMax = std::numeric_limits<TimeMs>::max();
  CHECK(TimeBefore(100, 30) == 70);
  CHECK(TimeBefore(100, -30) == 130);
  CHECK(TimeBefore(-10, kMax) == kMin);
  CHECK(TimeBefore(10, kMin) == kMax);
}

TEST_CASE("MessageStatusName: names the protocol uses", "[types]") {
  CHECK(MessageStatusName(MessageStatus::kSent) == "sent");
  CHECK(MessageStatusName(MessageStatus::kDelivered) == "delivered");
  CHECK(MessageStatusName(MessageStatus::kRead) == "read");
}

}  // namespace
}  // namespace courier
