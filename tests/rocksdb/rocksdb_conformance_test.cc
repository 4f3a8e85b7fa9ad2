// The MessageStore and AccountStore conformance suites on courier::rocksdb,
// each test case on a fresh database directory, reopened on it for the
// durability cases.
#include "courier/rocksdb.h"

#include <memory>

#include "conformance/account_store_suite.h"
#include "conformance/message_store_suite.h"
#include "support/temp_dir.h"

namespace {

using ::courier::AccountStore;
using ::courier::MessageStore;
using ::courier::conformance::StoreFixture;
using ::courier::conformance::TempDirFixture;
using ::courier::rocksdb::RocksdbOptions;
using ::courier::testing::TempDir;

template <class Store>
std::unique_ptr<StoreFixture<Store>> RocksdbFixture(
    absl::StatusOr<std::unique_ptr<Store>> (*open)(const RocksdbOptions&),
    std::size_t cache_max_inboxes = RocksdbOptions().cache_max_inboxes) {
  return TempDirFixture<Store, RocksdbOptions>(open, [cache_max_inboxes](const TempDir& dir) {
    RocksdbOptions options = RocksdbOptions::Durable(dir.File("db"));
    options.write_buffer_bytes = 1 << 20;
    options.cache_max_inboxes = cache_max_inboxes;
    return options;
  });
}

auto MessageFixture() { return RocksdbFixture<MessageStore>(&courier::rocksdb::OpenMessageStore); }
auto AccountFixture() { return RocksdbFixture<AccountStore>(&courier::rocksdb::OpenAccountStore); }
// The writer's cache starts over before every batch: every op reads its
// inboxes' state back from the database.
auto UncachedMessageFixture() {
  return RocksdbFixture<MessageStore>(&courier::rocksdb::OpenMessageStore, 1);
}

}  // namespace

COURIER_MESSAGE_STORE_CONFORMANCE("rocksdb", MessageFixture)
COURIER_MESSAGE_STORE_DURABILITY_CONFORMANCE("rocksdb", MessageFixture)
COURIER_MESSAGE_STORE_CONFORMANCE("rocksdb, cache of one inbox", UncachedMessageFixture)
COURIER_ACCOUNT_STORE_CONFORMANCE("rocksdb", AccountFixture)
COURIER_ACCOUNT_STORE_DURABILITY_CONFORMANCE("rocksdb", AccountFixture)
