// The one place where SQLite result codes become absl::Status values.
//
// Thread-safety: pure functions (sqlite3_errmsg reads the connection's last
//   error, so call it under the lock that serialized the failing call).
// Blocking: no.
#ifndef COURIER_ADAPTERS_SQLITE_SRC_SQLITE_ERROR_H_
#define COURIER_ADAPTERS_SQLITE_SRC_SQLITE_ERROR_H_

#include "absl/strings/string_view.h"

#include "absl/status/status.h"

struct sqlite3;

namespace courier::sqlite {

// Maps the (extended) result code `rc` of a call on `db` (may be null) to a
// canonical code, with `context` and SQLite's own message in the text:
//   BUSY, LOCKED, IOERR, FULL, READONLY, CANTOPEN, PROTOCOL, NOLFS -> kUnavailable
//   CORRUPT, NOTADB                                               -> kDataLoss
//   CONSTRAINT_UNIQUE / _PRIMARYKEY -> kAlreadyExists; other CONSTRAINT -> kFailedPrecondition
//   NOMEM -> kResourceExhausted;  TOOBIG, RANGE -> kInvalidArgument
//   PERM, AUTH -> kPermissionDenied;  INTERRUPT -> kCancelled;  ABORT, SCHEMA -> kAborted
//   anything else (ERROR, MISUSE, ...) -> kInternal
// REQUIRES: rc is not SQLITE_OK, SQLITE_ROW or SQLITE_DONE.
absl::Status SqliteError(sqlite3* db, int rc, absl::string_view context);

}  // namespace courier::sqlite

#endif  // COURIER_ADAPTERS_SQLITE_SRC_SQLITE_ERROR_H_
