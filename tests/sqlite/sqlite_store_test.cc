// courier::sqlite beyond the conformance suites: the file, its schema, its
// failures (full disk, locks, not a database), bad options, and groups.
#include "courier/sqlite.h"

#include <sqlite3.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <string>
#include <vector>

#include "conformance/message_store_suite.h"
#include "support/status_matchers.h"
#include "support/temp_dir.h"

namespace courier::sqlite {
namespace {

using ::courier::conformance::message_store_cases::CreateGroup;
using ::courier::conformance::message_store_cases::Expect;
using ::courier::conformance::message_store_cases::GroupMessage;
using ::courier::testing::StatusIs;
using ::courier::testing::TempDir;

AppendOp Message(const std::string& cid, std::string body = "hello") {
  AppendOp op;
  op.sender = "alice";
  op.cid = cid;
  op.recipient = "bob";
  op.id = "id-" + cid;
  op.body = std::move(body);
  op.ts = 1'000;
  return op;
}

// Options for the file `name` in `dir`, which may grow to 256 KiB only, as on
// a disk about to be full: a few dozen appends of BigBody() fill it.
SqliteOptions CappedFile(const TempDir& dir, const std::string& name) {
  SqliteOptions options = SqliteOptions::Durable(dir.File(name));
  options.max_size_bytes = 256 * 1024;
  return options;
}

std::string BigBody() { return std::string(8 * 1024, 'x'); }

std::unique_ptr<MessageStore> MustOpenMessages(const SqliteOptions& options) {
  auto store = OpenMessageStore(options);
  COURIER_REQUIRE_OK(store);
  return *std::move(store);
}

std::unique_ptr<AccountStore> MustOpenAccounts(const SqliteOptions& options) {
  auto store = OpenAccountStore(options);
  COURIER_REQUIRE_OK(store);
  return *std::move(store);
}

// A plain SQLite connection beside the store, as another process would have.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    REQUIRE(sqlite3_open(path.c_str(), &db_) == SQLITE_OK);
    sqlite3_busy_timeout(db_, 5'000);
  }
  ~RawDb() { sqlite3_close(db_); }
  void Exec(const std::string& sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    INFO(sql << ": " << (error != nullptr ? error : ""));
    sqlite3_free(error);
    REQUIRE(rc == SQLITE_OK);
  }
  std::int64_t Int(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    const std::int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
  }

