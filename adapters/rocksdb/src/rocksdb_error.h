// One place where RocksDB's statuses become absl::Status (see rocksdb.h's
// "Errors" paragraph).
#ifndef COURIER_ADAPTERS_ROCKSDB_ROCKSDB_ERROR_H_
#define COURIER_ADAPTERS_ROCKSDB_ROCKSDB_ERROR_H_

#include <string_view>

#include "absl/status/status.h"
#include "rocksdb/status.h"

namespace courier::rocksdb {

// OK for an OK status; otherwise the absl code for `s`, with `what` (the
// operation that failed) and RocksDB's own text in the message:
//   I/O errors, no space, busy, timed out, try again, aborted -> kUnavailable
//   corruption                                              -> kDataLoss
//   invalid argument                                        -> kInvalidArgument
//   not supported                                           -> kFailedPrecondition
//   not found                                               -> kNotFound
//   anything else                                           -> kInternal
absl::Status ToStatus(const ::rocksdb::Status& s, std::string_view what);

}  // namespace courier::rocksdb

#endif  // COURIER_ADAPTERS_ROCKSDB_ROCKSDB_ERROR_H_
