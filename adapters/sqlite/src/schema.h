// Versioned schemas: each store ("component") migrates its own tables.
//
// The table courier_schema(component TEXT PRIMARY KEY, version INTEGER)
// records the version each component's tables are at. A component lists its
// migrations in order (version 1 creates the tables; version 2 would alter
// them, and so on); Migrate applies the ones above the recorded version, all
// in one transaction, and refuses a database whose version is newer than the
// last migration this build knows.
//
// Thread-safety: as the Connection (one caller at a time).
// Blocking: file I/O; waits for the write lock up to the busy timeout.
#ifndef COURIER_ADAPTERS_SQLITE_SRC_SCHEMA_H_
#define COURIER_ADAPTERS_SQLITE_SRC_SCHEMA_H_

#include <cstdint>
#include <memory>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "connection.h"

namespace courier::sqlite {

struct Migration {
  std::int64_t version;  // 1, 2, 3, ... in order, no gaps
  absl::string_view sql;  // statements that move version-1 to version
};

// Brings `component` up to the last of `migrations`. Errors: kFailedPrecondition
// when the database is at a newer version than this build knows; kInternal
// for a malformed migration list; backend errors from the connection.
absl::Status Migrate(Connection& connection, absl::string_view component,
                     absl::Span<const Migration> migrations);

// What each store does first: opens a read-write connection to `options`'
// database (Connection::Open) and brings `component` up to the last of
// `migrations` (Migrate), failing with the first of their errors.
absl::StatusOr<std::unique_ptr<Connection>> OpenMigrated(const SqliteOptions& options,
                                                         absl::string_view component,
                                                         absl::Span<const Migration> migrations);

// The recorded version of `component`; 0 when it has none.
absl::StatusOr<std::int64_t> SchemaVersion(Connection& connection, absl::string_view component);

}  // namespace courier::sqlite

#endif  // COURIER_ADAPTERS_SQLITE_SRC_SCHEMA_H_
