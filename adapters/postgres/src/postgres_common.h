// Pieces shared by the two PostgreSQL stores.
//
// Internal to courier::postgres (not installed).
// Thread-safety: pure functions.
// Blocking: nothing here blocks.
#ifndef COURIER_ADAPTERS_POSTGRES_POSTGRES_COMMON_H_
#define COURIER_ADAPTERS_POSTGRES_POSTGRES_COMMON_H_

#include <vector>

#include "absl/status/status.h"
#include "courier/postgres.h"
#include "pg_connection.h"

namespace courier::postgres {

// kInvalidArgument naming the first bad field.
absl::Status ValidateOptions(const PostgresOptions& options);

// Connection settings for a pool that prepares `statements`.
PgSettings MakeSettings(const PostgresOptions& options, std::vector<PgStatement> statements);

}  // namespace courier::postgres

#endif  // COURIER_ADAPTERS_POSTGRES_POSTGRES_COMMON_H_
