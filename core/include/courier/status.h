// courier/status.h: error helpers shared by the core and every adapter.
//
// Errors cross every seam of Courier as absl::Status / absl::StatusOr values,
// never as exceptions. The canonical codes carry the retry policy:
//   kUnavailable, kDeadlineExceeded  -> transient: retry the same call later
//                                       (with the same client message id).
//   kAborted                          -> a conflict: restart the larger step.
//   kInvalidArgument, kFailedPrecondition, kOutOfRange, kNotFound,
//   kPermissionDenied, kUnauthenticated, kResourceExhausted -> never retried
//                                       as is; the input or state must change.
// Adapters translate backend errors into these codes once, at their edge, and
// keep the backend's own text in the message.
//
// Thread-safety: everything here is a pure function or a macro.
// Blocking: nothing here blocks.
#ifndef COURIER_CORE_STATUS_H_
#define COURIER_CORE_STATUS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Bookworm's Abseil (20220623) predates absl/status/status_macros.h.
#define COURIER_CONCAT_INNER_(a, b) a##b
#define COURIER_CONCAT_(a, b) COURIER_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define COURIER_RETURN_IF_ERROR(expr)                   \
  do {                                                  \
    ::absl::Status courier_status_ = (expr);            \
    if (!courier_status_.ok()) return courier_status_;  \
  } while (false)

// `lhs = value of expr` (an absl::StatusOr<T>), or returns its status.
#define COURIER_ASSIGN_OR_RETURN(lhs, expr) \
  COURIER_ASSIGN_OR_RETURN_IMPL_(COURIER_CONCAT_(courier_sor_, __LINE__), lhs, expr)
#define COURIER_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return std::move(tmp).status();       \
  lhs = std::move(tmp).value()

#endif  // COURIER_CORE_STATUS_H_
