#include "connection.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "courier/status.h"
#include "sqlite_error.h"

namespace courier::sqlite {
namespace {

// The start of a statement's SQL, to say which statement failed.
std::string Snippet(absl::string_view sql) {
  constexpr std::size_t kMax = 60;
  if (sql.size() <= kMax) return std::string(sql);
  return absl::StrCat(sql.substr(0, kMax), "...");
}

absl::Status ValidateOptions(const SqliteOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("SqliteOptions.path is empty");
  if (options.path == ":memory:" || options.path.rfind("file:", 0) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SqliteOptions.path must name a file, not '", options.path,
        "' (use courier::memory for stores without a file)"));
  }
  const std::pair<const char*, std::int64_t> counts[] = {
      {"busy_timeout_ms", options.busy_timeout_ms},
      {"cache_size_kib", options.cache_size_kib},
      {"wal_autocheckpoint_pages", options.wal_autocheckpoint_pages},
      {"max_size_bytes", options.max_size_bytes},
  };
  for (const auto& [name, value] : counts) {
    if (value < 0) {
      return absl::InvalidArgumentError(absl::StrCat("SqliteOptions.", name, " must be >= 0"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

// --- Query ---------------------------------------------------------------------

Query::Query(Query&& other) noexcept
    : connection_(other.connection_),
      statement_(std::exchange(other.statement_, nullptr)),
      bind_error_(other.bind_error_) {}

Query::~Query() {
  if (statement_ == nullptr) return;
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
}

void Query::NoteBind(int rc) {
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
}

Query& Query::Bind(int index, std::int64_t value) {
  NoteBind(sqlite3_bind_int64(statement_, index, value));
  return *this;
}

Query& Query::BindText(int index, absl::string_view text) {
  // A null data pointer would bind NULL: an empty string stays a string.
  const char* data = text.data() != nullptr ? text.data() : "";
  NoteBind(sqlite3_bind_text64(statement_, index, data, text.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8));
  return *this;
}

Query& Query::BindBlob(int index, absl::string_view bytes) {
  // A zero-length blob, not NULL, for an empty body.
  NoteBind(bytes.empty() ? sqlite3_bind_zeroblob(statement_, index, 0)
                         : sqlite3_bind_blob64(statement_, index, bytes.data(), bytes.size(),
                                               SQLITE_TRANSIENT));
  return *this;
}

absl::StatusOr<bool> Query::Step() {
  if (bind_error_ != 0) {
    return connection_->Error(bind_error_,
                              absl::StrCat("binding ", Snippet(sqlite3_sql(statement_))));
  }
  const int rc = sqlite3_step(statement_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return connection_->Error(rc, Snippet(sqlite3_sql(statement_)));
}

absl::Status Query::Run() {
  while (true) {
    COURIER_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return absl::OkStatus();
  }
}

std::int64_t Query::Int(int column) const { return sqlite3_column_int64(statement_, column); }

std::string Query::Text(int column) const {
  const void* data = sqlite3_column_blob(statement_, column);
  const int size = sqlite3_column_bytes(statement_, column);
  if (data == nullptr || size <= 0) return std::string();
  return std::string(static_cast<const char*>(data), static_cast<std::size_t>(size));
}

bool Query::IsNull(int column) const {
  return sqlite3_column_type(statement_, column) == SQLITE_NULL;
}

// --- Connection ----------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const SqliteOptions& options,
                                                              bool read_only) {
  COURIER_RETURN_IF_ERROR(ValidateOptions(options));
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(options.path.c_str(), &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  if (rc != SQLITE_OK) {
    absl::Status error = SqliteError(db, rc, absl::StrCat("opening ", options.path));
    sqlite3_close_v2(db);  // a handle is returned even on failure (null is fine)
    return error;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, options.busy_timeout_ms);
  std::unique_ptr<Connection> c(new Connection(db, options.path));

  auto setting = [&](absl::string_view pragma) { return c->Pragma(pragma); };
  // The first statement reads the file header: a file that is not a
  // database fails here with kDataLoss.
  COURIER_ASSIGN_OR_RETURN(std::string mode, setting("journal_mode=WAL"));
  if (mode != "wal") {
    return absl::FailedPreconditionError(absl::StrCat(
        "opening ", options.path, ": WAL mode is not available (journal_mode is ", mode, ")"));
  }
  const char* synchronous =
      options.durability == SqliteOptions::Durability::kPowerLoss ? "FULL" : "NORMAL";
  COURIER_RETURN_IF_ERROR(setting(absl::StrCat("synchronous=", synchronous)).status());
  if (options.cache_size_kib > 0) {
    COURIER_RETURN_IF_ERROR(
        setting(absl::StrCat("cache_size=-", options.cache_size_kib)).status());
  }
  COURIER_RETURN_IF_ERROR(
      setting(absl::StrCat("wal_autocheckpoint=", options.wal_autocheckpoint_pages)).status());
  // A checkpointed WAL is reused in place; cap the file it leaves on disk.
  COURIER_RETURN_IF_ERROR(setting("journal_size_limit=67108864").status());
  COURIER_RETURN_IF_ERROR(setting("trusted_schema=OFF").status());
  if (options.max_size_bytes > 0) {
    COURIER_ASSIGN_OR_RETURN(std::string page_size, setting("page_size"));
    std::int64_t page = 4096;
    if (!absl::SimpleAtoi(page_size, &page) || page < 1) page = 4096;
    const std::int64_t pages = std::max<std::int64_t>(1, options.max_size_bytes / page);
    COURIER_RETURN_IF_ERROR(setting(absl::StrCat("max_page_count=", pages)).status());
  }
  if (read_only) COURIER_RETURN_IF_ERROR(setting("query_only=1").status());
  return c;
}

Connection::~Connection() {
  for (auto& [sql, statement] : statements_) sqlite3_finalize(statement);
  sqlite3_close_v2(db_);
}

absl::StatusOr<Query> Connection::Prepare(absl::string_view sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* statement = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &statement, nullptr);
    if (rc != SQLITE_OK) {
      return Error(rc, absl::StrCat("preparing ", Snippet(sql)));
    }
    it = statements_.emplace(std::string(sql), statement).first;
  }
  return Query(this, it->second);
}

absl::Status Connection::Exec(absl::string_view sql) {
  const std::string text(sql);
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  sqlite3_free(message);  // the same text is in sqlite3_errmsg
  if (rc != SQLITE_OK) return Error(rc, Snippet(sql));
  return absl::OkStatus();
}

absl::Status Connection::Begin() {
  COURIER_ASSIGN_OR_RETURN(Query q, Prepare("BEGIN IMMEDIATE"));
  return q.Run();
}

absl::Status Connection::Commit() {
  COURIER_ASSIGN_OR_RETURN(Query q, Prepare("COMMIT"));
  return q.Run();
}

void Connection::Rollback() {
  if (sqlite3_get_autocommit(db_) != 0) return;  // no transaction open
  sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

absl::StatusOr<std::string> Connection::Pragma(absl::string_view name) {
  sqlite3_stmt* statement = nullptr;
  const std::string sql = absl::StrCat("PRAGMA ", name);
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr);
  if (rc != SQLITE_OK) return Error(rc, sql);
  std::string value;
  rc = sqlite3_step(statement);
  if (rc == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(statement, 0);
    if (text != nullptr) value = reinterpret_cast<const char*>(text);
    rc = sqlite3_step(statement);
  }
  absl::Status status = rc == SQLITE_DONE ? absl::OkStatus() : Error(rc, sql);
  sqlite3_finalize(statement);
  COURIER_RETURN_IF_ERROR(status);
  return value;
}

std::int64_t Connection::max_length() const { return sqlite3_limit(db_, SQLITE_LIMIT_LENGTH, -1); }

absl::Status Connection::Error(int rc, absl::string_view context) const {
  return SqliteError(db_, rc, absl::StrCat(path_, ": ", context));
}

}  // namespace courier::sqlite
