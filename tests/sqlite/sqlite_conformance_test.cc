// The MessageStore and AccountStore conformance suites on courier::sqlite,
// each test case on a fresh file in its own temp dir, reopened on that file
// for the durability cases.
#include "courier/sqlite.h"

#include <memory>

#include "conformance/account_store_suite.h"
#include "conformance/message_store_suite.h"
#include "support/temp_dir.h"

namespace courier::sqlite {
namespace {

template <class Store>
std::unique_ptr<conformance::StoreFixture<Store>> Fixture(
    absl::StatusOr<std::unique_ptr<Store>> (*open)(const SqliteOptions&)) {
  return conformance::TempDirFixture<Store, SqliteOptions>(open, [](const testing::TempDir& dir) {
    return SqliteOptions::Durable(dir.File("courier.db"));
  });
}

auto MessageFixture() { return Fixture<MessageStore>(&OpenMessageStore); }
auto AccountFixture() { return Fixture<AccountStore>(&OpenAccountStore); }

}  // namespace
}  // namespace courier::sqlite

COURIER_MESSAGE_STORE_CONFORMANCE("sqlite", courier::sqlite::MessageFixture)
COURIER_MESSAGE_STORE_DURABILITY_CONFORMANCE("sqlite", courier::sqlite::MessageFixture)
COURIER_ACCOUNT_STORE_CONFORMANCE("sqlite", courier::sqlite::AccountFixture)
COURIER_ACCOUNT_STORE_DURABILITY_CONFORMANCE("sqlite", courier::sqlite::AccountFixture)
