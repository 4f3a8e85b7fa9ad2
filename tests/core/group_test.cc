// The rules of groups (courier/group.h): PlanGroupChange, GroupSendRecipients,
// the refusals and their payload, both encodings, and ValidateWriteOp's rows
// for the two group ops. The stores' side is in tests/conformance; here only
// what the memory store and the encrypting wrapper add of their own.
#include "courier/group.h"

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "courier/body_cipher.h"
#include "courier/memory.h"
#include "courier/message_store.h"
#include "support/status_matchers.h"

namespace courier {
namespace {

using testing::StatusIs;

// A groups_of() backed by a map (users not in it are in no group).
struct Counts {
  std::map<UserId, std::size_t> n;
  std::size_t operator()(const UserId& u) const {
    auto it = n.find(u);
    return it == n.end() ? 0 : it->second;
  }
};

GroupChangeOp Op(GroupAction action, UserId actor, std::vector<UserId> members = {},
                 std::string name = {}) {
  GroupChangeOp op;
  op.action = action;
  op.actor = std::move(actor);
  op.group = "g1";
  op.members = std::move(members);
  op.name = std::move(name);
  op.id = "change-1";
  op.ts = 5'000;
  return op;
}

// alice (admin since 1000), bob (member since 1000), carol (member since 2000).
GroupRecord Abc() {
  GroupRecord r;
  r.id = "g1";
  r.name = "friends";
  r.created_by = "alice";
  r.created = 1'000;
  r.version = 3;
  r.members = {{"alice", GroupRole::kAdmin, 1'000},
               {"bob", GroupRole::kMember, 1'000},
               {"carol", GroupRole::kMember, 2'000}};
  return r;
}

std::vector<UserId> Users(const GroupRecord& r) {
  std::vector<UserId> out;
  for (const auto& m : r.members) out.push_back(m.user);
  return out;
}

GroupChange ChangeOf(const GroupChangePlan& plan) {
  auto change = DecodeGroupChange(plan.event.body);
  REQUIRE(change.ok());
  return *change;
}

void CheckGroupError(const absl::Status& s, GroupError e, absl::StatusCode code) {
  INFO(s.ToString());
  CHECK(s.code() == code);
  REQUIRE(GroupErrorOf(s).has_value());
  CHECK(*GroupErrorOf(s) == e);
}

// PlanGroupChange refuses `op` on `before` (no one in any group) with `e`,
// of status code `code`.
void CheckRefused(const std::optional<GroupRecord>& before, const GroupChangeOp& op, GroupError e,
                  absl::StatusCode code) {
  CheckGroupError(PlanGroupChange(before, op, Counts{}).status(), e, code);
}

TEST_CASE("ValidateGroupId and the names of roles, actions and errors", "[group]") {
  CHECK(ValidateGroupId("g_1-A").ok());
  CHECK(ValidateGroupId(std::string(64, 'g')).ok());
  for (const std::string& bad : {std::string(), std::string(65, 'g'), std::string("a.b"),
                                std::string("a b"), std::string("\xc3\xa9")}) {
    CHECK_THAT(ValidateGroupId(bad), StatusIs(absl::StatusCode::kInvalidArgument));
  }
  CHECK(GroupRoleName(GroupRole::kMember) == "member");
  CHECK(GroupRoleName(GroupRole::kAdmin) == "admin");
  for (GroupAction a : {GroupAction::kCreate, GroupAction::kAdd, GroupAction::kRemove,
                        GroupAction::kLeave, GroupAction::kRename}) {
    CHECK(ParseGroupAction(GroupActionName(a)) == a);
  }
  CHECK(GroupActionName(GroupAction::kLeave) == "leave");
  CHECK_FALSE(ParseGroupAction("Create").has_value());
  CHECK_FALSE(ParseGroupAction("").has_value());
  CHECK(GroupErrorName(GroupError::kUnknownGroup) == "unknown_group");
  CHECK(GroupErrorName(GroupError::kTooManyGroups) == "too_many_groups");
}

TEST_CASE("MakeGroupError: code and payload; GroupErrorOf tells them from other statuses",
          "[group]") {
  const std::vector<std::pair<GroupError, absl::StatusCode>> rows = {
      {GroupError::kUnknownGroup, absl::StatusCode::kNotFound},
      {GroupError::kNotMember, absl::StatusCode::kPermissionDenied},
      {GroupError::kNotAdmin, absl::StatusCode::kPermissionDenied},
      {GroupError::kGroupFull, absl::StatusCode::kResourceExhausted},
      {GroupError::kTooManyGroups, absl::StatusCode::kResourceExhausted},
      {GroupError::kGroupExists, absl::StatusCode::kAlreadyExists},
  };
  for (const auto& [e, code] : rows) {
    const absl::Status s = MakeGroupError(e, "details here");
    CheckGroupError(s, e, code);
    CHECK(s.message().find("details here") != absl::string_view::npos);
  }
  CHECK_FALSE(GroupErrorOf(absl::OkStatus()).has_value());
  CHECK_FALSE(GroupErrorOf(QueueFullError("bob", 10, 10)).has_value());
  CHECK_FALSE(GroupErrorOf(absl::NotFoundError("unknown_group")).has_value());
}

TEST_CASE("PlanGroupChange create: the actor is admin, members deduplicated, everyone told",
          "[group]") {
  GroupChangeOp op = Op(GroupAction::kCreate, "alice", {"carol", "bob", "carol", "alice"}, "trip");
  auto plan = PlanGroupChange(std::nullopt, op, Counts{});
  COURIER_REQUIRE_OK(plan);
  REQUIRE(plan->after.has_value());
  const GroupRecord& r = *plan->after;
  CHECK(r.id == "g1");
  CHECK(r.name == "trip");
  CHECK(r.created_by == "alice");
  CHECK(r.created == 5'000);
  CHECK(r.version == 1);
  CHECK(r.members == std::vector<GroupMember>{{"alice", GroupRole::kAdmin, 5'000},
                                              {"bob", GroupRole::kMember, 5'000},
                                              {"carol", GroupRole::kMember, 5'000}});
  CHECK(plan->joined == std::vector<UserId>{"alice", "bob", "carol"});
  CHECK(plan->left.empty());
  CHECK(plan->told == std::vector<UserId>{"alice", "bob", "carol"});
  CHECK(plan->event.kind == EventKind::kGroupChange);
  CHECK(plan->event.peer == "alice");
  CHECK(plan->event.group == "g1");
  CHECK(plan->event.id == "change-1");
  CHECK(plan->event.ts == 5'000);
  CHECK(plan->event.seq == 0);
  CHECK(ChangeOf(*plan) == GroupChange{GroupAction::kCreate, {"alice", "bob", "carol"}, "trip"});

  SECTION("alone") {
    auto solo = PlanGroupChange(std::nullopt, Op(GroupAction::kCreate, "zed", {}, "me"), Counts{});
    COURIER_REQUIRE_OK(solo);
    CHECK(Users(*solo->after) == std::vector<UserId>{"zed"});
    CHECK(ChangeOf(*solo).members == std::vector<UserId>{"zed"});
  }
  SECTION("an existing id is refused") {
    CheckRefused(Abc(), op, GroupError::kGroupExists, absl::StatusCode::kAlreadyExists);
  }
  SECTION("max_members counts the actor and unique members") {
    op.limits.max_members = 3;
    CHECK(PlanGroupChange(std::nullopt, op, Counts{}).ok());
    op.limits.max_members = 2;
    CheckRefused(std::nullopt, op, GroupError::kGroupFull, absl::StatusCode::kResourceExhausted);
  }
  SECTION("every joiner, the actor included, stays within max_groups_per_user") {
    op.limits.max_groups_per_user = 2;
    CHECK(PlanGroupChange(std::nullopt, op, Counts{{{"alice", 1}, {"carol", 1}}}).ok());
    CheckGroupError(PlanGroupChange(std::nullopt, op, Counts{{{"alice", 2}}}).status(),
                    GroupError::kTooManyGroups, absl::StatusCode::kResourceExhausted);
    CheckGroupError(PlanGroupChange(std::nullopt, op, Counts{{{"carol", 2}}}).status(),
                    GroupError::kTooManyGroups, absl::StatusCode::kResourceExhausted);
  }
}

TEST_CASE("PlanGroupChange: a missing group is unknown_group for every other action",
          "[group]") {
  for (const GroupChangeOp& op :
       {Op(GroupAction::kAdd, "alice", {"bob"}), Op(GroupAction::kRemove, "alice", {"bob"}),
        Op(GroupAction::kLeave, "alice"), Op(GroupAction::kRename, "alice", {}, "x")}) {
    CheckRefused(std::nullopt, op, GroupError::kUnknownGroup, absl::StatusCode::kNotFound);
  }
}

TEST_CASE("PlanGroupChange add: admins only, present members skipped, limits", "[group]") {
  GroupChangeOp op = Op(GroupAction::kAdd, "alice", {"erin", "bob", "dave", "erin"});
  auto plan = PlanGroupChange(Abc(), op, Counts{});
  COURIER_REQUIRE_OK(plan);
  const GroupRecord& r = *plan->after;
  CHECK(Users(r) == std::vector<UserId>{"alice", "bob", "carol", "dave", "erin"});
  CHECK(r.Find("dave")->role == GroupRole::kMember);
  CHECK(r.Find("dave")->since == 5'000);
  CHECK(r.Find("bob")->since == 1'000);  // untouched
  CHECK(r.version == 4);
  CHECK(plan->joined == std::vector<UserId>{"dave", "erin"});
  CHECK(plan->told == Users(r));
  CHECK(ChangeOf(*plan) == GroupChange{GroupAction::kAdd, {"dave", "erin"}, ""});

  SECTION("not a member, not an admin") {
    CheckRefused(Abc(), Op(GroupAction::kAdd, "zed", {"dave"}), GroupError::kNotMember,
                 absl::StatusCode::kPermissionDenied);
    CheckRefused(Abc(), Op(GroupAction::kAdd, "bob", {"dave"}), GroupError::kNotAdmin,
                 absl::StatusCode::kPermissionDenied);
  }
  SECTION("only present members: nothing changes, nobody is told") {
    auto same = PlanGroupChange(Abc(), Op(GroupAction::kAdd, "alice", {"bob", "alice"}), Counts{});
    COURIER_REQUIRE_OK(same);
    CHECK(same->after == Abc());
    CHECK(same->told.empty());
    CHECK(same->joined.empty());
    CHECK(same->left.empty());
  }
  SECTION("group_full counts only the new members") {
    op.limits.max_members = 5;
    CHECK(PlanGroupChange(Abc(), op, Counts{}).ok());
    op.limits.max_members = 4;
    CheckRefused(Abc(), op, GroupError::kGroupFull, absl::StatusCode::kResourceExhausted);
  }
  SECTION("too_many_groups for a new member only") {
    op.limits.max_groups_per_user = 1;
    // bob is already in it; his count is not a reason to refuse.
    CHECK(PlanGroupChange(Abc(), op, Counts{{{"bob", 1}, {"alice", 1}}}).ok());
    CheckGroupError(PlanGroupChange(Abc(), op, Counts{{{"erin", 1}}}).status(),
                    GroupError::kTooManyGroups, absl::StatusCode::kResourceExhausted);
  }
}

TEST_CASE("PlanGroupChange remove: admins only, not oneself, removed users are told",
          "[group]") {
  auto plan = PlanGroupChange(Abc(), Op(GroupAction::kRemove, "alice", {"carol", "zed", "carol"}),
                              Counts{});
  COURIER_REQUIRE_OK(plan);
  CHECK(Users(*plan->after) == std::vector<UserId>{"alice", "bob"});
  CHECK(plan->after->version == 4);
  CHECK(plan->left == std::vector<UserId>{"carol"});
  CHECK(plan->joined.empty());
  CHECK(plan->told == std::vector<UserId>{"alice", "bob", "carol"});
  CHECK(ChangeOf(*plan) == GroupChange{GroupAction::kRemove, {"carol"}, ""});

  SECTION("another admin may be removed") {
    GroupRecord two = Abc();
    two.members[1].role = GroupRole::kAdmin;  // bob
    auto out = PlanGroupChange(two, Op(GroupAction::kRemove, "alice", {"bob"}), Counts{});
    COURIER_REQUIRE_OK(out);
    CHECK(Users(*out->after) == std::vector<UserId>{"alice", "carol"});
  }
  SECTION("refusals") {
    CheckRefused(Abc(), Op(GroupAction::kRemove, "bob", {"carol"}), GroupError::kNotAdmin,
                 absl::StatusCode::kPermissionDenied);
    CheckRefused(Abc(), Op(GroupAction::kRemove, "zed", {"carol"}), GroupError::kNotMember,
                 absl::StatusCode::kPermissionDenied);
    auto self = PlanGroupChange(Abc(), Op(GroupAction::kRemove, "alice", {"bob", "alice"}),
                                Counts{});
    CHECK_THAT(self.status(), StatusIs(absl::StatusCode::kInvalidArgument));
    CHECK_FALSE(GroupErrorOf(self.status()).has_value());
  }
  SECTION("only absent users: nothing changes") {
    auto none = PlanGroupChange(Abc(), Op(GroupAction::kRemove, "alice", {"zed"}), Counts{});
    COURIER_REQUIRE_OK(none);
    CHECK(none->after == Abc());
    CHECK(none->told.empty());
    CHECK(none->left.empty());
  }
}

TEST_CASE("PlanGroupChange leave: promotion of the earliest member, delete on the last",
          "[group]") {
  SECTION("a member leaves: no promotion") {
    auto plan = PlanGroupChange(Abc(), Op(GroupAction::kLeave, "carol"), Counts{});
    COURIER_REQUIRE_OK(plan);
    CHECK(Users(*plan->after) == std::vector<UserId>{"alice", "bob"});
    CHECK(plan->after->Find("alice")->role == GroupRole::kAdmin);
    CHECK(plan->after->version == 4);
    CHECK(plan->left == std::vector<UserId>{"carol"});
    CHECK(plan->told == std::vector<UserId>{"alice", "bob", "carol"});
    CHECK(ChangeOf(*plan) == GroupChange{GroupAction::kLeave, {"carol"}, ""});
  }
  SECTION("the last admin leaves: the earliest member becomes admin, named second") {
    GroupRecord r = Abc();
    r.members[1].since = 3'000;  // bob joined after carol now
    auto plan = PlanGroupChange(r, Op(GroupAction::kLeave, "alice"), Counts{});
    COURIER_REQUIRE_OK(plan);
    CHECK(plan->after->Find("carol")->role == GroupRole::kAdmin);
    CHECK(plan->after->Find("bob")->role == GroupRole::kMember);
    CHECK(ChangeOf(*plan) == GroupChange{GroupAction::kLeave, {"alice", "carol"}, ""});
    CHECK(plan->told == std::vector<UserId>{"bob", "carol", "alice"});
  }
  SECTION("ties on since go to the smallest name") {
    auto plan = PlanGroupChange(Abc(), Op(GroupAction::kLeave, "alice"), Counts{});
    COURIER_REQUIRE_OK(plan);
    CHECK(plan->after->Find("bob")->role == GroupRole::kAdmin);
    CHECK(ChangeOf(*plan).members == std::vector<UserId>{"alice", "bob"});
  }
  SECTION("an admin leaves while another admin stays: no promotion") {
    GroupRecord r = Abc();
    r.members[2].role = GroupRole::kAdmin;  // carol
    auto plan = PlanGroupChange(r, Op(GroupAction::kLeave, "alice"), Counts{});
    COURIER_REQUIRE_OK(plan);
    CHECK(plan->after->Find("bob")->role == GroupRole::kMember);
    CHECK(ChangeOf(*plan).members == std::vector<UserId>{"alice"});
  }
  SECTION("the last member leaves: the group is deleted and only they are told") {
    GroupRecord r = Abc();
    r.members.resize(1);
    auto plan = PlanGroupChange(r, Op(GroupAction::kLeave, "alice"), Counts{});
    COURIER_REQUIRE_OK(plan);
    CHECK_FALSE(plan->after.has_value());
    CHECK(plan->told == std::vector<UserId>{"alice"});
    CHECK(plan->left == std::vector<UserId>{"alice"});
    CHECK(ChangeOf(*plan) == GroupChange{GroupAction::kLeave, {"alice"}, ""});
  }
  SECTION("a non-member cannot leave") {
    CheckRefused(Abc(), Op(GroupAction::kLeave, "zed"), GroupError::kNotMember,
                 absl::StatusCode::kPermissionDenied);
  }
}

TEST_CASE("PlanGroupChange rename: admins only, the same name changes nothing", "[group]") {
  auto plan = PlanGroupChange(Abc(), Op(GroupAction::kRename, "alice", {}, "family"), Counts{});
  COURIER_REQUIRE_OK(plan);
  CHECK(plan->after->name == "family");
  CHECK(plan->after->version == 4);
  CHECK(plan->told == std::vector<UserId>{"alice", "bob", "carol"});
  CHECK(plan->joined.empty());
  CHECK(plan->left.empty());
  CHECK(ChangeOf(*plan) == GroupChange{GroupAction::kRename, {}, "family"});

  auto same = PlanGroupChange(Abc(), Op(GroupAction::kRename, "alice", {}, "friends"), Counts{});
  COURIER_REQUIRE_OK(same);
  CHECK(same->after == Abc());
  CHECK(same->told.empty());
  CheckRefused(Abc(), Op(GroupAction::kRename, "bob", {}, "x"), GroupError::kNotAdmin,
               absl::StatusCode::kPermissionDenied);
  CheckRefused(Abc(), Op(GroupAction::kRename, "zed", {}, "x"), GroupError::kNotMember,
               absl::StatusCode::kPermissionDenied);
}

TEST_CASE("GroupSendRecipients: every member, the sender included, members only", "[group]") {
  auto to = GroupSendRecipients(Abc(), "bob");
  COURIER_REQUIRE_OK(to);
  CHECK(*to == std::vector<UserId>{"alice", "bob", "carol"});
  CheckGroupError(GroupSendRecipients(Abc(), "zed").status(), GroupError::kNotMember,
                  absl::StatusCode::kPermissionDenied);
  CheckGroupError(GroupSendRecipients(std::nullopt, "bob").status(), GroupError::kUnknownGroup,
                  absl::StatusCode::kNotFound);
}

TEST_CASE("UsersWhoMayJoin: the users PlanGroupChange may count", "[group]") {
  CHECK(UsersWhoMayJoin(Op(GroupAction::kCreate, "alice", {"bob", "carol"})) ==
        std::vector<UserId>{"bob", "carol", "alice"});
  CHECK(UsersWhoMayJoin(Op(GroupAction::kAdd, "alice", {"dave", "bob"})) ==
        std::vector<UserId>{"dave", "bob"});
  CHECK(UsersWhoMayJoin(Op(GroupAction::kRemove, "alice", {"bob"})).empty());
  CHECK(UsersWhoMayJoin(Op(GroupAction::kLeave, "bob")).empty());
  CHECK(UsersWhoMayJoin(Op(GroupAction::kRename, "alice", {}, "x")).empty());
}

// A store for PlanAndWriteGroupChange: counts from a map, and a `write`
// that records the plans it was given and appends the event to each told
// inbox at seq 7; a status set in count_error / write_error fails them.
struct FakeStore {
  Counts counts;
  absl::Status count_error;
  absl::Status write_error;
  std::vector<UserId> counted;
  std::vector<GroupChangePlan> written;

  absl::Status Apply(const std::optional<GroupRecord>& before, const GroupChangeOp& op,
                     absl::StatusOr<WriteResult>& out) {
    return PlanAndWriteGroupChange(
        before, op,
        [&](const UserId& user) -> absl::StatusOr<std::size_t> {
          counted.push_back(user);
          if (!count_error.ok()) return count_error;
          return counts(user);
        },
        [&](const GroupChangePlan& plan) -> absl::StatusOr<std::vector<Appended>> {
          written.push_back(plan);
          if (!write_error.ok()) return write_error;
          std::vector<Appended> appended;
          for (const UserId& user : plan.told) {
            Event e = plan.event;
            e.seq = 7;
            appended.push_back(Appended{user, std::move(e)});
          }
          return appended;
        },
        out);
  }
};

TEST_CASE("PlanAndWriteGroupChange: a change is written, its events are the result",
          "[group][apply]") {
  FakeStore store;
  absl::StatusOr<WriteResult> out = absl::InternalError("not set");
  const GroupChangeOp op = Op(GroupAction::kAdd, "alice", {"dave"});
  COURIER_REQUIRE_OK(store.Apply(Abc(), op, out));
  COURIER_REQUIRE_OK(out);
  const auto& result = std::get<GroupChangeResult>(*out);
  CHECK(result.changed);
  REQUIRE(store.written.size() == 1);
  CHECK(result.group == store.written[0].after);
  CHECK(Users(*result.group) == std::vector<UserId>{"alice", "bob", "carol", "dave"});
  REQUIRE(result.appended.size() == 4);
  for (std::size_t i = 0; i < result.appended.size(); ++i) {
    CHECK(result.appended[i].user == store.written[0].told[i]);
    CHECK(result.appended[i].event.kind == EventKind::kGroupChange);
    CHECK(result.appended[i].event.seq == 7);
  }
  CHECK(store.counted == UsersWhoMayJoin(op));  // only those who may join

  SECTION("a change of the last member deletes: the result's group is nullopt") {
    GroupRecord solo = Abc();
    solo.members.resize(1);  // alice
    FakeStore again;
    COURIER_REQUIRE_OK(again.Apply(solo, Op(GroupAction::kLeave, "alice"), out));
    COURIER_REQUIRE_OK(out);
    CHECK_FALSE(std::get<GroupChangeResult>(*out).group.has_value());
    CHECK(std::get<GroupChangeResult>(*out).appended.size() == 1);
    REQUIRE(again.written.size() == 1);
    CHECK_FALSE(again.written[0].after.has_value());
  }
}

TEST_CASE("PlanAndWriteGroupChange: refused or unchanged ops write nothing", "[group][apply]") {
  FakeStore store;
  absl::StatusOr<WriteResult> out = absl::InternalError("not set");
  SECTION("a refusal is the op's result") {
    COURIER_REQUIRE_OK(store.Apply(Abc(), Op(GroupAction::kAdd, "bob", {"dave"}), out));
    CheckGroupError(out.status(), GroupError::kNotAdmin, absl::StatusCode::kPermissionDenied);
  }
  SECTION("a limit too: too_many_groups from the count") {
    store.counts.n = {{"dave", 1}};
    GroupChangeOp op = Op(GroupAction::kAdd, "alice", {"dave"});
    op.limits.max_groups_per_user = 1;
    COURIER_REQUIRE_OK(store.Apply(Abc(), op, out));
    CheckGroupError(out.status(), GroupError::kTooManyGroups,
                    absl::StatusCode::kResourceExhausted);
  }
  SECTION("an op that changes nothing: the record as it is, changed = false") {
    COURIER_REQUIRE_OK(store.Apply(Abc(), Op(GroupAction::kRename, "alice", {}, "friends"), out));
    COURIER_REQUIRE_OK(out);
    const auto& result = std::get<GroupChangeResult>(*out);
    CHECK_FALSE(result.changed);
    CHECK(result.group == Abc());
    CHECK(result.appended.empty());
  }
  CHECK(store.written.empty());
}

TEST_CASE("PlanAndWriteGroupChange: a failed count or write is the store's failure",
          "[group][apply]") {
  FakeStore store;
  absl::StatusOr<WriteResult> out = absl::InternalError("not set");
  SECTION("a count that fails: returned, nothing planned or written") {
    store.count_error = absl::UnavailableError("disk");
    CHECK_THAT(store.Apply(Abc(), Op(GroupAction::kAdd, "alice", {"dave"}), out),
               StatusIs(absl::StatusCode::kUnavailable));
    CHECK(store.written.empty());
  }
  SECTION("a write that fails: returned") {
    store.write_error = absl::AbortedError("conflict");
    CHECK_THAT(store.Apply(Abc(), Op(GroupAction::kLeave, "bob"), out),
               StatusIs(absl::StatusCode::kAborted));
    CHECK(store.written.size() == 1);
  }
  // Either way the op has no result of its own: `out` is left alone.
  CHECK_THAT(out.status(), StatusIs(absl::StatusCode::kInternal));
}

// FanOutGroupSend over recipients {alice, bob, carol, dave} with a given
// backlog per inbox: `undelivered` reads it, `append` gives each copy seq
// 10 + i and records the calls; append_error fails the append of
// recipients[fail_at].
struct FakeFanOut {
  std::vector<UserId> recipients{"alice", "bob", "carol", "dave"};
  std::vector<std::uint64_t> backlog{0, 0, 0, 0};
  std::size_t fail_at = 99;
  absl::Status append_error;
  std::vector<std::size_t> asked;                      // undelivered(i) calls
  std::vector<std::pair<std::size_t, bool>> appended;  // append(i, _, own) calls

  absl::StatusOr<GroupSendResult> Run(const GroupSendOp& op) {
    return FanOutGroupSend(
        op, recipients,
        [&](std::size_t i) -> absl::StatusOr<std::uint64_t> {
          asked.push_back(i);
          return backlog[i];
        },
        [&](std::size_t i, const Event& event, bool own) -> absl::StatusOr<Event> {
          if (i == fail_at) return append_error;
          appended.emplace_back(i, own);
          Event e = event;
          e.seq = 10 + i;
          return e;
        });
  }
};

GroupSendOp SendAs(const UserId& sender) {
  return GroupSendOp{.sender = sender, .cid = "c1", .group = "g1", .id = "m1", .body = "hi",
                     .ts = 5, .max_undelivered = 3};
}

TEST_CASE("FanOutGroupSend: full members skipped, the sender never, everyone else gets a copy",
          "[group][send]") {
  FakeFanOut fan;
  fan.backlog = {3, 3, 2, 7};  // alice and dave full, bob (the sender) too
  auto result = fan.Run(SendAs("bob"));
  COURIER_REQUIRE_OK(result);
  CHECK(result->id == "m1");
  CHECK(result->ts == 5);
  CHECK_FALSE(result->duplicate);
  CHECK(result->skipped == std::vector<UserId>{"alice", "dave"});
  CHECK(fan.asked == std::vector<std::size_t>{0, 2, 3});  // never the sender's inbox
  CHECK(fan.appended == std::vector<std::pair<std::size_t, bool>>{{1, true}, {2, false}});
  CHECK(result->seq == 11);  // the sender's copy
  CHECK(result->recipients == 2);
  REQUIRE(result->appended.size() == 2);
  CHECK(result->appended[0].user == "bob");
  CHECK(result->appended[1].user == "carol");
  for (const Appended& a : result->appended) {
    CHECK(a.event.kind == EventKind::kMessage);
    CHECK(a.event.id == "m1");
    CHECK(a.event.peer == "bob");
    CHECK(a.event.group == "g1");
    CHECK(a.event.body == "hi");
  }
}

TEST_CASE("FanOutGroupSend: a failed append stops the fan-out and is returned", "[group][send]") {
  FakeFanOut fan;
  fan.fail_at = 2;  // carol
  fan.append_error = absl::UnavailableError("disk");
  CHECK_THAT(fan.Run(SendAs("alice")).status(), StatusIs(absl::StatusCode::kUnavailable));
  CHECK(fan.appended == std::vector<std::pair<std::size_t, bool>>{{0, true}, {1, false}});
  CHECK(fan.asked == std::vector<std::size_t>{1, 2});  // dave never reached
}

// ---- encodings

TEST_CASE("Group encodings round-trip", "[group][codec]") {
  GroupRecord r = Abc();
  r.created = -7;
  r.version = ~std::uint64_t{0};
  r.name = "caf\xc3\xa9 \xf0\x9f\x8d\xb0";
  r.members[2].since = std::numeric_limits<TimeMs>::min();
  r.members[1].since = std::numeric_limits<TimeMs>::max();
  auto back = DecodeGroupRecord(EncodeGroupRecord(r));
  COURIER_REQUIRE_OK(back);
  CHECK(*back == r);
  CHECK(DecodeGroupRecord(EncodeGroupRecord(Abc())).value() == Abc());

  GroupRecord big = Abc();
  big.members.clear();
  for (std::size_t i = 0; i < kMaxGroupMembers; ++i) {
    big.members.push_back({absl::StrCat("u", 1'000'000 + i), GroupRole::kMember,
                           static_cast<TimeMs>(i)});
  }
  big.name = std::string(kMaxGroupNameBytes, 'n');
  CHECK(DecodeGroupRecord(EncodeGroupRecord(big)).value() == big);

  for (const GroupChange& c :
       {GroupChange{GroupAction::kCreate, {"alice", "bob"}, "trip"},
        GroupChange{GroupAction::kAdd, {"dave"}, ""},
        GroupChange{GroupAction::kRemove, {"bob", "carol"}, ""},
        GroupChange{GroupAction::kLeave, {"alice", "bob"}, ""},
        GroupChange{GroupAction::kRename, {}, std::string(kMaxGroupNameBytes, 'x')}}) {
    auto decoded = DecodeGroupChange(EncodeGroupChange(c));
    COURIER_REQUIRE_OK(decoded);
    CHECK(*decoded == c);
  }
}

TEST_CASE("Group decoders refuse truncated, extended and garbled bytes", "[group][codec]") {
  const std::string record = EncodeGroupRecord(Abc());
  const std::string change = EncodeGroupChange({GroupAction::kAdd, {"dave", "erin"}, "n"});
  // Every proper prefix, and one byte more.
  for (std::size_t n = 0; n < record.size(); ++n) {
    CHECK_THAT(DecodeGroupRecord(record.substr(0, n)).status(),
               StatusIs(absl::StatusCode::kDataLoss));
  }
  for (std::size_t n = 0; n < change.size(); ++n) {
    CHECK_THAT(DecodeGroupChange(change.substr(0, n)).status(),
               StatusIs(absl::StatusCode::kDataLoss));
  }
  CHECK_THAT(DecodeGroupRecord(record + '\0').status(), StatusIs(absl::StatusCode::kDataLoss));
  CHECK_THAT(DecodeGroupChange(change + 'x').status(), StatusIs(absl::StatusCode::kDataLoss));
  // Each decoder refuses the other's bytes.
  CHECK_FALSE(DecodeGroupRecord(change).ok());
  CHECK_FALSE(DecodeGroupChange(record).ok());

  auto refused_change = [](std::string bytes) {
    CHECK_THAT(DecodeGroupChange(bytes).status(), StatusIs(absl::StatusCode::kDataLoss));
  };
  refused_change(std::string("\x02\x02\x00\x00", 4));  // unknown version
  refused_change(std::string("\x01\x00\x00\x00", 4));  // action 0
  refused_change(std::string("\x01\x06\x00\x00", 4));  // action 6
  refused_change(std::string("\x01\x02\x80\x00\x00", 5));  // count 0 in two bytes (not shortest)
  refused_change(std::string("\x01\x02\x81\x08", 4) + std::string(1025 * 2, 'a'));  // 1025 members
  refused_change(std::string("\x01\x02\x01\x00\x00", 5));  // an empty member name
  refused_change(std::string("\x01\x02\x01\x03""a b\x00", 8));  // not a name
  refused_change(std::string("\x01\x02\x01\x41", 4) + std::string(65, 'a') + '\0');  // 65 bytes
  refused_change(std::string("\x01\x05\x00\x02\xc3\x28", 6));  // name not UTF-8
  refused_change(std::string("\x01\x05\x00\x81\x20", 5) + std::string(4097, 'n'));  // name 4097
  refused_change(std::string("\x01\x05\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 13));
  CHECK(DecodeGroupChange(std::string("\x01\x05\x00\x01n", 5)).ok());  // the well-formed base

  // Record edits: patch a valid encoding.
  GroupRecord unsorted = Abc();
  std::swap(unsorted.members[0], unsorted.members[1]);
  CHECK_THAT(DecodeGroupRecord(EncodeGroupRecord(unsorted)).status(),
             StatusIs(absl::StatusCode::kDataLoss));
  GroupRecord dup = Abc();
  dup.members[1].user = "alice";
  CHECK_FALSE(DecodeGroupRecord(EncodeGroupRecord(dup)).ok());
  GroupRecord empty = Abc();
  empty.members.clear();
  CHECK_FALSE(DecodeGroupRecord(EncodeGroupRecord(empty)).ok());
  GroupRecord bad_role = Abc();
  bad_role.members[0].role = static_cast<GroupRole>(2);
  CHECK_FALSE(DecodeGroupRecord(EncodeGroupRecord(bad_role)).ok());
  GroupRecord bad_id = Abc();
  bad_id.id = "g.1";
  CHECK_FALSE(DecodeGroupRecord(EncodeGroupRecord(bad_id)).ok());
  GroupRecord bad_creator = Abc();
  bad_creator.created_by = "";
  CHECK_FALSE(DecodeGroupRecord(EncodeGroupRecord(bad_creator)).ok());
  GroupRecord long_name = Abc();
  long_name.name = std::string(kMaxGroupNameBytes + 1, 'n');
  CHECK_FALSE(DecodeGroupRecord(EncodeGroupRecord(long_name)).ok());
  GroupRecord too_many = Abc();
  too_many.members.clear();
  for (std::size_t i = 0; i <= kMaxGroupMembers; ++i) {
    too_many.members.push_back({absl::StrCat("u", 1'000'000 + i), GroupRole::kMember, 0});
  }
  CHECK_FALSE(DecodeGroupRecord(EncodeGroupRecord(too_many)).ok());

  // Every single-byte change either still decodes to a well-formed value
  // or is refused as kDataLoss; never anything else.
  for (std::size_t i = 0; i < record.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string garbled = record;
      garbled[i] = static_cast<char>(garbled[i] ^ (1 << bit));
      auto out = DecodeGroupRecord(garbled);
      if (out.ok()) {
        CHECK(EncodeGroupRecord(*out) == garbled);  // only the canonical bytes decode
      } else {
        CHECK(out.status().code() == absl::StatusCode::kDataLoss);
      }
    }
  }
}

// ---- ValidateWriteOp

TEST_CASE("ValidateWriteOp: GroupSendOp rows", "[group][validate]") {
  GroupSendOp ok{"alice", "c1", "g1", "m1", "hi", 1, 10};
  COURIER_REQUIRE_OK(ValidateWriteOp(ok));
  auto refused = [&](auto edit) {
    GroupSendOp op = ok;
    edit(op);
    CHECK_THAT(ValidateWriteOp(op), StatusIs(absl::StatusCode::kInvalidArgument));
  };
  refused([](GroupSendOp& op) { op.sender = "a b"; });
  refused([](GroupSendOp& op) { op.cid = ""; });
  refused([](GroupSendOp& op) { op.group = "g.1"; });
  refused([](GroupSendOp& op) { op.group = ""; });
  refused([](GroupSendOp& op) { op.id = "m/1"; });
  refused([](GroupSendOp& op) { op.body.assign(kMaxStoredBodyBytes + 1, 'b'); });
  GroupSendOp largest = ok;
  largest.body.assign(kMaxStoredBodyBytes, 'b');
  CHECK(ValidateWriteOp(largest).ok());
}

TEST_CASE("ValidateWriteOp: GroupChangeOp rows", "[group][validate]") {
  auto check = [](GroupChangeOp op, bool valid) {
    INFO(GroupActionName(op.action) << " name=" << op.name << " members=" << op.members.size());
    if (valid) {
      CHECK(ValidateWriteOp(op).ok());
    } else {
      CHECK_THAT(ValidateWriteOp(op), StatusIs(absl::StatusCode::kInvalidArgument));
    }
  };
  check(Op(GroupAction::kCreate, "alice", {}, "trip"), true);
  check(Op(GroupAction::kCreate, "alice", {"bob"}, "caf\xc3\xa9"), true);
  check(Op(GroupAction::kAdd, "alice", {"bob"}), true);
  check(Op(GroupAction::kRemove, "alice", {"bob"}), true);
  check(Op(GroupAction::kLeave, "alice"), true);
  check(Op(GroupAction::kRename, "alice", {}, "x"), true);

  GroupChangeOp op = Op(GroupAction::kCreate, "alice", {"bob"}, "trip");
  op.actor = "";
  check(op, false);
  op = Op(GroupAction::kCreate, "alice", {"bob"}, "trip");
  op.group = "g 1";
  check(op, false);
  op = Op(GroupAction::kCreate, "alice", {"bob"}, "trip");
  op.id = "";
  check(op, false);
  op = Op(GroupAction::kCreate, "alice", {"bob", "b/c"}, "trip");
  check(op, false);
  op = Op(GroupAction::kCreate, "alice", {}, "trip");
  op.action = static_cast<GroupAction>(9);
  check(op, false);
  op.action = static_cast<GroupAction>(0);
  check(op, false);
  // Member counts per action.
  check(Op(GroupAction::kAdd, "alice"), false);
  check(Op(GroupAction::kRemove, "alice"), false);
  check(Op(GroupAction::kLeave, "alice", {"bob"}), false);
  check(Op(GroupAction::kRename, "alice", {"bob"}, "x"), false);
  std::vector<UserId> most;
  for (std::size_t i = 0; i < kMaxGroupMembers; ++i) most.push_back(absl::StrCat("u", i));
  check(Op(GroupAction::kAdd, "alice", most), true);
  most.push_back("one-more");
  check(Op(GroupAction::kAdd, "alice", most), false);
  // Names: create and rename only; 1..max_name_bytes of display UTF-8.
  check(Op(GroupAction::kCreate, "alice", {}, ""), false);
  check(Op(GroupAction::kRename, "alice", {}, ""), false);
  check(Op(GroupAction::kCreate, "alice", {}, std::string(128, 'n')), true);
  check(Op(GroupAction::kCreate, "alice", {}, std::string(129, 'n')), false);
  op = Op(GroupAction::kRename, "alice", {}, std::string(4096, 'n'));
  op.limits.max_name_bytes = 1'000'000;  // the codec's 4 KiB still bounds it
  check(op, true);
  op.name.push_back('n');
  check(op, false);
  for (const std::string& bad : {std::string("a\nb"), std::string("tab\t"), std::string("\x7f"),
                                std::string("\xc2\x85"), std::string("\xc3\x28"),
                                std::string("\xed\xa0\x80"), std::string("a\0b", 3)}) {
    check(Op(GroupAction::kCreate, "alice", {}, bad), false);
  }
  check(Op(GroupAction::kAdd, "alice", {"bob"}, "ignored\n"), true);  // a name only where used
  // limits.max_members 1..kMaxGroupMembers.
  op = Op(GroupAction::kAdd, "alice", {"bob"});
  op.limits.max_members = 0;
  check(op, false);
  op.limits.max_members = kMaxGroupMembers + 1;
  check(op, false);
  op.limits.max_members = kMaxGroupMembers;
  check(op, true);
}

// ---- what the memory store and the encrypting wrapper add

template <typename R>
R Get(const absl::StatusOr<WriteResult>& r) {
  REQUIRE(r.ok());
  REQUIRE(std::holds_alternative<R>(*r));
  return std::get<R>(*r);
}

absl::StatusOr<WriteResult> WriteOne(MessageStore& store, WriteOp op) {
  auto results = store.Write({std::move(op)});
  REQUIRE(results.size() == 1);
  return results[0];
}

void CreateAbc(MessageStore& store) {
  Get<GroupChangeResult>(
      WriteOne(store, Op(GroupAction::kCreate, "alice", {"bob", "carol"}, "friends")));
}

TEST_CASE("Memory store: a group send's (sender, cid) record belongs to the sender's copy",
          "[group][memory]") {
  auto store = memory::OpenMessageStore();
  CreateAbc(*store);
  GroupSendOp send{"alice", "c1", "g1", "m1", "hi", 10'000, 100};
  const auto& sent = Get<GroupSendResult>(WriteOne(*store, send));
  CHECK(sent.recipients == 3);
  CHECK(sent.seq == 2);  // alice: the create event, then her copy
  // bob and carol ack everything; alice never does. Pruning acked events
  // removes bob's and carol's copies, not alice's: the cid stays taken.
  for (const UserId u : {"bob", "carol"}) {
    Get<AttachResult>(WriteOne(*store, AttachOp{u, "d"}));
    Get<AckResult>(WriteOne(*store, AckOp{u, "d", 2, 11'000}));
  }
  auto pruned = store->Prune(PruneOptions{20'000, 1'000, 1'000'000});
  COURIER_REQUIRE_OK(pruned);
  CHECK(*pruned == 4);
  CHECK(store->Head("bob").value() == 2);
  send.id = "m2";
  CHECK(Get<GroupSendResult>(WriteOne(*store, send)).duplicate);
  // Deleting a member's inbox keeps it too; deleting the sender's frees it.
  COURIER_REQUIRE_OK(store->DeleteInbox("bob"));
  CHECK(Get<GroupSendResult>(WriteOne(*store, send)).duplicate);
  COURIER_REQUIRE_OK(store->DeleteInbox("alice"));
  const auto& again = Get<GroupSendResult>(WriteOne(*store, send));
  CHECK_FALSE(again.duplicate);
  CHECK(again.id == "m2");
}

TEST_CASE("Memory store: an old copy's prune leaves a reused cid's new record alone",
          "[group][memory]") {
  auto store = memory::OpenMessageStore();
  CreateAbc(*store);
  Get<GroupSendResult>(WriteOne(*store, GroupSendOp{"alice", "c1", "g1", "m1", "x", 1'000, 100}));
  REQUIRE(store->Fetch("bob", 0, 10).value().size() == 2);  // the create, the copy
  COURIER_REQUIRE_OK(store->DeleteInbox("alice"));  // the record goes with her copy
  // alice reuses c1 for a 1:1 message to bob; then bob's old group copy is
  // deleted with his inbox: the new record must stay.
  const auto& one = Get<AppendResult>(
      WriteOne(*store, AppendOp{"alice", "c1", "carol", "m9", "1:1", 2'000, 100}));
  CHECK_FALSE(one.duplicate);
  COURIER_REQUIRE_OK(store->DeleteInbox("bob"));
  CHECK(Get<AppendResult>(
            WriteOne(*store, AppendOp{"alice", "c1", "carol", "m10", "1:1", 3'000, 100}))
            .duplicate);
}

TEST_CASE("Encrypting store: group bodies sealed once, opened in every member's inbox",
          "[group][cipher]") {
  auto inner = memory::OpenMessageStore();
  MessageStore& raw = *inner;
  auto store = OpenEncryptingStore(std::move(inner), std::string(32, 'k'));
  COURIER_REQUIRE_OK(store);
  CreateAbc(**store);
  const auto& sent = Get<GroupSendResult>(
      WriteOne(**store, GroupSendOp{"bob", "c1", "g1", "m1", "secret", 10'000, 100}));
  REQUIRE(sent.appended.size() == 3);
  for (const Appended& a : sent.appended) CHECK(a.event.body == "secret");
  for (const UserId u : {"alice", "bob", "carol"}) {
    auto events = (*store)->Fetch(u, 0, 10);
    COURIER_REQUIRE_OK(events);
    REQUIRE(events->size() == 2);
    CHECK(events->at(0).kind == EventKind::kGroupChange);
    CHECK(DecodeGroupChange(events->at(0).body).ok());  // change bodies are not sealed
    CHECK(events->at(1).body == "secret");
    CHECK(events->at(1).group == "g1");
    auto stored = raw.Fetch(u, 1, 1);
    COURIER_REQUIRE_OK(stored);
    CHECK(stored->at(0).body.find("secret") == std::string::npos);
  }
  // Group records and lists pass through.
  CHECK((*store)->Group("g1").value().name == "friends");
  CHECK((*store)->GroupsOf("carol").value().size() == 1);
  CheckGroupError((*store)->Group("nope").status(), GroupError::kUnknownGroup,
                  absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace courier
