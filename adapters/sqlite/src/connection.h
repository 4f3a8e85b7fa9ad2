// One SQLite connection with the options applied and its statements cached.
//
// A Connection owns a sqlite3 handle opened on SqliteOptions::path in WAL
// mode with the options' durability, busy timeout, cache and size limit, and
// extended result codes on. Prepare() compiles a statement once per SQL text
// and hands out a Query that binds, steps and resets it.
//
// Ownership: the Connection owns its handle and statements; a Query borrows a
//   statement and must not outlive the Connection.
// Thread-safety: NOT thread-safe: the stores guard each Connection with a
//   mutex. Only one Query per SQL text may be alive at a time.
// Blocking: every call does file I/O and may wait up to busy_timeout_ms.
#ifndef COURIER_ADAPTERS_SQLITE_SRC_CONNECTION_H_
#define COURIER_ADAPTERS_SQLITE_SRC_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "courier/sqlite.h"

struct sqlite3;
struct sqlite3_stmt;

namespace courier::sqlite {

class Connection;

// A cached statement in use: bind parameters (1-based), Step() through the
// rows, read columns (0-based). Resets the statement and clears its bindings
// when destroyed. A bind error is reported by the next Step().
class Query {
 public:
  Query(Query&& other) noexcept;
  Query& operator=(Query&&) = delete;
  Query(const Query&) = delete;
  ~Query();

  Query& Bind(int index, std::int64_t value);
  Query& BindText(int index, absl::string_view text);
  Query& BindBlob(int index, absl::string_view bytes);

  // true: a row is ready; false: the statement is done.
  absl::StatusOr<bool> Step();
  // Steps to the end; OK when the statement completed.
  absl::Status Run();

  std::int64_t Int(int column) const;
  std::string Text(int column) const;  // also reads BLOBs, byte for byte
  bool IsNull(int column) const;

 private:
  friend class Connection;
  Query(Connection* connection, sqlite3_stmt* statement)
      : connection_(connection), statement_(statement) {}
  void NoteBind(int rc);

  Connection* connection_;
  sqlite3_stmt* statement_;
  int bind_error_ = 0;
};

class Connection {
 public:
  // Opens `options.path` and applies the options. `read_only` makes the
  // connection refuse writes (PRAGMA query_only). Errors as OpenMessageStore's.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const SqliteOptions& options,
                                                          bool read_only = false);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // A Query over the cached statement for `sql` (one statement).
  absl::StatusOr<Query> Prepare(absl::string_view sql);

  // Runs `sql` (any number of statements, no results) uncached.
  absl::Status Exec(absl::string_view sql);

  // BEGIN IMMEDIATE / COMMIT / ROLLBACK. Rollback is a no-op outside a
  // transaction and never fails visibly (the transaction is gone either way).
  absl::Status Begin();
  absl::Status Commit();
  void Rollback();

  // The value of `PRAGMA name` as text (for tests and diagnostics).
  absl::StatusOr<std::string> Pragma(absl::string_view name);

  // The largest string or blob this connection accepts.
  std::int64_t max_length() const;

  // Maps `rc` (see sqlite_error.h) with the file's path, `context` and this
  // connection's last error message in the text.
  absl::Status Error(int rc, absl::string_view context) const;

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  Connection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* db_;
  std::string path_;
  absl::flat_hash_map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace courier::sqlite

#endif  // COURIER_ADAPTERS_SQLITE_SRC_CONNECTION_H_
