// The MessageStore and AccountStore conformance suites on courier::rocksdb,
// each test case on a fresh database directory, reopened on it for the
// durability cases.
#include "courier/rocksdb.h"

#include <memory>
#include <utility>
#include <vector>

#include "courier/memory.h"
#include "courier/status.h"

#include "conformance/account_store_suite.h"
#include "conformance/message_store_suite.h"
#include "support/temp_dir.h"

namespace courier::rocksdb {
namespace {

// A small write buffer, and the writer's cache of `cache_max_inboxes`.
template <class Store>
std::unique_ptr<conformance::StoreFixture<Store>> Fixture(
    absl::StatusOr<std::unique_ptr<Store>> (*open)(const RocksdbOptions&),
    std::size_t cache_max_inboxes = RocksdbOptions().cache_max_inboxes) {
  return conformance::TempDirFixture<Store, RocksdbOptions>(
      open, [cache_max_inboxes](const testing::TempDir& dir) {
        RocksdbOptions options = RocksdbOptions::Durable(dir.File("db"));
        options.write_buffer_bytes = 1 << 20;
        options.cache_max_inboxes = cache_max_inboxes;
        return options;
      });
}

auto MessageFixture() { return Fixture<MessageStore>(&OpenMessageStore); }

// The store written the way the engine's commit queue writes it: every Write
// staged (WriteStaged) and then synced (WriteAndSync). Owns the store it wraps.
struct OwnedStore {
  std::unique_ptr<MessageStore> owned;
};
class StagedWrites final : private OwnedStore, public memory::MessageStoreWrapper {
 public:
  explicit StagedWrites(std::unique_ptr<MessageStore> inner)
      : OwnedStore{std::move(inner)}, MessageStoreWrapper(*owned) {}
  std::vector<absl::StatusOr<WriteResult>> Write(absl::Span<const WriteOp> ops) override {
    return WriteAndSync(target(), ops);
  }
};

absl::StatusOr<std::unique_ptr<MessageStore>> OpenStaged(const RocksdbOptions& options) {
  RocksdbOptions staged = options;
  staged.stage_writes = true;
  COURIER_ASSIGN_OR_RETURN(std::unique_ptr<MessageStore> store, OpenMessageStore(staged));
  if (!store->StagesWrites()) return absl::InternalError("expected a store that stages writes");
  return std::unique_ptr<MessageStore>(std::make_unique<StagedWrites>(std::move(store)));
}
auto StagedMessageFixture() { return Fixture<MessageStore>(&OpenStaged); }
auto AccountFixture() { return Fixture<AccountStore>(&OpenAccountStore); }
// The writer's cache starts over before every batch: every op reads its
// inboxes' state back from the database.
auto UncachedMessageFixture() { return Fixture<MessageStore>(&OpenMessageStore, 1); }

}  // namespace
}  // namespace courier::rocksdb

COURIER_MESSAGE_STORE_CONFORMANCE("rocksdb", courier::rocksdb::MessageFixture)
COURIER_MESSAGE_STORE_DURABILITY_CONFORMANCE("rocksdb", courier::rocksdb::MessageFixture)
COURIER_MESSAGE_STORE_CONFORMANCE("rocksdb, staged writes", courier::rocksdb::StagedMessageFixture)
COURIER_MESSAGE_STORE_CONFORMANCE("rocksdb, cache of one inbox",
                                  courier::rocksdb::UncachedMessageFixture)
COURIER_ACCOUNT_STORE_CONFORMANCE("rocksdb", courier::rocksdb::AccountFixture)
COURIER_ACCOUNT_STORE_DURABILITY_CONFORMANCE("rocksdb", courier::rocksdb::AccountFixture)
