// The MessageStore and AccountStore conformance suites on courier::memory.
#include "courier/memory.h"

#include "conformance/account_store_suite.h"
#include "conformance/message_store_suite.h"

namespace {

using ::courier::AccountStore;
using ::courier::MessageStore;
using ::courier::conformance::MakeFixture;

}  // namespace

COURIER_MESSAGE_STORE_CONFORMANCE("memory", [] {
  return MakeFixture<MessageStore>(
      []() -> absl::StatusOr<std::unique_ptr<MessageStore>> {
        return courier::memory::OpenMessageStore();
      });
})

COURIER_ACCOUNT_STORE_CONFORMANCE("memory", [] {
  return MakeFixture<AccountStore>(
      []() -> absl::StatusOr<std::unique_ptr<AccountStore>> {
        return courier::memory::OpenAccountStore();
      });
})

TEST_CASE("MemoryMessageStore: invalid names are kInvalidArgument", "[memory]") {
  auto store = courier::memory::OpenMessageStore();
  courier::AppendOp op = courier::conformance::message_store_cases::Message("alice", "c1", "bob");
  op.recipient = "bad name";
  std::vector<courier::WriteOp> ops = {op, courier::AttachOp{"bob", ""},
                                       courier::AckOp{"", "phone", 0, 0}};
  auto results = store->Write(ops);
  REQUIRE(results.size() == 3);
  for (const auto& r : results) {
    REQUIRE_THAT(r.status(), courier::testing::StatusIs(absl::StatusCode::kInvalidArgument));
  }
  REQUIRE(*store->Head("bob") == 0);
}
