// The one place where PostgreSQL errors become canonical statuses.
//
// Internal to courier::postgres (not installed).
// Thread-safety: pure functions.
// Blocking: nothing here blocks.
#ifndef COURIER_ADAPTERS_POSTGRES_PG_ERROR_H_
#define COURIER_ADAPTERS_POSTGRES_PG_ERROR_H_

#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace courier::postgres {

// Maps a five-character SQLSTATE (empty when the server sent none, e.g. the
// connection broke) to a status whose message is "<context>: <text>
// [SQLSTATE xxxxx]":
//   class 08, 57P01-57P03, 53xxx, none  -> kUnavailable
//   57014 (statement/lock timeout), 55P03 (lock not available)
//                                       -> kDeadlineExceeded
//   40001, 40P01, 25P02                 -> kAborted (a conflict: the
//                                          commit queue writes it again)
//   23505 unique violation              -> kAlreadyExists (a Write batch
//                                          answers it kAborted: a key racing
//                                          in; see postgres_message_store.cc)
//   other class 23, class 22            -> kInvalidArgument
//   class 28                            -> kUnauthenticated
//   42501                               -> kPermissionDenied
//   anything else                       -> kInternal
absl::Status PgStatus(absl::string_view context, absl::string_view sqlstate,
                      absl::string_view text);

}  // namespace courier::postgres

#endif  // COURIER_ADAPTERS_POSTGRES_PG_ERROR_H_
