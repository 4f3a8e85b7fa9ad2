// The MessageStore and AccountStore conformance suites on courier::sqlite,
// each test case on a fresh file in its own temp dir, reopened on that file
// for the durability cases.
#include "courier/sqlite.h"

#include <memory>

#include "conformance/account_store_suite.h"
#include "conformance/message_store_suite.h"
#include "support/temp_dir.h"

namespace {

using ::courier::AccountStore;
using ::courier::MessageStore;
using ::courier::conformance::StoreFixture;
using ::courier::conformance::TempDirFixture;
using ::courier::sqlite::SqliteOptions;
using ::courier::testing::TempDir;

template <class Store>
std::unique_ptr<StoreFixture<Store>> SqliteFixture(
    absl::StatusOr<std::unique_ptr<Store>> (*open)(const SqliteOptions&)) {
  return TempDirFixture<Store, SqliteOptions>(
      open, [](const TempDir& dir) { return SqliteOptions::Durable(dir.File("courier.db")); });
}

auto MessageFixture() { return SqliteFixture<MessageStore>(&courier::sqlite::OpenMessageStore); }
auto AccountFixture() { return SqliteFixture<AccountStore>(&courier::sqlite::OpenAccountStore); }

}  // namespace

COURIER_MESSAGE_STORE_CONFORMANCE("sqlite", MessageFixture)
COURIER_MESSAGE_STORE_DURABILITY_CONFORMANCE("sqlite", MessageFixture)
COURIER_ACCOUNT_STORE_CONFORMANCE("sqlite", AccountFixture)
COURIER_ACCOUNT_STORE_DURABILITY_CONFORMANCE("sqlite", AccountFixture)
