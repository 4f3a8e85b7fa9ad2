// tests/support/status_matchers.h: assert the specific error, not "not OK".
//   REQUIRE_THAT(store->Head("x").status(), IsOk());
//   REQUIRE_THAT(result.status(), StatusIs(absl::StatusCode::kOutOfRange));
//   COURIER_REQUIRE_OK(status_or_statusor);  // prints the status on failure
#ifndef COURIER_TESTS_SUPPORT_STATUS_MATCHERS_H_
#define COURIER_TESTS_SUPPORT_STATUS_MATCHERS_H_

#include <catch2/catch.hpp>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace courier::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) { return s.status(); }

// Matches an absl::Status with the given code. For a StatusOr, match its
// .status().
class StatusIs : public Catch::MatcherBase<absl::Status> {
 public:
  explicit StatusIs(absl::StatusCode code) : code_(code) {}
  bool match(const absl::Status& s) const override { return s.code() == code_; }
  std::string describe() const override {
    return "has status code " + absl::StatusCodeToString(code_);
  }

 private:
  absl::StatusCode code_;
};

inline StatusIs IsOk() { return StatusIs(absl::StatusCode::kOk); }

}  // namespace courier::testing

// Prints the status on failure. `expr` may be a temporary: it is bound to a
// reference first, which keeps it alive while its status is inspected.
#define COURIER_REQUIRE_OK(expr)                                        \
  do {                                                                  \
    const auto& courier_v_ = (expr);                                    \
    const auto& courier_s_ = ::courier::testing::GetStatus(courier_v_); \
    INFO("status: " << courier_s_.ToString());                          \
    REQUIRE(courier_s_.ok());                                           \
  } while (false)

#endif  // COURIER_TESTS_SUPPORT_STATUS_MATCHERS_H_
