#include "sqlite_error.h"

#include <sqlite3.h>

#include <initializer_list>
#include <optional>
#include <string>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"

namespace courier::sqlite {
namespace {

// sqlite_error.h's table, row by row: the extended codes that have a code of
// their own, then the primary codes (rc & 0xff); anything else is kInternal.
struct CodeRow {
  absl::StatusCode code;
  std::initializer_list<int> rcs;
};
const CodeRow kByExtendedCode[] = {
    {absl::StatusCode::kAlreadyExists, {SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY}},
};
const CodeRow kByPrimaryCode[] = {
    {absl::StatusCode::kUnavailable,
     {SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_READONLY, SQLITE_CANTOPEN,
      SQLITE_PROTOCOL, SQLITE_NOLFS}},
    {absl::StatusCode::kDataLoss, {SQLITE_CORRUPT, SQLITE_NOTADB}},
    {absl::StatusCode::kFailedPrecondition, {SQLITE_CONSTRAINT}},
    {absl::StatusCode::kResourceExhausted, {SQLITE_NOMEM}},
    {absl::StatusCode::kInvalidArgument, {SQLITE_TOOBIG, SQLITE_RANGE}},
    {absl::StatusCode::kPermissionDenied, {SQLITE_PERM, SQLITE_AUTH}},
    {absl::StatusCode::kCancelled, {SQLITE_INTERRUPT}},
    {absl::StatusCode::kAborted, {SQLITE_ABORT, SQLITE_SCHEMA}},
};

std::optional<absl::StatusCode> Lookup(absl::Span<const CodeRow> table, int rc) {
  for (const CodeRow& row : table) {
    if (absl::c_linear_search(row.rcs, rc)) return row.code;
  }
  return std::nullopt;
}

absl::StatusCode CodeFor(int rc) {
  if (auto code = Lookup(kByExtendedCode, rc)) return *code;
  return Lookup(kByPrimaryCode, rc & 0xff).value_or(absl::StatusCode::kInternal);
}

}  // namespace

absl::Status SqliteError(sqlite3* db, int rc, absl::string_view context) {
  // sqlite3_errmsg describes the connection's LAST error, which is `rc` when
  // the caller passes it straight on; fall back to the generic text.
  const char* message = sqlite3_errstr(rc);
  if (db != nullptr && sqlite3_extended_errcode(db) == rc) message = sqlite3_errmsg(db);
  return absl::Status(CodeFor(rc),
                      absl::StrCat(context, ": ", message, " (sqlite code ", rc, ")"));
}

}  // namespace courier::sqlite
