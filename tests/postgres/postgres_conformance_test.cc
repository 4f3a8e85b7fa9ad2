// The MessageStore and AccountStore conformance suites on courier::postgres,
// against the server named by COURIER_TEST_POSTGRES_URL.
#include "courier/postgres.h"

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

}  // namespace

COURIER_MESSAGE_STORE_CONFORMANCE("postgres", MessageFixture)
COURIER_MESSAGE_STORE_DURABILITY_CONFORMANCE("postgres", MessageFixture)
COURIER_ACCOUNT_STORE_CONFORMANCE("postgres", AccountFixture)
COURIER_ACCOUNT_STORE_DURABILITY_CONFORMANCE("postgres", AccountFixture)
