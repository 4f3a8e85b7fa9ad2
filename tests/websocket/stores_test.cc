// Tests of examples/server/stores.h: which --store is embedded, and the data
// dir rule (a new store only in a data dir that holds none), on real stores.
#include "stores.h"

#include <filesystem>
#include <string>

#include "courier/rocksdb.h"
#include "courier/sqlite.h"
#include "support/status_matchers.h"
#include "support/temp_dir.h"

namespace courier::server {
namespace {

using ::courier::testing::IsOk;
using ::courier::testing::StatusIs;
using Kind = EmbeddedStore::Kind;

// A fresh data dir and the default places of its stores.
struct DataDir {
  testing::TempDir dir;
  const std::string& path = dir.path();
  std::string rocksdb() const { return dir.File("rocksdb"); }
  std::string sqlite() const { return dir.File("courier.db"); }
};

void MakeRocksdb(const std::string& path) {
  COURIER_REQUIRE_OK(rocksdb::OpenMessageStore(rocksdb::RocksdbOptions::Durable(path)));
  REQUIRE(rocksdb::LooksLikeRocksdb(path));
}

void MakeSqlite(const std::string& path) {
  COURIER_REQUIRE_OK(sqlite::OpenMessageStore(sqlite::SqliteOptions::Durable(path)));
}

TEST_CASE("Stores: rocksdb:, sqlite:, memory and the default are embedded", "[server][stores]") {
  for (const char* store : {"", "rocksdb:/var/lib/courier/rocksdb", "sqlite:x.db", "memory"}) {
    INFO(store);
    CHECK(IsEmbeddedStore(store));
    CHECK(IsMemoryStore(store) == (std::string_view(store) == "memory"));
  }
  for (const char* store : {"postgresql://h/db", "postgres://h/db", "mongodb://h/db", "redis://h"}) {
    INFO(store);
    CHECK_FALSE(IsEmbeddedStore(store));
  }
}

TEST_CASE("Stores: an empty data dir takes a new store of either kind", "[server][stores]") {
  DataDir dir;
  CHECK_THAT(CheckDataDir(dir.path, {Kind::kRocksdb, dir.rocksdb()}), IsOk());
  CHECK_THAT(CheckDataDir(dir.path, {Kind::kSqlite, dir.sqlite()}), IsOk());
  // An empty rocksdb folder is no store.
  std::filesystem::create_directory(dir.rocksdb());
  CHECK_THAT(CheckDataDir(dir.path, {Kind::kSqlite, dir.sqlite()}), IsOk());
}

TEST_CASE("Stores: a data dir with a SQLite store refuses a new RocksDB one", "[server][stores]") {
  DataDir dir;
  MakeSqlite(dir.sqlite());
  absl::Status s = CheckDataDir(dir.path, {Kind::kRocksdb, dir.rocksdb()});  // the default
  CHECK_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition));
  CHECK(s.message() == "data dir " + dir.path + " holds a SQLite store (courier.db); start with "
                       "--store sqlite:" + dir.path + "/courier.db to use it");
  // Also elsewhere: the store would be new and empty all the same.
  CHECK_THAT(CheckDataDir(dir.path, {Kind::kRocksdb, dir.path + "-elsewhere"}),
             StatusIs(absl::StatusCode::kFailedPrecondition));
  // The store it holds is opened.
  CHECK_THAT(CheckDataDir(dir.path, {Kind::kSqlite, dir.sqlite()}), IsOk());
}

TEST_CASE("Stores: a data dir with a RocksDB store refuses a new SQLite one", "[server][stores]") {
  DataDir dir;
  MakeRocksdb(dir.rocksdb());
  absl::Status s = CheckDataDir(dir.path, {Kind::kSqlite, dir.sqlite()});
  CHECK_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition));
  CHECK(s.message() == "data dir " + dir.path + " holds a RocksDB store (rocksdb); start with "
                       "--store rocksdb:" + dir.path + "/rocksdb to use it");
  CHECK_THAT(CheckDataDir(dir.path, {Kind::kRocksdb, dir.rocksdb()}), IsOk());
}

TEST_CASE("Stores: an existing store is opened whatever else the data dir holds",
          "[server][stores]") {
  DataDir dir;
  MakeRocksdb(dir.rocksdb());
  MakeSqlite(dir.sqlite());
  CHECK_THAT(CheckDataDir(dir.path, {Kind::kRocksdb, dir.rocksdb()}), IsOk());
  CHECK_THAT(CheckDataDir(dir.path, {Kind::kSqlite, dir.sqlite()}), IsOk());
  // An existing store outside the data dir too.
  DataDir other;
  MakeSqlite(other.sqlite());
  CHECK_THAT(CheckDataDir(dir.path, {Kind::kSqlite, other.sqlite()}), IsOk());
}

TEST_CASE("Stores: --store memory opens in any data dir and says it is not durable",
          "[server][stores]") {
  DataDir dir;
  MakeSqlite(dir.sqlite());  // no data dir rule: nothing here is touched
  ServerFlags flags;
  flags.data_dir = dir.path;
  flags.store = "memory";
  absl::StatusOr<Backends> b = OpenBackends(flags, std::string(32, 'k'), SystemClock());
  REQUIRE_THAT(b.status(), IsOk());
  CHECK(b->store_description == kMemoryStoreDescription);
  CHECK(b->store_description.find("NOT durable") != std::string::npos);
  CHECK_THAT(b->accounts->CreateUser("alice", "hash", 1), IsOk());
}

}  // namespace
}  // namespace courier::server
