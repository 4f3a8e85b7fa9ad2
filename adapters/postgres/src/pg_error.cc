#include "pg_error.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace courier::postgres {
namespace {

absl::StatusCode CodeFor(absl::string_view state) {
  if (state.size() != 5) return absl::StatusCode::kUnavailable;
  const absl::string_view cls = state.substr(0, 2);
  if (cls == "08" || cls == "53") return absl::StatusCode::kUnavailable;
  if (state == "57P01" || state == "57P02" || state == "57P03") {
    return absl::StatusCode::kUnavailable;
  }
  if (state == "57014" || state == "55P03") return absl::StatusCode::kDeadlineExceeded;
  if (state == "40001" || state == "40P01" || state == "25P02") {
    return absl::StatusCode::kAborted;
  }
  if (state == "23505") return absl::StatusCode::kAlreadyExists;
  if (cls == "23" || cls == "22") return absl::StatusCode::kInvalidArgument;
  if (cls == "28") return absl::StatusCode::kUnauthenticated;
  if (state == "42501") return absl::StatusCode::kPermissionDenied;
  return absl::StatusCode::kInternal;
}

}  // namespace

absl::Status PgStatus(absl::string_view context, absl::string_view sqlstate,
                      absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text.empty()) text = "no message from the server";
  std::string message = absl::StrCat("postgres: ", context, ": ", text);
  if (!sqlstate.empty()) absl::StrAppend(&message, " [SQLSTATE ", sqlstate, "]");
  return absl::Status(CodeFor(sqlstate), message);
}

}  // namespace courier::postgres
