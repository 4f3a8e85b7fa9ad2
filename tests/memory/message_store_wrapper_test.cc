// MessageStoreWrapper: every MessageStore call reaches the target with its
// arguments, the target's answer comes back unchanged, and a subclass
// changes only what it overrides.
#include "courier/memory.h"

#include <catch2/catch.hpp>

#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "conformance/message_store_suite.h"
#include "support/status_matchers.h"

namespace courier::memory {
namespace {

using ::courier::conformance::message_store_cases::IdOf;
using ::courier::conformance::message_store_cases::Message;
using ::courier::testing::StatusIs;

// A target that records each call as "Method(arguments)" and answers each
// method with a value of its own, so that a test sees which call reached it
// and with what.
class RecordingStore final : public MessageStore {
 public:
  std::vector<absl::StatusOr<WriteResult>> Write(absl::Span<const WriteOp> ops) override {
    calls.push_back(absl::StrCat("Write(", ops.size(), ")"));
    return {AttachResult{3, 4}, absl::OutOfRangeError("second op")};
  }
  absl::StatusOr<std::vector<Event>> Fetch(const UserId& user, Seq after,
                                           std::size_t limit) override {
    calls.push_back(absl::StrCat("Fetch(", user, ",", after, ",", limit, ")"));
    Event e;
    e.seq = after + 1;
    e.id = "fetched";
    return std::vector<Event>{e};
  }
  absl::StatusOr<Seq> Head(const UserId& user) override {
    calls.push_back(absl::StrCat("Head(", user, ")"));
    return 11;
  }
  absl::StatusOr<Seq> Cursor(const UserId& user, const DeviceId& device) override {
    calls.push_back(absl::StrCat("Cursor(", user, ",", device, ")"));
    return 12;
  }
  absl::StatusOr<MessageStatus> Status(const UserId& recipient, const MessageId& id) override {
    calls.push_back(absl::StrCat("Status(", recipient, ",", id, ")"));
    return MessageStatus::kRead;
  }
  absl::StatusOr<std::size_t> Prune(const PruneOptions& options) override {
    calls.push_back(absl::StrCat("Prune(", options.now, ",", options.acked_retention_ms, ",",
                                 options.ttl_ms, ")"));
    return 13;
  }
  absl::StatusOr<std::size_t> DeleteInbox(const UserId& user) override {
    calls.push_back(absl::StrCat("DeleteInbox(", user, ")"));
    return 14;
  }
  absl::StatusOr<GroupRecord> Group(const GroupId& id) override {
    calls.push_back(absl::StrCat("Group(", id, ")"));
    GroupRecord record;
    record.id = id;
    record.name = "team";
    return record;
  }
  absl::StatusOr<std::vector<GroupRecord>> GroupsOf(const UserId& user) override {
    calls.push_back(absl::StrCat("GroupsOf(", user, ")"));
    return std::vector<GroupRecord>(2);
  }
  bool StagesWrites() const override {
    calls.push_back("StagesWrites()");
    return true;
  }
  StagedWrite WriteStaged(absl::Span<const WriteOp> ops) override {
    calls.push_back(absl::StrCat("WriteStaged(", ops.size(), ")"));
    return StagedWrite{{absl::DataLossError("staged")}, nullptr};
  }
  void Prepare(WriteOp& op) override {
    calls.push_back(absl::StrCat("Prepare(", op.index(), ")"));
    op = AttachOp{"prepared", "by target"};
  }
  absl::Status Ping() override {
    calls.push_back("Ping()");
    return absl::DataLossError("the target's own error");
  }

  mutable std::vector<std::string> calls;
};

TEST_CASE("MessageStoreWrapper: every call reaches the target and its answer comes back",
          "[memory][wrapper]") {
  RecordingStore target;
  MessageStoreWrapper wrapper(target);
  REQUIRE(&wrapper.target() == &target);

  const std::vector<WriteOp> ops = {AttachOp{"bob", "phone"}, AckOp{"bob", "phone", 9, 0}};
  auto written = wrapper.Write(ops);
  REQUIRE(written.size() == 2);
  REQUIRE(std::get<AttachResult>(*written[0]).head == 4);
  REQUIRE_THAT(written[1].status(), StatusIs(absl::StatusCode::kOutOfRange));
  auto fetched = wrapper.Fetch("bob", 5, 7);
  REQUIRE(fetched->size() == 1);
  REQUIRE(fetched->front().seq == 6);
  REQUIRE(*wrapper.Head("bob") == 11);
  REQUIRE(*wrapper.Cursor("bob", "phone") == 12);
  REQUIRE(*wrapper.Status("bob", "m1") == MessageStatus::kRead);
  REQUIRE(*wrapper.Prune(PruneOptions{100, 200, 300}) == 13);
  REQUIRE(*wrapper.DeleteInbox("carol") == 14);
  REQUIRE(wrapper.Group("g1")->name == "team");
  REQUIRE(wrapper.GroupsOf("dave")->size() == 2);
  WriteOp to_prepare = AckOp{"bob", "phone", 1, 0};
  wrapper.Prepare(to_prepare);
  REQUIRE(std::get<AttachOp>(to_prepare).user == "prepared");
  REQUIRE(wrapper.StagesWrites());
  auto staged = wrapper.WriteStaged(ops);
  REQUIRE(staged.results.size() == 1);
  REQUIRE_THAT(staged.results[0].status(), StatusIs(absl::StatusCode::kDataLoss));
  REQUIRE(staged.sync == nullptr);
  const absl::Status ping = wrapper.Ping();
  REQUIRE_THAT(ping, StatusIs(absl::StatusCode::kDataLoss));
  REQUIRE(ping.message() == "the target's own error");

  // Each call once, in order, with its arguments: all thirteen virtuals.
  REQUIRE(target.calls == std::vector<std::string>{
                              "Write(2)", "Fetch(bob,5,7)", "Head(bob)", "Cursor(bob,phone)",
                              "Status(bob,m1)", "Prune(100,200,300)", "DeleteInbox(carol)",
                              "Group(g1)", "GroupsOf(dave)", "Prepare(2)", "StagesWrites()",
                              "WriteStaged(2)", "Ping()"});
}

TEST_CASE("MessageStoreWrapper: a subclass changes what it overrides and forwards the rest",
          "[memory][wrapper]") {
  // A store whose Head is always 0 (a made-up change, for the test).
  class ZeroHead final : public MessageStoreWrapper {
   public:
    using MessageStoreWrapper::MessageStoreWrapper;
    absl::StatusOr<Seq> Head(const UserId&) override { return 0; }
  };
  auto target = OpenMessageStore();
  ZeroHead store(*target);
  auto written = store.Write({WriteOp(Message("alice", "c1", "bob"))});
  COURIER_REQUIRE_OK(written.at(0));
  REQUIRE(*store.Head("bob") == 0);    // changed
  REQUIRE(*target->Head("bob") == 1);  // the write went through
  REQUIRE(store.Fetch("bob", 0, 10)->size() == 1);
  REQUIRE(*store.Status("bob", IdOf("alice", "c1")) == MessageStatus::kSent);
  COURIER_REQUIRE_OK(store.Ping());
}

}  // namespace
}  // namespace courier::memory
