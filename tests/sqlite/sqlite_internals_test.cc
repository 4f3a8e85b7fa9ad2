// The adapter's own building blocks: the connection settings, the migration
// runner, the one error-mapping helper and the in-memory row index.
#include <sqlite3.h>

#include <catch2/catch.hpp>

#include <string>

#include "connection.h"
#include "row_index.h"
#include "schema.h"
#include "sqlite_error.h"
#include "support/status_matchers.h"
#include "support/temp_dir.h"

namespace courier::sqlite {
namespace {

using ::courier::testing::StatusIs;
using ::courier::testing::TempDir;

std::unique_ptr<Connection> MustOpen(const SqliteOptions& options, bool read_only = false) {
  auto c = Connection::Open(options, read_only);
  COURIER_REQUIRE_OK(c);
  return *std::move(c);
}

std::string PragmaOf(Connection& c, const std::string& name) {
  auto value = c.Pragma(name);
  COURIER_REQUIRE_OK(value);
  return *value;
}

TEST_CASE("SqliteConnection: kPowerLoss is WAL with synchronous=FULL", "[sqlite]") {
  TempDir dir;
  auto c = MustOpen(SqliteOptions::Durable(dir.File("a.db")));
  REQUIRE(PragmaOf(*c, "journal_mode") == "wal");
  REQUIRE(PragmaOf(*c, "synchronous") == "2");  // FULL
}

TEST_CASE("SqliteConnection: kProcessCrash is WAL with synchronous=NORMAL", "[sqlite]") {
  TempDir dir;
  auto c = MustOpen(SqliteOptions::Fast(dir.File("a.db")));
  REQUIRE(PragmaOf(*c, "journal_mode") == "wal");
  REQUIRE(PragmaOf(*c, "synchronous") == "1");  // NORMAL
}

TEST_CASE("SqliteConnection: options become pragmas", "[sqlite]") {
  TempDir dir;
  SqliteOptions options = SqliteOptions::Durable(dir.File("a.db"));
  options.busy_timeout_ms = 1234;
  options.cache_size_kib = 4096;
  options.wal_autocheckpoint_pages = 500;
  options.max_size_bytes = 1024 * 1024;
  auto c = MustOpen(options);
  REQUIRE(PragmaOf(*c, "busy_timeout") == "1234");
  REQUIRE(PragmaOf(*c, "cache_size") == "-4096");
  REQUIRE(PragmaOf(*c, "wal_autocheckpoint") == "500");
  const int page = std::stoi(PragmaOf(*c, "page_size"));
  REQUIRE(PragmaOf(*c, "max_page_count") == std::to_string(1024 * 1024 / page));
}

TEST_CASE("SqliteConnection: a read-only connection refuses writes", "[sqlite]") {
  TempDir dir;
  const SqliteOptions options = SqliteOptions::Durable(dir.File("a.db"));
  auto writer = MustOpen(options);
  COURIER_REQUIRE_OK(writer->Exec("CREATE TABLE t (x)"));
  auto reader = MustOpen(options, /*read_only=*/true);
  REQUIRE_THAT(reader->Exec("INSERT INTO t VALUES (1)"),
               StatusIs(absl::StatusCode::kUnavailable));  // SQLITE_READONLY
  auto q = reader->Prepare("SELECT count(*) FROM t");
  COURIER_REQUIRE_OK(q);
  auto row = q->Step();
  COURIER_REQUIRE_OK(row);
  REQUIRE(*row);
  REQUIRE(q->Int(0) == 0);
}

TEST_CASE("SqliteConnection: statements are cached and reset after use", "[sqlite]") {
  TempDir dir;
  auto c = MustOpen(SqliteOptions::Durable(dir.File("a.db")));
  COURIER_REQUIRE_OK(c->Exec("CREATE TABLE t (x BLOB)"));
  const std::string blob("a\0b", 3);
  for (int i = 0; i < 3; ++i) {
    auto q = c->Prepare("INSERT INTO t VALUES (?1)");
    COURIER_REQUIRE_OK(q);
    q->BindBlob(1, blob);
    COURIER_REQUIRE_OK(q->Run());
  }
  auto q = c->Prepare("SELECT x FROM t");
  COURIER_REQUIRE_OK(q);
  int rows = 0;
  while (true) {
    auto row = q->Step();
    COURIER_REQUIRE_OK(row);
    if (!*row) break;
    REQUIRE(q->Text(0) == blob);
    ++rows;
  }
  REQUIRE(rows == 3);
  auto bad = c->Prepare("SELEC nonsense");
  REQUIRE_THAT(bad.status(), StatusIs(absl::StatusCode::kInternal));
  REQUIRE_THAT(std::string(bad.status().message()), Catch::Contains("syntax error"));
}

TEST_CASE("SqliteSchema: migrations apply once, in order, and version 2 can follow", "[sqlite]") {
  TempDir dir;
  auto c = MustOpen(SqliteOptions::Durable(dir.File("m.db")));
  auto version = SchemaVersion(*c, "widgets");
  COURIER_REQUIRE_OK(version);
  REQUIRE(*version == 0);

  // CREATE TABLE without IF NOT EXISTS: running a migration twice would fail.
  const Migration v1[] = {{1, "CREATE TABLE widgets (name TEXT PRIMARY KEY)"}};
  COURIER_REQUIRE_OK(Migrate(*c, "widgets", v1));
  COURIER_REQUIRE_OK(Migrate(*c, "widgets", v1));
  REQUIRE(*SchemaVersion(*c, "widgets") == 1);
  COURIER_REQUIRE_OK(c->Exec("INSERT INTO widgets VALUES ('kept')"));

  const Migration v2[] = {
      {1, "CREATE TABLE widgets (name TEXT PRIMARY KEY)"},
      {2, "ALTER TABLE widgets ADD COLUMN size INTEGER NOT NULL DEFAULT 7;"
          "CREATE INDEX widgets_by_size ON widgets (size)"},
  };
  COURIER_REQUIRE_OK(Migrate(*c, "widgets", v2));
  REQUIRE(*SchemaVersion(*c, "widgets") == 2);
  auto q = c->Prepare("SELECT name, size FROM widgets");
  COURIER_REQUIRE_OK(q);
  REQUIRE(*q->Step());
  REQUIRE(q->Text(0) == "kept");
  REQUIRE(q->Int(1) == 7);

  // Back to a build that only knows version 1: refused, data untouched.
  REQUIRE_THAT(Migrate(*c, "widgets", v1), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_CASE("SqliteSchema: a failing migration rolls back completely", "[sqlite]") {
  TempDir dir;
  auto c = MustOpen(SqliteOptions::Durable(dir.File("m.db")));
  const Migration v1[] = {{1, "CREATE TABLE a (x)"}};
  COURIER_REQUIRE_OK(Migrate(*c, "parts", v1));
  const Migration broken[] = {{1, "CREATE TABLE a (x)"},
                              {2, "CREATE TABLE b (y); INSERT INTO nowhere VALUES (1)"}};
  REQUIRE_THAT(Migrate(*c, "parts", broken), StatusIs(absl::StatusCode::kInternal));
  REQUIRE(*SchemaVersion(*c, "parts") == 1);
  REQUIRE_THAT(c->Prepare("SELECT * FROM b").status(), StatusIs(absl::StatusCode::kInternal));
  const Migration gap[] = {{1, "CREATE TABLE a (x)"}, {3, "CREATE TABLE c (z)"}};
  REQUIRE_THAT(Migrate(*c, "parts", gap), StatusIs(absl::StatusCode::kInternal));
}

TEST_CASE("SqliteError: result codes map to canonical codes with SQLite's text", "[sqlite]") {
  struct Case {
    int rc;
    absl::StatusCode code;
  };
  const Case cases[] = {
      {SQLITE_BUSY, absl::StatusCode::kUnavailable},
      {SQLITE_BUSY_SNAPSHOT, absl::StatusCode::kUnavailable},
      {SQLITE_LOCKED, absl::StatusCode::kUnavailable},
      {SQLITE_FULL, absl::StatusCode::kUnavailable},
      {SQLITE_IOERR, absl::StatusCode::kUnavailable},
      {SQLITE_IOERR_FSYNC, absl::StatusCode::kUnavailable},
      {SQLITE_READONLY, absl::StatusCode::kUnavailable},
      {SQLITE_CANTOPEN, absl::StatusCode::kUnavailable},
      {SQLITE_CORRUPT, absl::StatusCode::kDataLoss},
      {SQLITE_NOTADB, absl::StatusCode::kDataLoss},
      {SQLITE_CONSTRAINT_UNIQUE, absl::StatusCode::kAlreadyExists},
      {SQLITE_CONSTRAINT_PRIMARYKEY, absl::StatusCode::kAlreadyExists},
      {SQLITE_CONSTRAINT_NOTNULL, absl::StatusCode::kFailedPrecondition},
      {SQLITE_NOMEM, absl::StatusCode::kResourceExhausted},
      {SQLITE_TOOBIG, absl::StatusCode::kInvalidArgument},
      {SQLITE_PERM, absl::StatusCode::kPermissionDenied},
      {SQLITE_INTERRUPT, absl::StatusCode::kCancelled},
      {SQLITE_ABORT, absl::StatusCode::kAborted},
      {SQLITE_ERROR, absl::StatusCode::kInternal},
      {SQLITE_MISUSE, absl::StatusCode::kInternal},
  };
  for (const Case& c : cases) {
    INFO("rc " << c.rc);
    const absl::Status s = SqliteError(nullptr, c.rc, "doing things");
    REQUIRE(s.code() == c.code);
    REQUIRE_THAT(std::string(s.message()),
                 Catch::StartsWith("doing things: ") && Catch::Contains(sqlite3_errstr(c.rc)));
  }
}

TEST_CASE("RowIndex: keys sharing a hash keep every position", "[sqlite]") {
  RowIndex index;
  const RowIndex::Key key = RowIndex::KeyOf("alice", "c1");
  CHECK(key == RowIndex::KeyOf("alice", "c1"));
  CHECK(key != RowIndex::KeyOf("alicec", "1"));  // the parts stay apart
  CHECK(index.Find(key) == nullptr);
  // Two rows under one key stand for two different keys with one hash.
  index.Add(key, 7);
  index.Add(key, 9);
  REQUIRE(index.Find(key) != nullptr);
  CHECK(*index.Find(key) == RowIndex::Positions{7, 9});
  index.Remove(key, 7);
  CHECK(*index.Find(key) == RowIndex::Positions{9});
  index.Remove(key, 12345);  // absent: nothing happens
  index.Remove(RowIndex::KeyOf("bob", "x"), 9);
  CHECK(*index.Find(key) == RowIndex::Positions{9});
  index.Remove(key, 9);
  CHECK(index.Find(key) == nullptr);
  CHECK(index.size() == 0);
}

}  // namespace
}  // namespace courier::sqlite