 private:
  sqlite3* db_ = nullptr;
};

// Makes `path` a messages file of schema `version` as an older build left it:
// WAL mode, the schema row, the inboxes and cursors tables (the same in
// versions 1 and 2), then `sql`: that version's events table and the rows.
void MakeOldMessagesFile(const std::string& path, int version, const std::string& sql) {
  RawDb raw(path);
  raw.Exec(R"sql(
PRAGMA journal_mode=WAL;
CREATE TABLE courier_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE inboxes (inbox TEXT PRIMARY KEY, head INTEGER NOT NULL,
  max_cursor INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE cursors (inbox TEXT NOT NULL, device TEXT NOT NULL, acked INTEGER NOT NULL,
  PRIMARY KEY (inbox, device)) WITHOUT ROWID;
)sql");
  raw.Exec("INSERT INTO courier_schema VALUES ('messages', " + std::to_string(version) + ")");
  raw.Exec(sql);
}

TEST_CASE("SqliteStore: both stores share one file and survive a reopen", "[sqlite]") {
  TempDir dir;
  const SqliteOptions options = SqliteOptions::Durable(dir.File("shared.db"));
  {
    auto messages = MustOpenMessages(options);
    auto accounts = MustOpenAccounts(options);
    COURIER_REQUIRE_OK(accounts->CreateUser("alice", "h1", 1));
    COURIER_REQUIRE_OK(accounts->CreateUser("bob", "h2", 1));
    std::vector<WriteOp> ops = {Message("1"), Message("2"), AckOp{"bob", "phone", 1, 5}};
    for (const auto& r : messages->Write(ops)) COURIER_REQUIRE_OK(r);
    COURIER_REQUIRE_OK(accounts->SetLastSeen("bob", 77));
  }
  auto messages = MustOpenMessages(options);
  auto accounts = MustOpenAccounts(options);
  REQUIRE(*messages->Head("bob") == 2);
  REQUIRE(*messages->Head("alice") == 1);
  REQUIRE(*messages->Cursor("bob", "phone") == 1);
  REQUIRE(*messages->Status("bob", "id-1") == MessageStatus::kDelivered);
  REQUIRE(*accounts->PasswordHash("bob") == "h2");
  REQUIRE(*accounts->LastSeen("bob") == std::optional<TimeMs>(77));
}

TEST_CASE("SqliteStore: the schema version of each store is recorded", "[sqlite]") {
  TempDir dir;
  const SqliteOptions options = SqliteOptions::Durable(dir.File("v.db"));
  auto messages = MustOpenMessages(options);
  auto accounts = MustOpenAccounts(options);
  RawDb raw(options.path);
  // Messages: 1 the first schema, 2 the in-memory indexes, 3 groups.
  REQUIRE(raw.Int("SELECT version FROM courier_schema WHERE component = 'messages'") == 3);
  // Accounts: 1 the first schema, 2 token revocation, 3 the admin API's tables,
  // 4 push subscriptions.
  REQUIRE(raw.Int("SELECT version FROM courier_schema WHERE component = 'accounts'") == 4);
  REQUIRE(raw.Int("SELECT count(*) FROM courier_schema") == 2);
  // Opening again migrates nothing and keeps the version.
  messages.reset();
  messages = MustOpenMessages(options);
  REQUIRE(raw.Int("SELECT version FROM courier_schema WHERE component = 'messages'") == 3);
  // One index on the log, (inbox, seq); the (sender, cid) and (inbox, id)
  // lookups are in memory.
  REQUIRE(raw.Int("SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                  "AND tbl_name = 'events'") == 1);
}

TEST_CASE("SqliteStore: a schema newer than this build is refused", "[sqlite]") {
  TempDir dir;
  const SqliteOptions options = SqliteOptions::Durable(dir.File("new.db"));
  MustOpenMessages(options).reset();
  {
    RawDb raw(options.path);
    raw.Exec("UPDATE courier_schema SET version = 99 WHERE component = 'messages'");
  }
  auto store = OpenMessageStore(options);
  REQUIRE_THAT(store.status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  REQUIRE_THAT(std::string(store.status().message()),
               Catch::Contains("version 99") && Catch::Contains(options.path));
  // The accounts component is independent.
  MustOpenAccounts(options);
}

TEST_CASE("SqliteStore: WAL mode and the durability setting are in effect", "[sqlite]") {
  TempDir dir;
  const SqliteOptions options = SqliteOptions::Durable(dir.File("wal.db"));
  REQUIRE(options.durability == SqliteOptions::Durability::kPowerLoss);
  auto store = MustOpenMessages(options);
  // journal_mode=WAL is persistent in the file: a new connection sees it.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(options.path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  REQUIRE(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
  // The per-connection synchronous level is checked in sqlite_internals_test.cc.
}

TEST_CASE("SqliteStore: a full disk fails the batch with kUnavailable and keeps earlier commits",
          "[sqlite]") {
  TempDir dir;
  SqliteOptions options = CappedFile(dir, "full.db");
  std::size_t committed = 0;
  absl::Status failure;
  {
    auto store = MustOpenMessages(options);
    for (int i = 0; i < 200 && failure.ok(); ++i) {
      std::vector<WriteOp> batch = {Message(std::to_string(2 * i), BigBody()),
                                    Message(std::to_string(2 * i + 1), BigBody())};
      auto results = store->Write(batch);
      REQUIRE(results.size() == 2);
      if (results[0].ok()) {
        COURIER_REQUIRE_OK(results[1]);
        committed += 2;
      } else {
        failure = results[0].status();
        // Every op of the failed batch carries the error.
        REQUIRE_THAT(results[1].status(), StatusIs(absl::StatusCode::kUnavailable));
      }
    }
    INFO(failure.ToString());
    REQUIRE_THAT(failure, StatusIs(absl::StatusCode::kUnavailable));
    REQUIRE(committed > 0);
    // Nothing of the failed batch is stored; everything before it is.
    REQUIRE(*store->Head("bob") == committed);
    auto events = store->Fetch("bob", 0, 100'000);
    COURIER_REQUIRE_OK(events);
    REQUIRE(events->size() == committed);
    REQUIRE(events->back().seq == committed);
    // Small writes that need no new page may still fit, big ones keep failing.
    std::vector<WriteOp> again = {Message("again", BigBody() + BigBody())};
    REQUIRE_THAT(store->Write(again).at(0).status(), StatusIs(absl::StatusCode::kUnavailable));
  }
  // With room again (no limit), everything committed is there and writes work.
  options.max_size_bytes = 0;
  auto store = MustOpenMessages(options);
  REQUIRE(*store->Head("bob") == committed);
  std::vector<WriteOp> more = {Message("more", BigBody())};
  auto results = store->Write(more);
  COURIER_REQUIRE_OK(results.at(0));
  REQUIRE(std::get<AppendResult>(*results[0]).seq == committed + 1);
}

TEST_CASE("SqliteStore: a rolled back batch leaves no trace in the in-memory indexes",
          "[sqlite]") {
  TempDir dir;
  SqliteOptions options = CappedFile(dir, "undo.db");
  auto store = MustOpenMessages(options);
  std::size_t committed = 0;
  std::string failed_cid;
  for (int i = 0; i < 200 && failed_cid.empty(); ++i) {
    // Two appends per batch: the first is applied (and indexed) before the
    // second finds the disk full and the batch rolls back.
    std::vector<WriteOp> batch = {Message(std::to_string(2 * i), BigBody()),
                                  Message(std::to_string(2 * i + 1), BigBody())};
    auto results = store->Write(batch);
    if (results.at(0).ok()) {
      committed += 2;
    } else {
      failed_cid = std::to_string(2 * i);
    }
  }
  REQUIRE_FALSE(failed_cid.empty());
  {
    // Another process frees pages: the store can write again.
    RawDb raw(options.path);
    raw.Exec("DELETE FROM events WHERE seq <= 10");
  }
  // The failed batch's cid and message id are free: a fresh append, not a dup.
  std::vector<WriteOp> retry = {Message(failed_cid, "small")};
  auto results = store->Write(retry);
  COURIER_REQUIRE_OK(results.at(0));
  const auto& appended = std::get<AppendResult>(*results[0]);
  REQUIRE_FALSE(appended.duplicate);
  REQUIRE(appended.seq == committed + 1);
  // And now it is a dup, from memory and after a reopen.
  REQUIRE(std::get<AppendResult>(*store->Write(retry).at(0)).duplicate);
  store.reset();
  options.max_size_bytes = 0;
  store = MustOpenMessages(options);
  auto again = store->Write(retry);
  REQUIRE(std::get<AppendResult>(*again.at(0)).duplicate);
  REQUIRE(std::get<AppendResult>(*again[0]).seq == committed + 1);
}

TEST_CASE("SqliteStore: a version 1 file is migrated with its sends, ids and seqs", "[sqlite]") {
  TempDir dir;
  const SqliteOptions options = SqliteOptions::Durable(dir.File("v1.db"));
  MakeOldMessagesFile(options.path, 1, R"sql(
CREATE TABLE events (inbox TEXT NOT NULL, seq INTEGER NOT NULL, kind INTEGER NOT NULL,
  id TEXT NOT NULL, peer TEXT NOT NULL, body BLOB, status INTEGER NOT NULL,
  ts INTEGER NOT NULL, cid BLOB, PRIMARY KEY (inbox, seq));
CREATE UNIQUE INDEX events_by_sender_cid ON events (peer, cid) WHERE kind = 1;
CREATE UNIQUE INDEX events_by_message_id ON events (inbox, id) WHERE kind = 1;
CREATE INDEX events_by_ts ON events (ts);
INSERT INTO inboxes VALUES ('bob', 2, 0), ('alice', 1, 0);
INSERT INTO events VALUES ('bob', 1, 1, 'id-a', 'alice', 'one', 0, 10, X'61');
INSERT INTO events VALUES ('bob', 2, 1, 'id-b', 'alice', 'two', 1, 20, X'62');
INSERT INTO events VALUES ('alice', 1, 2, 'id-b', 'bob', NULL, 1, 30, NULL);
INSERT INTO cursors VALUES ('bob', 'phone', 0);
)sql");
  auto store = MustOpenMessages(options);
  REQUIRE(*store->Head("bob") == 2);
  auto events = store->Fetch("bob", 0, 10);
  COURIER_REQUIRE_OK(events);
  REQUIRE(events->size() == 2);
  CHECK(events->at(1).id == "id-b");
  CHECK(events->at(1).body == "two");
  // (sender, cid) and (inbox, id) were indexed from the migrated rows.
  const auto dup = Expect<AppendResult>(*store, Message("a"));
  CHECK(dup.duplicate);
  CHECK(dup.id == "id-a");
  CHECK(dup.seq == 1);
  CHECK(*store->Status("bob", "id-b") == MessageStatus::kDelivered);
  auto read = Expect<ReadResult>(*store, ReadOp{"bob", {"id-a"}, 40});
  CHECK(read.appended.size() == 2);  // delivered + read
  CHECK(*store->Status("bob", "id-a") == MessageStatus::kRead);
  CHECK(Expect<AppendResult>(*store, Message("c")).seq == 3);
  CHECK(*store->Head("alice") == 3);  // the migrated receipt plus two new ones
}

TEST_CASE("SqliteStore: two stores on one file see each other's sends and ids", "[sqlite]") {
  TempDir dir;
  const SqliteOptions options = SqliteOptions::Durable(dir.File("shared.db"));
  auto first = MustOpenMessages(options);
  auto second = MustOpenMessages(options);
  std::vector<WriteOp> send = {Message("x")};
  auto results = first->Write(send);
  COURIER_REQUIRE_OK(results.at(0));
  REQUIRE_FALSE(std::get<AppendResult>(*results[0]).duplicate);
  // The second store indexes what the first appended before its own batch.
  results = second->Write(send);
  COURIER_REQUIRE_OK(results.at(0));
  CHECK(std::get<AppendResult>(*results[0]).duplicate);
  CHECK(std::get<AppendResult>(*results[0]).seq == 1);
  CHECK(*second->Status("bob", "id-x") == MessageStatus::kSent);
  AppendOp same_id = Message("y");
  same_id.id = "id-x";
  std::vector<WriteOp> taken = {same_id};
  CHECK_THAT(second->Write(taken).at(0).status(), StatusIs(absl::StatusCode::kAlreadyExists));
  std::vector<WriteOp> read = {ReadOp{"bob", {"id-x"}, 5}};
  auto read_results = second->Write(read);
  COURIER_REQUIRE_OK(read_results.at(0));
  CHECK(*first->Status("bob", "id-x") == MessageStatus::kRead);
  // Pruned by one store, the message is gone for both: its cid is free again.
  PruneOptions prune;
  prune.now = 1'000'000;
  prune.ttl_ms = 1;
  COURIER_REQUIRE_OK(first->Prune(prune));
  CHECK_THAT(second->Status("bob", "id-x").status(), StatusIs(absl::StatusCode::kNotFound));
  results = second->Write(send);
  COURIER_REQUIRE_OK(results.at(0));
  CHECK_FALSE(std::get<AppendResult>(*results[0]).duplicate);
}

TEST_CASE("SqliteStore: a lock held elsewhere gives kUnavailable after the busy timeout",
          "[sqlite]") {
  TempDir dir;
  SqliteOptions options = SqliteOptions::Durable(dir.File("busy.db"));
  options.busy_timeout_ms = 50;
  auto store = MustOpenMessages(options);
  std::vector<WriteOp> first = {Message("1")};
  auto first_results = store->Write(first);
  COURIER_REQUIRE_OK(first_results.at(0));
  {
    RawDb other(options.path);
    other.Exec("BEGIN IMMEDIATE");
    std::vector<WriteOp> blocked = {Message("2"), AttachOp{"bob", "phone"}};
    auto results = store->Write(blocked);
    REQUIRE(results.size() == 2);
    for (const auto& r : results) {
      REQUIRE_THAT(r.status(), StatusIs(absl::StatusCode::kUnavailable));
    }
    REQUIRE_THAT(store->Ping(), StatusIs(absl::StatusCode::kUnavailable));
    // Reads are not blocked by a writer in WAL mode.
    REQUIRE(*store->Head("bob") == 1);
    other.Exec("ROLLBACK");
  }
  COURIER_REQUIRE_OK(store->Ping());
  std::vector<WriteOp> retry = {Message("2")};
  auto results = store->Write(retry);
  COURIER_REQUIRE_OK(results.at(0));
  REQUIRE(std::get<AppendResult>(*results[0]).seq == 2);
}

TEST_CASE("SqliteStore: a file that is not a database is kDataLoss", "[sqlite]") {
  TempDir dir;
  const std::string path = dir.File("garbage.db");
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 1000; ++i) out << "this is not a database. ";
  }
  auto messages = OpenMessageStore(SqliteOptions::Durable(path));
  REQUIRE_THAT(messages.status(), StatusIs(absl::StatusCode::kDataLoss));
  REQUIRE_THAT(std::string(messages.status().message()),
               Catch::Contains(path) && Catch::Contains("not a database"));
  auto accounts = OpenAccountStore(SqliteOptions::Durable(path));
  REQUIRE_THAT(accounts.status(), StatusIs(absl::StatusCode::kDataLoss));
}

TEST_CASE("SqliteStore: a damaged database is kDataLoss, not garbage", "[sqlite]") {
  TempDir dir;
  const SqliteOptions options = SqliteOptions::Durable(dir.File("damaged.db"));
  {
    auto store = MustOpenMessages(options);
    std::vector<WriteOp> ops;
    for (int i = 0; i < 50; ++i) ops.push_back(Message(std::to_string(i), std::string(2000, 'b')));
    for (const auto& r : store->Write(ops)) COURIER_REQUIRE_OK(r);
  }
  {
    RawDb raw(options.path);
    raw.Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  {
    // Overwrite every page after the first (the header) with junk.
    std::fstream file(options.path, std::ios::binary | std::ios::in | std::ios::out);
    file.seekg(0, std::ios::end);
    const std::streamoff size = file.tellg();
    REQUIRE(size > 8192);
    file.seekp(4096);
    const std::string junk(static_cast<std::size_t>(size - 4096), '\x5a');
    file.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  absl::Status status;
  auto store = OpenMessageStore(options);
  if (!store.ok()) {
    status = store.status();
  } else {
    auto events = (*store)->Fetch("bob", 0, 100);
    status = events.status();
  }
  INFO(status.ToString());
  REQUIRE_THAT(status, StatusIs(absl::StatusCode::kDataLoss));
}

TEST_CASE("SqliteStore: bad options are kInvalidArgument", "[sqlite]") {
  TempDir dir;
  SqliteOptions options;
  REQUIRE_THAT(OpenMessageStore(options).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  options.path = ":memory:";
  REQUIRE_THAT(OpenMessageStore(options).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  options.path = "file:x.db?mode=memory";
  REQUIRE_THAT(OpenAccountStore(options).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  options.path = dir.File("ok.db");
  options.busy_timeout_ms = -1;
  REQUIRE_THAT(OpenMessageStore(options).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  options.busy_timeout_ms = 0;
  options.max_size_bytes = -5;
  REQUIRE_THAT(OpenMessageStore(options).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  options.max_size_bytes = 0;
  options.cache_size_kib = -1;
  REQUIRE_THAT(OpenMessageStore(options).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_CASE("SqliteStore: a missing directory is kUnavailable naming the path", "[sqlite]") {
  TempDir dir;
  const std::string path = dir.File("no/such/dir/x.db");
  auto store = OpenMessageStore(SqliteOptions::Durable(path));
  REQUIRE_THAT(store.status(), StatusIs(absl::StatusCode::kUnavailable));
  REQUIRE_THAT(std::string(store.status().message()), Catch::Contains(path));
}

TEST_CASE("SqliteStore: invalid names in ops are kInvalidArgument for that op only", "[sqlite]") {
  TempDir dir;
  auto store = MustOpenMessages(SqliteOptions::Durable(dir.File("names.db")));
  AppendOp bad = Message("1");
  bad.recipient = "no spaces";
  AppendOp bad_cid = Message("");
  AppendOp bad_id = Message("3");
  bad_id.id = std::string(65, 'x');
  std::vector<WriteOp> ops = {bad, Message("2"), bad_cid, bad_id, AttachOp{"bob", ""},
                              AckOp{"bob", std::string(65, 'd'), 0, 0}};
  auto results = store->Write(ops);
  REQUIRE(results.size() == ops.size());
  COURIER_REQUIRE_OK(results[1]);
  for (std::size_t i : {0u, 2u, 3u, 4u, 5u}) {
    INFO("op " << i);
    REQUIRE_THAT(results[i].status(), StatusIs(absl::StatusCode::kInvalidArgument));
  }
  REQUIRE(*store->Head("bob") == 1);
}

TEST_CASE("SqliteStore: Fetch with extreme arguments", "[sqlite]") {
  TempDir dir;
  auto store = MustOpenMessages(SqliteOptions::Durable(dir.File("fetch.db")));
  std::vector<WriteOp> ops = {Message("1"), Message("2")};
  for (const auto& r : store->Write(ops)) COURIER_REQUIRE_OK(r);
  auto all = store->Fetch("bob", 0, std::numeric_limits<std::size_t>::max());
  COURIER_REQUIRE_OK(all);
  REQUIRE(all->size() == 2);
  auto none = store->Fetch("bob", std::numeric_limits<Seq>::max(), 10);
  COURIER_REQUIRE_OK(none);
  REQUIRE(none->empty());
  REQUIRE_THAT(store->Fetch("bob", 0, 0).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  std::vector<WriteOp> huge_ack = {AckOp{"bob", "phone", std::numeric_limits<Seq>::max(), 0}};
  REQUIRE_THAT(store->Write(huge_ack).at(0).status(), StatusIs(absl::StatusCode::kOutOfRange));
}

TEST_CASE("SqliteStore: two stores on one file (two processes) keep one gap-free inbox",
          "[sqlite]") {
  TempDir dir;
  const SqliteOptions options = SqliteOptions::Fast(dir.File("two.db"));
  auto first = MustOpenMessages(options);
  auto second = MustOpenMessages(options);
  constexpr int kPerStore = 30;
  std::vector<std::vector<absl::StatusOr<WriteResult>>> results(2);
  std::vector<std::thread> threads;
  for (int s = 0; s < 2; ++s) {
    MessageStore* store = (s == 0 ? first : second).get();
    threads.emplace_back([store, s, &out = results[s]] {
      for (int i = 0; i < kPerStore; ++i) {
        std::vector<WriteOp> ops = {Message(std::to_string(s) + "-" + std::to_string(i))};
        for (auto& r : store->Write(ops)) out.push_back(std::move(r));
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<Seq> seqs;
  for (const auto& per_store : results) {
    for (const auto& r : per_store) {
      COURIER_REQUIRE_OK(r);
      REQUIRE(seqs.insert(std::get<AppendResult>(*r).seq).second);
    }
  }
  REQUIRE(seqs.size() == 2 * kPerStore);
  REQUIRE(*seqs.begin() == 1);
  REQUIRE(*seqs.rbegin() == 2 * kPerStore);
  REQUIRE(*first->Head("bob") == 2 * kPerStore);
  REQUIRE(second->Fetch("bob", 0, 1000)->size() == 2 * kPerStore);
}

TEST_CASE("SqliteStore: prune removes more than one chunk of events", "[sqlite]") {
  TempDir dir;
  auto store = MustOpenMessages(SqliteOptions::Fast(dir.File("prune.db")));
  constexpr int kEvents = 11'000;  // more than two prune chunks
  for (int b = 0; b < kEvents / 1'000; ++b) {
    std::vector<WriteOp> ops;
    for (int i = 0; i < 1'000; ++i) {
      AppendOp op = Message(std::to_string(b * 1'000 + i));
      op.recipient = i % 2 == 0 ? "bob" : "carol";
      op.ts = 1'000;
      ops.push_back(op);
    }
    for (const auto& r : store->Write(ops)) COURIER_REQUIRE_OK(r);
  }
  std::vector<WriteOp> fresh = {Message("fresh")};
  std::get<AppendOp>(fresh[0]).ts = 50'000;
  for (const auto& r : store->Write(fresh)) COURIER_REQUIRE_OK(r);
  PruneOptions prune;
  prune.now = 100'000;
  prune.ttl_ms = 60'000;
  auto removed = store->Prune(prune);
  COURIER_REQUIRE_OK(removed);
  REQUIRE(*removed == kEvents);
  auto bob = store->Fetch("bob", 0, 100'000);
  COURIER_REQUIRE_OK(bob);
  REQUIRE(bob->size() == 1);
  REQUIRE(bob->front().seq == kEvents / 2 + 1);
  REQUIRE(store->Fetch("carol", 0, 100'000)->empty());
}

TEST_CASE("SqliteStore: prune crosses a large gap in the log's positions", "[sqlite]") {
  TempDir dir;
  const SqliteOptions options = SqliteOptions::Fast(dir.File("gap.db"));
  auto store = MustOpenMessages(options);
  auto send = [&](const std::string& cid) {
    std::vector<WriteOp> ops = {Message(cid)};
    auto results = store->Write(ops);
    COURIER_REQUIRE_OK(results.at(0));
  };
  send("before-1");
  send("before-2");
  {
    RawDb raw(options.path);  // as after years of appends and prunes
    raw.Exec("UPDATE sqlite_sequence SET seq = 1000000000 WHERE name = 'events'");
  }
  send("after-1");
  PruneOptions prune;
  prune.now = 100'000;
  prune.ttl_ms = 60'000;  // everything above (ts 1,000) is past its TTL
  auto removed = store->Prune(prune);
  COURIER_REQUIRE_OK(removed);
  CHECK(*removed == 3);
  CHECK(store->Fetch("bob", 0, 100)->empty());
  CHECK(*store->Head("bob") == 3);  // seqs are never reused
}

TEST_CASE("SqliteStore: the fast preset commits and reopens", "[sqlite]") {
  TempDir dir;
  const SqliteOptions options = SqliteOptions::Fast(dir.File("fast.db"));
  REQUIRE(options.durability == SqliteOptions::Durability::kProcessCrash);
  {
    auto store = MustOpenMessages(options);
    std::vector<WriteOp> ops = {Message("1")};
    auto results = store->Write(ops);
    COURIER_REQUIRE_OK(results.at(0));
  }
  auto store = MustOpenMessages(options);
  REQUIRE(*store->Head("bob") == 1);
}

// --- Groups (issue 17) -------------------------------------------------------------

TEST_CASE("SqliteStore: a version 2 file gains the group tables and keeps its events",
          "[sqlite][group]") {
  TempDir dir;
  const SqliteOptions options = SqliteOptions::Durable(dir.File("v2.db"));
  MakeOldMessagesFile(options.path, 2, R"sql(
CREATE TABLE events (pos INTEGER PRIMARY KEY AUTOINCREMENT, inbox TEXT NOT NULL,
  seq INTEGER NOT NULL, kind INTEGER NOT NULL, id TEXT NOT NULL, peer TEXT NOT NULL,
  body BLOB, status INTEGER NOT NULL, ts INTEGER NOT NULL, cid BLOB, UNIQUE (inbox, seq));
INSERT INTO inboxes VALUES ('bob', 1, 0);
INSERT INTO events (inbox, seq, kind, id, peer, body, status, ts, cid)
  VALUES ('bob', 1, 1, 'id-a', 'alice', 'one', 0, 10, X'61');
)sql");
  {
    auto store = MustOpenMessages(options);
    RawDb raw(options.path);
    CHECK(raw.Int("SELECT version FROM courier_schema WHERE component = 'messages'") == 3);
    auto events = store->Fetch("bob", 0, 10);
    COURIER_REQUIRE_OK(events);
    REQUIRE(events->size() == 1);
    CHECK(events->at(0).body == "one");
    CHECK(events->at(0).group.empty());
    CHECK(Expect<AppendResult>(*store, Message("a")).duplicate);
    Expect<GroupChangeResult>(*store, CreateGroup("alice", "g1", {"bob"}));
    auto sent = Expect<GroupSendResult>(*store, GroupMessage("alice", "1", "g1"));
    CHECK(sent.recipients == 2);
    events = store->Fetch("bob", 1, 10);
    COURIER_REQUIRE_OK(events);
    REQUIRE(events->size() == 2);
    CHECK(events->at(0).kind == EventKind::kGroupChange);
    CHECK(events->at(1).group == "g1");
  }
  auto store = MustOpenMessages(options);  // the reopen indexes the group copies
  auto groups = store->GroupsOf("bob");
  COURIER_REQUIRE_OK(groups);
  REQUIRE(groups->size() == 1);
  CHECK(groups->at(0).id == "g1");
  auto dup = Expect<GroupSendResult>(*store, GroupMessage("alice", "1", "g1"));
  CHECK(dup.duplicate);
  CHECK(dup.seq == 2);  // alice's own copy, after the change event
}

TEST_CASE("SqliteStore: only the sender's copy of a group send keeps the cid, stored as read",
          "[sqlite][group]") {
  TempDir dir;
  const SqliteOptions options = SqliteOptions::Durable(dir.File("groups.db"));
  auto store = MustOpenMessages(options);
  Expect<GroupChangeResult>(*store, CreateGroup("alice", "g1", {"bob", "carol"}));
  Expect<GroupSendResult>(*store, GroupMessage("alice", "1", "g1"));
  RawDb raw(options.path);
  CHECK(raw.Int("SELECT count(*) FROM events WHERE id = 'id-alice-1'") == 3);
  CHECK(raw.Int("SELECT count(*) FROM events WHERE id = 'id-alice-1' AND cid IS NOT NULL") == 1);
  CHECK(raw.Int("SELECT count(*) FROM events WHERE id = 'id-alice-1' AND cid IS NOT NULL "
                "AND inbox = 'alice' AND status = 2") == 1);
  CHECK(raw.Int("SELECT count(*) FROM events WHERE group_id = 'g1'") == 6);
  CHECK(raw.Int("SELECT count(*) FROM group_members WHERE group_id = 'g1'") == 3);
  CHECK(raw.Int("SELECT count(*) FROM group_records") == 1);
  // The last member leaving deletes the record and every member row.
  for (const char* who : {"bob", "carol", "alice"}) {
    GroupChangeOp leave;
    leave.action = GroupAction::kLeave;
    leave.actor = who;
    leave.group = "g1";
    leave.id = std::string("leave-") + who;
    leave.ts = 3'000;
    Expect<GroupChangeResult>(*store, leave);
  }
  CHECK(raw.Int("SELECT count(*) FROM group_records") == 0);
  CHECK(raw.Int("SELECT count(*) FROM group_members") == 0);
  CHECK_THAT(store->Group("g1").status(), StatusIs(absl::StatusCode::kNotFound));
}

TEST_CASE("SqliteStore: two stores on one file share groups and group sends", "[sqlite][group]") {
  TempDir dir;
  const SqliteOptions options = SqliteOptions::Durable(dir.File("shared.db"));
  auto first = MustOpenMessages(options);
  auto second = MustOpenMessages(options);
  Expect<GroupChangeResult>(*first, CreateGroup("alice", "g1", {"bob"}));
  auto sent = Expect<GroupSendResult>(*second, GroupMessage("alice", "1", "g1"));
  CHECK(sent.recipients == 2);
  // The first store indexes the second's sender copy before its own batch.
  auto dup = Expect<GroupSendResult>(*first, GroupMessage("alice", "1", "g1"));
  CHECK(dup.duplicate);
  CHECK(dup.seq == sent.seq);
  // A member added through one store gets the other's next send.
  GroupChangeOp add;
  add.action = GroupAction::kAdd;
  add.actor = "alice";
  add.group = "g1";
  add.members = {"carol"};
  add.id = "chg-add";
  add.ts = 1'500;
  Expect<GroupChangeResult>(*first, add);
  CHECK(Expect<GroupSendResult>(*second, GroupMessage("alice", "2", "g1")).recipients == 3);
  // Bob's copy held no cid: deleting his inbox keeps the record ...
  COURIER_REQUIRE_OK(first->DeleteInbox("bob"));
  CHECK(Expect<GroupSendResult>(*second, GroupMessage("alice", "1", "g1")).duplicate);
  // ... deleting alice's (the sender's copy) frees the cid for both stores.
  COURIER_REQUIRE_OK(second->DeleteInbox("alice"));
  GroupSendOp again = GroupMessage("alice", "1", "g1");
  again.id = "again";  // carol's inbox still holds the first one's id
  CHECK_FALSE(Expect<GroupSendResult>(*first, again).duplicate);
}

TEST_CASE("SqliteStore: a group send in a batch that fails on a full disk writes no copy",
          "[sqlite][group]") {
  TempDir dir;
  SqliteOptions options = CappedFile(dir, "full.db");
  auto store = MustOpenMessages(options);
  Expect<GroupChangeResult>(*store, CreateGroup("alice", "g1", {"bob", "carol"}));
  std::string failed;
  std::map<UserId, Seq> heads;
  for (int i = 0; i < 100 && failed.empty(); ++i) {
    for (const char* user : {"alice", "bob", "carol"}) heads[user] = *store->Head(user);
    // Two sends per batch: the first is applied before the second (or the
    // commit) finds the disk full, and the whole batch rolls back.
    std::vector<WriteOp> batch = {
        GroupMessage("alice", std::to_string(2 * i), "g1", 2'000, BigBody()),
        GroupMessage("alice", std::to_string(2 * i + 1), "g1", 2'000, BigBody())};
    auto results = store->Write(batch);
    if (!results.at(0).ok()) {
      CHECK_THAT(results[0].status(), StatusIs(absl::StatusCode::kUnavailable));
      failed = std::to_string(2 * i);
    }
  }
  REQUIRE_FALSE(failed.empty());
  for (const auto& [user, head] : heads) CHECK(*store->Head(user) == head);
  {
    RawDb raw(options.path);  // another process frees pages
    raw.Exec("DELETE FROM events WHERE body IS NOT NULL AND length(body) > 1000 AND seq <= 8");
  }
  // Neither the cid nor the id of the failed send is taken.
  auto retry =
      Expect<GroupSendResult>(*store, GroupMessage("alice", failed, "g1", 2'000, "small"));
  CHECK_FALSE(retry.duplicate);
  CHECK(retry.recipients == 3);
  CHECK(retry.seq == heads["alice"] + 1);
}

}  // namespace
}  // namespace courier::sqlite
