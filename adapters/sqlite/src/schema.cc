#include "schema.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "courier/status.h"

namespace courier::sqlite {
namespace {

constexpr absl::string_view kCreateSchemaTable =
    "CREATE TABLE IF NOT EXISTS courier_schema ("
    "  component TEXT PRIMARY KEY,"
    "  version INTEGER NOT NULL)";

absl::StatusOr<std::int64_t> ReadVersion(Connection& c, absl::string_view component) {
  COURIER_ASSIGN_OR_RETURN(Query q,
                           c.Prepare("SELECT version FROM courier_schema WHERE component = ?1"));
  q.BindText(1, component);
  COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
  return row ? q.Int(0) : 0;
}

absl::Status MigrateLocked(Connection& c, absl::string_view component,
                           absl::Span<const Migration> migrations) {
  COURIER_RETURN_IF_ERROR(c.Exec(kCreateSchemaTable));
  COURIER_ASSIGN_OR_RETURN(std::int64_t current, ReadVersion(c, component));
  const std::int64_t latest = migrations.back().version;
  if (current > latest) {
    return absl::FailedPreconditionError(absl::StrCat(
        c.path(), ": the ", component, " schema is at version ", current,
        ", newer than this build of Courier knows (", latest, ")"));
  }
  for (const Migration& m : migrations) {
    if (m.version <= current) continue;
    COURIER_RETURN_IF_ERROR(c.Exec(m.sql));
  }
  if (current == latest) return absl::OkStatus();
  COURIER_ASSIGN_OR_RETURN(
      Query q, c.Prepare("INSERT INTO courier_schema(component, version) VALUES (?1, ?2) "
                         "ON CONFLICT(component) DO UPDATE SET version = excluded.version"));
  q.BindText(1, component).Bind(2, latest);
  return q.Run();
}

}  // namespace

absl::Status Migrate(Connection& connection, absl::string_view component,
                     absl::Span<const Migration> migrations) {
  if (migrations.empty()) return absl::InternalError("no migrations");
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<std::int64_t>(i) + 1) {
      return absl::InternalError(
          absl::StrCat("migration ", i, " of ", component, " has version ",
                       migrations[i].version, ", expected ", i + 1));
    }
  }
  COURIER_RETURN_IF_ERROR(connection.Begin());
  absl::Status status = MigrateLocked(connection, component, migrations);
  if (status.ok()) status = connection.Commit();
  if (!status.ok()) connection.Rollback();
  return status;
}

absl::StatusOr<std::unique_ptr<Connection>> OpenMigrated(const SqliteOptions& options,
                                                         absl::string_view component,
                                                         absl::Span<const Migration> migrations) {
  COURIER_ASSIGN_OR_RETURN(std::unique_ptr<Connection> connection, Connection::Open(options));
  COURIER_RETURN_IF_ERROR(Migrate(*connection, component, migrations));
  return connection;
}

absl::StatusOr<std::int64_t> SchemaVersion(Connection& connection, absl::string_view component) {
  COURIER_ASSIGN_OR_RETURN(
      Query exists, connection.Prepare("SELECT 1 FROM sqlite_master "
                                       "WHERE type = 'table' AND name = 'courier_schema'"));
  COURIER_ASSIGN_OR_RETURN(bool has_table, exists.Step());
  if (!has_table) return 0;
  return ReadVersion(connection, component);
}

}  // namespace courier::sqlite
