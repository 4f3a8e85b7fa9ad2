#include "mongo_error.h"

#include <mongoc/mongoc.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace courier::mongo {
namespace {

absl::StatusCode CodeFor(const bson_error_t& e, const bson_t* reply) {
  const absl::string_view text(e.message);
  if (reply != nullptr && mongoc_error_has_label(reply, "TransientTransactionError")) {
    return absl::StatusCode::kAborted;
  }
  switch (e.domain) {
    case MONGOC_ERROR_SERVER_SELECTION:
      return absl::StatusCode::kUnavailable;
    case MONGOC_ERROR_STREAM:
      if (absl::StrContains(text, "timeout") || absl::StrContains(text, "timed out")) {
        return absl::StatusCode::kDeadlineExceeded;
      }
      return absl::StatusCode::kUnavailable;
    case MONGOC_ERROR_PROTOCOL:
      return absl::StatusCode::kUnavailable;
    case MONGOC_ERROR_SASL:
    case MONGOC_ERROR_SCRAM:
      return absl::StatusCode::kUnauthenticated;
    case MONGOC_ERROR_BSON:
      return absl::StatusCode::kInvalidArgument;
    case MONGOC_ERROR_POOL:
      return absl::StatusCode::kUnavailable;
    case MONGOC_ERROR_CLIENT:
      if (e.code == MONGOC_ERROR_CLIENT_AUTHENTICATE) return absl::StatusCode::kUnauthenticated;
      if (e.code == MONGOC_ERROR_CLIENT_TOO_BIG) return absl::StatusCode::kInvalidArgument;
      return absl::StatusCode::kInternal;
    default:
      break;
  }
  // Codes sent by the server (SERVER, QUERY, COMMAND, COLLECTION,
  // WRITE_CONCERN, TRANSACTION domains).
  if (IsDuplicateKeyCode(e.code)) return absl::StatusCode::kAlreadyExists;
  switch (e.code) {
    case 50: case 64: case 89: case 262:  // MaxTimeMSExpired, WriteConcernFailed,
                                          // NetworkTimeout, ExceededTimeLimit
      return absl::StatusCode::kDeadlineExceeded;
    case 112: case 244: case 251:  // WriteConflict, TransactionAborted, NoSuchTransaction
      return absl::StatusCode::kAborted;
    case 6: case 7: case 91: case 189: case 9001: case 10107: case 11600: case 11602:
    case 13435: case 13436: case 10058: case 133:  // host/primary/shutdown errors
      return absl::StatusCode::kUnavailable;
    case 13:
      return absl::StatusCode::kPermissionDenied;
    case 18:
      return absl::StatusCode::kUnauthenticated;
    case 2: case 9: case 14: case 10334: case 17419: case 17420:
      return absl::StatusCode::kInvalidArgument;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

absl::Status MongoStatus(absl::string_view context, const bson_error_t& error,
                         const bson_t* reply) {
  absl::string_view text(error.message);
  if (text.empty()) text = "no message from the driver";
  return absl::Status(CodeFor(error, reply),
                      absl::StrCat("mongo: ", context, ": ", text, " [domain ", error.domain,
                                   " code ", error.code, "]"));
}

bool IsDuplicateKey(const bson_error_t& error) {
  return error.domain != MONGOC_ERROR_STREAM && error.domain != MONGOC_ERROR_SERVER_SELECTION &&
         IsDuplicateKeyCode(error.code);
}

bool IsDuplicateKeyCode(std::int64_t code) {
  return code == 11000 || code == 11001 || code == 12582;
}

}  // namespace courier::mongo
