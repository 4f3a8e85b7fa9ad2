// The one place where mongo-c-driver errors become canonical statuses.
//
// Internal to courier::mongo (not installed).
// Thread-safety: pure functions.
// Blocking: nothing here blocks.
#ifndef COURIER_ADAPTERS_MONGO_MONGO_ERROR_H_
#define COURIER_ADAPTERS_MONGO_MONGO_ERROR_H_

#include <bson/bson.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace courier::mongo {

// Maps a driver error (domain, code, message) and the server's reply, when
// there is one (for its error labels), to a status whose message is
// "mongo: <context>: <driver text> [domain D code C]":
//   server selection, stream (network), "not primary"/shutdown/host codes
//                                               -> kUnavailable
//   a socket timeout, MaxTimeMSExpired (50), write concern timeout (64),
//   NetworkTimeout (89)                         -> kDeadlineExceeded
//   TransientTransactionError label, WriteConflict (112), NoSuchTransaction
//   (251), TransactionAborted (244)             -> kAborted
//   DuplicateKey (11000, 11001, 12582)          -> kAlreadyExists (the
//                                                  idempotent path decides)
//   Unauthorized (13)                           -> kPermissionDenied
//   AuthenticationFailed (18), SASL/SCRAM, client authenticate
//                                               -> kUnauthenticated
//   BadValue (2), FailedToParse (9), TypeMismatch (14), invalid BSON,
//   document too large (10334, 17419, 17420)    -> kInvalidArgument
//   anything else                               -> kInternal
absl::Status MongoStatus(absl::string_view context, const bson_error_t& error,
                         const bson_t* reply = nullptr);

// True for a server "DuplicateKey" error.
bool IsDuplicateKey(const bson_error_t& error);

// True for the server's DuplicateKey codes (11000, 11001, 12582), as a
// driver error or a bulk write's writeErrors entry carries them.
bool IsDuplicateKeyCode(std::int64_t code);

}  // namespace courier::mongo

#endif  // COURIER_ADAPTERS_MONGO_MONGO_ERROR_H_
