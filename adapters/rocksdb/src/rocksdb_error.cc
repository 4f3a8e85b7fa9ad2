#include "rocksdb_error.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace courier::rocksdb {

absl::Status ToStatus(const ::rocksdb::Status& s, std::string_view what_std) {
  if (s.ok()) return absl::OkStatus();
  const absl::string_view what(what_std.data(), what_std.size());
  const std::string text = absl::StrCat("rocksdb: ", what, ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(text);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(text);
  if (s.IsNotSupported()) return absl::FailedPreconditionError(text);
  if (s.IsNotFound()) return absl::NotFoundError(text);
  if (s.IsIOError() || s.IsNoSpace() || s.IsBusy() || s.IsTimedOut() || s.IsTryAgain() ||
      s.IsAborted() || s.IsIncomplete() || s.IsShutdownInProgress()) {
    return absl::UnavailableError(text);
  }
  return absl::InternalError(text);
}

}  // namespace courier::rocksdb
