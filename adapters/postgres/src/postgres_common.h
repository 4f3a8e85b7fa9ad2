// Pieces shared by the two PostgreSQL stores.
//
// Internal to courier::postgres (not installed).
// Thread-safety: pure functions; a PgStore is as safe as its PgPool.
// Blocking: nothing here blocks, but OpenStore and PgStore::Init (they
//   connect).
#ifndef COURIER_ADAPTERS_POSTGRES_POSTGRES_COMMON_H_
#define COURIER_ADAPTERS_POSTGRES_POSTGRES_COMMON_H_

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "courier/postgres.h"
#include "courier/status.h"
#include "pg_connection.h"

namespace courier::postgres {

// kInvalidArgument naming the first bad field.
absl::Status ValidateOptions(const PostgresOptions& options);

// Connection settings for a pool that prepares `statements`.
PgSettings MakeSettings(const PostgresOptions& options, std::vector<PgStatement> statements);

// The pool of a store whose connections prepare `statements`, sized and
// timed as `options` say. It connects nothing until its first use.
PgPool MakePool(const PostgresOptions& options, std::vector<PgStatement> statements);

// The first step of a store's Init: a connection of its own (no prepared
// statements) on which the schema has been created or upgraded
// (EnsureSchema). Pooled connections prepare statements that need the
// schema, so a store acquires one only after this; the returned connection
// is for the store's own further setup.
absl::StatusOr<std::unique_ptr<PgConnection>> ConnectAndEnsureSchema(
    const PostgresOptions& options);

// What both stores hold, and their opening: their options, and the pool
// of connections that prepare the store's `statements`. `own_tables` are
// scripts of CREATE TABLE IF NOT EXISTS statements for tables of the
// store's own, kept out of the numbered migrations (they depend on nothing
// else). Connects nothing until Init.
class PgStore {
 public:
  PgStore(const PostgresOptions& options, std::vector<PgStatement> statements,
          std::vector<const char*> own_tables = {});

  // Creates or upgrades the schema (ConnectAndEnsureSchema) and, on the
  // same connection, the store's own tables (each script in a transaction
  // of its own, under the schema lock), then opens a pooled connection.
  absl::Status Init();

 protected:
  const PostgresOptions options_;
  PgPool pool_;

 private:
  const std::vector<const char*> own_tables_;
};

// The factories' common steps: validates `options`, builds a `Store` from
// them and runs its Init (PgStore::Init).
template <typename Interface, typename Store>
absl::StatusOr<std::unique_ptr<Interface>> OpenStore(const PostgresOptions& options) {
  COURIER_RETURN_IF_ERROR(ValidateOptions(options));
  auto store = std::make_unique<Store>(options);
  COURIER_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<Interface>(std::move(store));
}

}  // namespace courier::postgres

#endif  // COURIER_ADAPTERS_POSTGRES_POSTGRES_COMMON_H_
