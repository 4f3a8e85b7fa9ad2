// The MessageStore and AccountStore conformance suites on courier::postgres,
// against the server named by COURIER_TEST_POSTGRES_URL.
#include "courier/postgres.h"

#include <memory>
#include <utility>

#include "courier/memory.h"

#include "conformance/account_store_suite.h"
#include "conformance/message_store_suite.h"
#include "pg_test_database.h"

namespace {

using ::courier::AccountStore;
using ::courier::MessageStore;
using ::courier::postgres::testing::SchemaFixture;

std::unique_ptr<courier::conformance::StoreFixture<MessageStore>> MessageFixture() {
  return std::make_unique<SchemaFixture<MessageStore>>(&courier::postgres::OpenMessageStore);
}

std::unique_ptr<courier::conformance::StoreFixture<AccountStore>> AccountFixture() {
  return std::make_unique<SchemaFixture<AccountStore>>(&courier::postgres::OpenAccountStore);
}

// The store written the way the engine's commit queue writes it with
// pipelined commits: every Write staged (WriteStaged) and then synced
// (WriteAndSync). Owns the store it wraps.
struct OwnedStore {
  std::unique_ptr<MessageStore> owned;
};
class StagedWrites final : private OwnedStore, public courier::memory::MessageStoreWrapper {
 public:
  explicit StagedWrites(std::unique_ptr<MessageStore> inner)
      : OwnedStore{std::move(inner)}, MessageStoreWrapper(*owned) {}
  std::vector<absl::StatusOr<courier::WriteResult>> Write(
      absl::Span<const courier::WriteOp> ops) override {
    return courier::WriteAndSync(target(), ops);
  }
};

absl::StatusOr<std::unique_ptr<MessageStore>> OpenStaged(
    const courier::postgres::PostgresOptions& options) {
  auto store = courier::postgres::OpenMessageStore(options);
  if (!store.ok()) return store.status();
  if (!(*store)->StagesWrites()) return absl::InternalError("expected a store that stages writes");
  return std::unique_ptr<MessageStore>(std::make_unique<StagedWrites>(std::move(store).value()));
}

std::unique_ptr<courier::conformance::StoreFixture<MessageStore>> StagedMessageFixture() {
  return std::make_unique<SchemaFixture<MessageStore>>(&OpenStaged);
}

}  // namespace

COURIER_MESSAGE_STORE_CONFORMANCE("postgres", MessageFixture)
COURIER_MESSAGE_STORE_CONFORMANCE("postgres, pipelined commits", StagedMessageFixture)
COURIER_MESSAGE_STORE_DURABILITY_CONFORMANCE("postgres", MessageFixture)
COURIER_ACCOUNT_STORE_CONFORMANCE("postgres", AccountFixture)
COURIER_ACCOUNT_STORE_DURABILITY_CONFORMANCE("postgres", AccountFixture)
