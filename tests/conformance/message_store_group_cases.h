// tests/conformance/message_store_group_cases.h: the group cases of the
// MessageStore conformance suite (courier/group.h; GroupSendOp and
// GroupChangeOp in courier/message_store.h; issue 17). Included by
// message_store_suite.h after its helpers; not on its own.
//
// The rules themselves (who may do what, promotions, limits) are
// PlanGroupChange's, tested in tests/core/group_test.cc; these cases check
// that a store applies the plan: what it writes, what it refuses to write,
// and what it keeps.
#ifndef COURIER_TESTS_CONFORMANCE_MESSAGE_STORE_GROUP_CASES_H_
#define COURIER_TESTS_CONFORMANCE_MESSAGE_STORE_GROUP_CASES_H_

#include <atomic>

#include "absl/strings/str_cat.h"

namespace courier::conformance::message_store_cases {

// --- Builders -------------------------------------------------------------------

// A group change with an id of its own ("chg-<group>-<n>", n counting the
// changes built so far in this process: ids must not repeat in an inbox).
inline GroupChangeOp Change(GroupAction action, const UserId& actor, const GroupId& group,
                            std::vector<UserId> members = {}, std::string name = {},
                            TimeMs ts = 1'000) {
  static std::atomic<int> counter{0};  // the concurrency case builds from 4 threads
  GroupChangeOp op;
  op.action = action;
  op.actor = actor;
  op.group = group;
  op.members = std::move(members);
  op.name = std::move(name);
  op.id = "chg-" + group + "-" + std::to_string(counter.fetch_add(1) + 1);
  op.ts = ts;
  return op;
}
inline GroupChangeOp CreateGroup(const UserId& actor, const GroupId& group,
                                 std::vector<UserId> members, TimeMs ts = 1'000,
                                 std::string name = "team") {
  return Change(GroupAction::kCreate, actor, group, std::move(members), std::move(name), ts);
}
inline GroupChangeOp AddTo(const UserId& actor, const GroupId& group,
                           std::vector<UserId> members, TimeMs ts = 1'000) {
  return Change(GroupAction::kAdd, actor, group, std::move(members), {}, ts);
}
inline GroupChangeOp RemoveFrom(const UserId& actor, const GroupId& group,
                                std::vector<UserId> members, TimeMs ts = 1'000) {
  return Change(GroupAction::kRemove, actor, group, std::move(members), {}, ts);
}
inline GroupChangeOp Leave(const UserId& actor, const GroupId& group, TimeMs ts = 1'000) {
  return Change(GroupAction::kLeave, actor, group, {}, {}, ts);
}
inline GroupChangeOp Rename(const UserId& actor, const GroupId& group, std::string name,
                            TimeMs ts = 1'000) {
  return Change(GroupAction::kRename, actor, group, {}, std::move(name), ts);
}

// The message `cid` from `from` to group `group`; its id is derived from both
// (the same id IdOf gives a 1:1 message: a (sender, cid) names one message).
inline GroupSendOp GroupMessage(const UserId& from, const std::string& cid, const GroupId& group,
                                TimeMs ts = 5'000, std::string body = "to all") {
  return GroupSendOp{.sender = from, .cid = cid, .group = group, .id = IdOf(from, cid),
                     .body = std::move(body), .ts = ts};
}

// --- Helpers --------------------------------------------------------------------

inline GroupRecord GroupOf(MessageStore& store, const GroupId& id) {
  return ValueOf(store.Group(id));
}

inline std::vector<GroupId> GroupIdsOf(MessageStore& store, const UserId& user) {
  auto records = store.GroupsOf(user);
  COURIER_REQUIRE_OK(records);
  std::vector<GroupId> ids;
  for (const GroupRecord& r : *records) ids.push_back(r.id);
  return ids;
}

inline std::vector<UserId> MemberNames(const GroupRecord& record) {
  std::vector<UserId> names;
  for (const GroupMember& m : record.members) names.push_back(m.user);
  return names;
}

inline GroupRole RoleOf(const GroupRecord& record, const UserId& user) {
  const GroupMember* m = record.Find(user);
  REQUIRE(m != nullptr);
  return m->role;
}

inline GroupChange ChangeOf(const Event& e) {
  REQUIRE(e.kind == EventKind::kGroupChange);
  auto change = DecodeGroupChange(e.body);
  COURIER_REQUIRE_OK(change);
  return *std::move(change);
}

inline std::multiset<UserId> UsersOf(const std::vector<Appended>& appended) {
  std::multiset<UserId> users;
  for (const Appended& a : appended) users.insert(a.user);
  return users;
}

// Requires `status` to be the GroupError `e`, with the code MakeGroupError
// gives it (a store passes the plan's status on as it is).
inline void RequireGroupError(const absl::Status& status, GroupError e) {
  INFO("status " << status.ToString());
  CHECK(status.code() == MakeGroupError(e, "").code());
  const std::optional<GroupError> got = GroupErrorOf(status);
  REQUIRE(got.has_value());
  CHECK(*got == e);
}

// The heads of `users`, to show that a refused op wrote nothing.
inline std::map<UserId, Seq> HeadsOf(MessageStore& store, const std::vector<UserId>& users) {
  std::map<UserId, Seq> heads;
  for (const UserId& u : users) heads[u] = HeadOf(store, u);
  return heads;
}

// Requires every appended event to be the change event `op` made: a
// kGroupChange with the op's id, actor, group and ts, at head + 1 of its inbox
// (`heads_before`), its body decoding to the same GroupChange everywhere; and
// returns that change.
inline GroupChange RequireChangeEvents(const GroupChangeResult& r, const GroupChangeOp& op,
                                       const std::map<UserId, Seq>& heads_before) {
  REQUIRE_FALSE(r.appended.empty());
  const GroupChange change = ChangeOf(r.appended[0].event);
  for (const Appended& a : r.appended) {
    INFO("told " << a.user);
    CHECK(a.event.kind == EventKind::kGroupChange);
    CHECK(a.event.id == op.id);
    CHECK(a.event.peer == op.actor);
    CHECK(a.event.group == op.group);
    CHECK(a.event.ts == op.ts);
    CHECK(ChangeOf(a.event) == change);
    auto it = heads_before.find(a.user);
    REQUIRE(it != heads_before.end());
    CHECK(a.event.seq == it->second + 1);
  }
  CHECK(change.action == op.action);
  return change;
}

// Writes `op`, which must change its group; the group's record comes back
// at `version`.
inline GroupChangeResult ExpectChange(MessageStore& store, const GroupChangeOp& op,
                                      std::uint64_t version) {
  auto r = Expect<GroupChangeResult>(store, op);
  CHECK(r.changed);
  REQUIRE(r.group.has_value());
  CHECK(r.group->version == version);
  return r;
}

// --- Group changes --------------------------------------------------------------

COURIER_CONFORMANCE_CASE(GroupCreateWritesRecordAndTellsEveryMember,
                         "group create writes the record and tells every member") {
  Harness h(factory);
  // bob has a message already: each inbox gives the change its own seq.
  Expect<AppendResult>(*h, Message("dave", "1", "bob"));
  const auto heads = HeadsOf(*h, {"alice", "bob", "carol"});
  const GroupChangeOp op = CreateGroup("alice", "g1", {"carol", "bob", "alice", "bob"}, 1'500,
                                       "climbing club");
  auto r = Expect<GroupChangeResult>(*h, op);
  CHECK(r.changed);
  REQUIRE(r.group.has_value());
  const GroupRecord& g = *r.group;
  CHECK(g.id == "g1");
  CHECK(g.name == "climbing club");
  CHECK(g.created_by == "alice");
  CHECK(g.created == 1'500);
  CHECK(g.version == 1);
  CHECK(MemberNames(g) == std::vector<UserId>{"alice", "bob", "carol"});
  CHECK(RoleOf(g, "alice") == GroupRole::kAdmin);
  CHECK(RoleOf(g, "bob") == GroupRole::kMember);
  CHECK(RoleOf(g, "carol") == GroupRole::kMember);
  for (const GroupMember& m : g.members) CHECK(m.since == 1'500);

  REQUIRE(r.appended.size() == 3);
  CHECK(UsersOf(r.appended) == std::multiset<UserId>{"alice", "bob", "carol"});
  const GroupChange change = RequireChangeEvents(r, op, heads);
  REQUIRE(change.members.size() == 3);
  CHECK(change.members[0] == "alice");
  CHECK(std::multiset<UserId>(change.members.begin(), change.members.end()) ==
        std::multiset<UserId>{"alice", "bob", "carol"});
  CHECK(change.name == "climbing club");

  CHECK(HeadOf(*h, "alice") == 1);
  CHECK(HeadOf(*h, "bob") == 2);
  CHECK(HeadOf(*h, "carol") == 1);
  CHECK(HeadOf(*h, "dave") == 0);
  CHECK(GroupOf(*h, "g1") == g);
  for (const char* u : {"alice", "bob", "carol"}) {
    INFO("member " << u);
    CHECK(GroupIdsOf(*h, u) == std::vector<GroupId>{"g1"});
    const std::vector<Event> events = FetchAll(*h, u);
    REQUIRE_FALSE(events.empty());
    CHECK(events.back().kind == EventKind::kGroupChange);
    CHECK(events.back().group == "g1");
  }
  CHECK(GroupIdsOf(*h, "dave").empty());

  // A group of one: the creator alone.
  auto solo = Expect<GroupChangeResult>(*h, CreateGroup("erin", "g2", {}));
  REQUIRE(solo.group.has_value());
  CHECK(MemberNames(*solo.group) == std::vector<UserId>{"erin"});
  REQUIRE(solo.appended.size() == 1);
  CHECK(solo.appended[0].user == "erin");
  CHECK(ChangeOf(solo.appended[0].event).members == std::vector<UserId>{"erin"});
}

COURIER_CONFORMANCE_CASE(GroupChangeRefusalsWriteNothing, "group change refusals write nothing") {
  Harness h(factory);
  Expect<GroupChangeResult>(*h, CreateGroup("alice", "g1", {"bob", "carol"}));
  const std::vector<UserId> users = {"alice", "bob", "carol", "dave", "erin"};
  const auto heads = HeadsOf(*h, users);
  const GroupRecord before = GroupOf(*h, "g1");

  auto small = [](GroupChangeOp op, std::size_t max_members, std::size_t max_groups) {
    op.limits.max_members = max_members;
    op.limits.max_groups_per_user = max_groups;
    return op;
  };
  const std::vector<std::pair<GroupChangeOp, GroupError>> refused = {
      {AddTo("alice", "nope", {"dave"}), GroupError::kUnknownGroup},
      {RemoveFrom("alice", "nope", {"bob"}), GroupError::kUnknownGroup},
      {Leave("alice", "nope"), GroupError::kUnknownGroup},
      {Rename("alice", "nope", "x"), GroupError::kUnknownGroup},
      {AddTo("dave", "g1", {"erin"}), GroupError::kNotMember},
      {Leave("dave", "g1"), GroupError::kNotMember},
      {Rename("dave", "g1", "mine"), GroupError::kNotMember},
      {AddTo("bob", "g1", {"dave"}), GroupError::kNotAdmin},
      {RemoveFrom("bob", "g1", {"carol"}), GroupError::kNotAdmin},
      {Rename("bob", "g1", "bob's"), GroupError::kNotAdmin},
      {small(AddTo("alice", "g1", {"dave"}), 3, 256), GroupError::kGroupFull},
      {small(CreateGroup("dave", "g2", {"erin", "alice"}), 2, 256), GroupError::kGroupFull},
      // alice and bob are in one group already.
      {small(CreateGroup("alice", "g2", {"erin"}), 256, 1), GroupError::kTooManyGroups},
      {small(CreateGroup("dave", "g2", {"bob"}), 256, 1), GroupError::kTooManyGroups},
      {CreateGroup("dave", "g1", {"erin"}), GroupError::kGroupExists},
      {CreateGroup("alice", "g1", {"bob", "carol"}), GroupError::kGroupExists},
  };
  for (std::size_t i = 0; i < refused.size(); ++i) {
    INFO("op " << i);
    RequireGroupError(WriteStatus(*h, refused[i].first), refused[i].second);
  }
  // Not a GroupError: removing oneself (that is a leave).
  const absl::Status self = WriteStatus(*h, RemoveFrom("alice", "g1", {"alice"}));
  CHECK(self.code() == absl::StatusCode::kInvalidArgument);
  CHECK_FALSE(GroupErrorOf(self).has_value());

  // Nothing written by any of them.
  CHECK(HeadsOf(*h, users) == heads);
  CHECK(GroupOf(*h, "g1") == before);
  CHECK_THAT(h->Group("g2").status(), StatusIs(absl::StatusCode::kNotFound));
  CHECK_THAT(h->Group("nope").status(), StatusIs(absl::StatusCode::kNotFound));
  CHECK(GroupErrorOf(h->Group("nope").status()) == GroupError::kUnknownGroup);
  for (const char* u : {"dave", "erin"}) CHECK(GroupIdsOf(*h, u).empty());
  CHECK(GroupIdsOf(*h, "alice") == std::vector<GroupId>{"g1"});

  // A refused op fails alone: the batch's other ops apply.
  std::vector<WriteOp> batch = {AddTo("bob", "g1", {"dave"}), AddTo("alice", "g1", {"dave"})};
  auto results = h->Write(batch);
  REQUIRE(results.size() == 2);
  RequireGroupError(results[0].status(), GroupError::kNotAdmin);
  COURIER_REQUIRE_OK(results[1]);
  CHECK(std::get<GroupChangeResult>(*results[1]).changed);
  CHECK(GroupIdsOf(*h, "dave") == std::vector<GroupId>{"g1"});
  CHECK(HeadOf(*h, "dave") == 1);
}

COURIER_CONFORMANCE_CASE(GroupOpsAreValidated, "group ops are validated") {
  Harness h(factory);
  Expect<GroupChangeResult>(*h, CreateGroup("alice", "g1", {"bob"}));
  GroupChangeOp bad_id = AddTo("alice", "has space", {"carol"});
  GroupChangeOp no_members = AddTo("alice", "g1", {});
  GroupChangeOp empty_name = CreateGroup("alice", "g2", {"bob"}, 1'000, "");
  GroupChangeOp bad_member = AddTo("alice", "g1", {"no/slash"});
  GroupSendOp bad_group = GroupMessage("alice", "m1", "g.1");
  GroupSendOp big = GroupMessage("alice", "m2", "g1");
  big.body.assign(kMaxStoredBodyBytes + 1, 'x');
  const std::vector<WriteOp> ops = {bad_id, no_members, empty_name, bad_member, bad_group, big,
                                    GroupMessage("alice", "m3", "g1")};
  const auto heads = HeadsOf(*h, {"alice", "bob", "carol"});
  auto results = h->Write(ops);
  REQUIRE(results.size() == ops.size());
  for (std::size_t i = 0; i + 1 < ops.size(); ++i) {
    INFO("op " << i);
    CHECK_THAT(results[i].status(), StatusIs(absl::StatusCode::kInvalidArgument));
    CHECK_FALSE(GroupErrorOf(results[i].status()).has_value());
  }
  COURIER_REQUIRE_OK(results.back());
  CHECK(std::get<GroupSendResult>(*results.back()).recipients == 2);
  CHECK(HeadOf(*h, "alice") == heads.at("alice") + 1);
  CHECK(HeadOf(*h, "bob") == heads.at("bob") + 1);
  CHECK(HeadOf(*h, "carol") == 0);
  CHECK(GroupOf(*h, "g1").version == 1);
  CHECK_THAT(h->Group("g2").status(), StatusIs(absl::StatusCode::kNotFound));
  // The refused (sender, cid)s were not recorded.
  CHECK_FALSE(Expect<GroupSendResult>(*h, GroupMessage("alice", "m1", "g1")).duplicate);
}

COURIER_CONFORMANCE_CASE(GroupAddRemoveLeaveRename, "group add, remove, leave and rename") {
  Harness h(factory);
  Expect<GroupChangeResult>(*h, CreateGroup("alice", "g1", {"bob", "carol"}, 1'000, "first"));

  // Add: carol is a member already (skipped), dave joins.
  {
    const auto heads = HeadsOf(*h, {"alice", "bob", "carol", "dave"});
    const GroupChangeOp op = AddTo("alice", "g1", {"carol", "dave"}, 2'000);
    auto r = ExpectChange(*h, op, 2);
    CHECK(MemberNames(*r.group) == std::vector<UserId>{"alice", "bob", "carol", "dave"});
    CHECK(RoleOf(*r.group, "dave") == GroupRole::kMember);
    CHECK(r.group->Find("dave")->since == 2'000);
    CHECK(r.group->Find("carol")->since == 1'000);
    CHECK(UsersOf(r.appended) == std::multiset<UserId>{"alice", "bob", "carol", "dave"});
    const GroupChange change = RequireChangeEvents(r, op, heads);
    CHECK(change.members == std::vector<UserId>{"dave"});
    CHECK(GroupIdsOf(*h, "dave") == std::vector<GroupId>{"g1"});
  }
  // Remove: erin is no member (skipped), dave goes and is told.
  {
    const auto heads = HeadsOf(*h, {"alice", "bob", "carol", "dave"});
    const GroupChangeOp op = RemoveFrom("alice", "g1", {"erin", "dave"}, 3'000);
    auto r = ExpectChange(*h, op, 3);
    CHECK(MemberNames(*r.group) == std::vector<UserId>{"alice", "bob", "carol"});
    CHECK(UsersOf(r.appended) == std::multiset<UserId>{"alice", "bob", "carol", "dave"});
    CHECK(RequireChangeEvents(r, op, heads).members == std::vector<UserId>{"dave"});
    CHECK(GroupIdsOf(*h, "dave").empty());
  }
  // Rename.
  {
    const auto heads = HeadsOf(*h, {"alice", "bob", "carol"});
    const GroupChangeOp op = Rename("alice", "g1", "second", 4'000);
    auto r = ExpectChange(*h, op, 4);
    CHECK(r.group->name == "second");
    CHECK(UsersOf(r.appended) == std::multiset<UserId>{"alice", "bob", "carol"});
    const GroupChange change = RequireChangeEvents(r, op, heads);
    CHECK(change.members.empty());
    CHECK(change.name == "second");
  }
  // Leave: carol goes and is told.
  {
    const auto heads = HeadsOf(*h, {"alice", "bob", "carol"});
    const GroupChangeOp op = Leave("carol", "g1", 5'000);
    auto r = ExpectChange(*h, op, 5);
    CHECK(MemberNames(*r.group) == std::vector<UserId>{"alice", "bob"});
    CHECK(UsersOf(r.appended) == std::multiset<UserId>{"alice", "bob", "carol"});
    CHECK(RequireChangeEvents(r, op, heads).members == std::vector<UserId>{"carol"});
    CHECK(GroupIdsOf(*h, "carol").empty());
  }
  // dave comes back and alice, the only admin, leaves: the earliest member
  // (bob) becomes admin.
  Given(*h, {AddTo("alice", "g1", {"dave"}, 6'000), Leave("alice", "g1", 7'000)});
  const GroupRecord g = GroupOf(*h, "g1");
  CHECK(RoleOf(g, "bob") == GroupRole::kAdmin);
  CHECK(RoleOf(g, "dave") == GroupRole::kMember);
  CHECK(g.version == 7);
  CHECK(g.name == "second");
  CHECK(g.created_by == "alice");
  CHECK(g.created == 1'000);

  // Every inbox holds the changes it was told, in order, gap-free.
  const std::vector<Event> dave = FetchAll(*h, "dave");
  RequireSeqs(dave, 1, 4);  // added, removed, added, alice left
  CHECK(ChangeOf(dave[0]).action == GroupAction::kAdd);
  CHECK(ChangeOf(dave[1]).action == GroupAction::kRemove);
  CHECK(ChangeOf(dave[2]).action == GroupAction::kAdd);
  CHECK(ChangeOf(dave[3]).action == GroupAction::kLeave);
  const std::vector<Event> carol = FetchAll(*h, "carol");
  RequireSeqs(carol, 1, 5);  // create, add, remove, rename, her leave
  CHECK(ChangeOf(carol.back()).action == GroupAction::kLeave);
  RequireSeqs(FetchAll(*h, "bob"), 1, 7);
}

COURIER_CONFORMANCE_CASE(GroupNoOpChangesWriteNothing,
                         "group changes that change nothing write nothing") {
  Harness h(factory);
  Expect<GroupChangeResult>(*h, CreateGroup("alice", "g1", {"bob"}, 1'000, "same"));
  const std::vector<UserId> users = {"alice", "bob", "zed"};
  const auto heads = HeadsOf(*h, users);
  const GroupRecord before = GroupOf(*h, "g1");
  for (const GroupChangeOp& op : {AddTo("alice", "g1", {"bob", "alice"}),
                                  RemoveFrom("alice", "g1", {"zed"}),
                                  Rename("alice", "g1", "same")}) {
    INFO("action " << GroupActionName(op.action));
    auto r = Expect<GroupChangeResult>(*h, op);
    CHECK_FALSE(r.changed);
    CHECK(r.appended.empty());
    REQUIRE(r.group.has_value());
    CHECK(*r.group == before);
  }
  CHECK(HeadsOf(*h, users) == heads);
  CHECK(GroupOf(*h, "g1") == before);
  CHECK(GroupIdsOf(*h, "zed").empty());
}

COURIER_CONFORMANCE_CASE(GroupLastAdminLeavingPromotesAMember,
                         "the last admin leaving promotes a member") {
  Harness h(factory);
  // g1: carol joined first (1'000), bob later (2'000): carol is promoted
  // although bob's name is smaller.
  Given(*h, {CreateGroup("alice", "g1", {"carol"}, 1'000), AddTo("alice", "g1", {"bob"}, 2'000)});
  {
    const auto heads = HeadsOf(*h, {"alice", "bob", "carol"});
    const GroupChangeOp op = Leave("alice", "g1", 3'000);
    auto r = Expect<GroupChangeResult>(*h, op);
    REQUIRE(r.group.has_value());
    CHECK(MemberNames(*r.group) == std::vector<UserId>{"bob", "carol"});
    CHECK(RoleOf(*r.group, "carol") == GroupRole::kAdmin);
    CHECK(RoleOf(*r.group, "bob") == GroupRole::kMember);
    CHECK(UsersOf(r.appended) == std::multiset<UserId>{"alice", "bob", "carol"});
    CHECK(RequireChangeEvents(r, op, heads).members == std::vector<UserId>{"alice", "carol"});
  }
  // g2: bob and carol joined together: the smaller name is promoted.
  Expect<GroupChangeResult>(*h, CreateGroup("alice", "g2", {"carol", "bob"}, 4'000));
  {
    auto r = Expect<GroupChangeResult>(*h, Leave("alice", "g2", 5'000));
    REQUIRE(r.group.has_value());
    CHECK(RoleOf(*r.group, "bob") == GroupRole::kAdmin);
    CHECK(ChangeOf(r.appended.at(0).event).members == std::vector<UserId>{"alice", "bob"});
  }
  // The promoted admin can act as one.
  CHECK(Expect<GroupChangeResult>(*h, Rename("bob", "g2", "bob's")).changed);
  // A member leaving while an admin stays promotes no one.
  auto r = Expect<GroupChangeResult>(*h, Leave("bob", "g1", 6'000));
  CHECK(ChangeOf(r.appended.at(0).event).members == std::vector<UserId>{"bob"});
  CHECK(MemberNames(GroupOf(*h, "g1")) == std::vector<UserId>{"carol"});
  CHECK(GroupIdsOf(*h, "alice").empty());
}

COURIER_CONFORMANCE_CASE(GroupLastLeaveDeletesTheGroup,
                         "the last member leaving deletes the group") {
  Harness h(factory);
  Given(*h, {CreateGroup("alice", "g1", {"bob"}, 1'000), Leave("bob", "g1", 2'000)});
  const Seq bob_head = HeadOf(*h, "bob");
  const Seq alice_head = HeadOf(*h, "alice");
  const GroupChangeOp op = Leave("alice", "g1", 3'000);
  auto r = Expect<GroupChangeResult>(*h, op);
  CHECK(r.changed);
  CHECK_FALSE(r.group.has_value());
  // Only the actor is told.
  REQUIRE(r.appended.size() == 1);
  CHECK(RequireChangeEvents(r, op, {{"alice", alice_head}}).members ==
        std::vector<UserId>{"alice"});
  CHECK(HeadOf(*h, "bob") == bob_head);
  const absl::Status gone = h->Group("g1").status();
  CHECK_THAT(gone, StatusIs(absl::StatusCode::kNotFound));
  CHECK(GroupErrorOf(gone) == GroupError::kUnknownGroup);
  CHECK(GroupIdsOf(*h, "alice").empty());
  CHECK(GroupIdsOf(*h, "bob").empty());
  RequireGroupError(WriteStatus(*h, GroupMessage("alice", "late", "g1")),
                    GroupError::kUnknownGroup);
  // The id is free again: a new group starts at version 1.
  auto again = Expect<GroupChangeResult>(*h, CreateGroup("bob", "g1", {}, 4'000));
  REQUIRE(again.group.has_value());
  CHECK(again.group->version == 1);
  CHECK(again.group->created_by == "bob");
}

COURIER_CONFORMANCE_CASE(GroupsOfIsSortedAndComplete, "groups of a user are sorted and complete") {
  Harness h(factory);
  for (const char* id : {"g3", "G0", "g10", "g1", "g2", "a-z_9"}) {
    Expect<GroupChangeResult>(*h, CreateGroup("alice", id, {}));
  }
  Given(*h, {AddTo("alice", "g2", {"bob"}), AddTo("alice", "a-z_9", {"bob"}),
             CreateGroup("bob", "b1", {"carol"})});

  auto alice = h->GroupsOf("alice");
  COURIER_REQUIRE_OK(alice);
  std::vector<GroupId> ids;
  for (const GroupRecord& g : *alice) {
    ids.push_back(g.id);
    CHECK(GroupOf(*h, g.id) == g);  // whole records, members included
  }
  CHECK(ids == std::vector<GroupId>{"G0", "a-z_9", "g1", "g10", "g2", "g3"});
  CHECK(GroupIdsOf(*h, "bob") == std::vector<GroupId>{"a-z_9", "b1", "g2"});
  CHECK(GroupIdsOf(*h, "carol") == std::vector<GroupId>{"b1"});
  CHECK(GroupIdsOf(*h, "nobody").empty());
  Expect<GroupChangeResult>(*h, Leave("bob", "g2"));
  CHECK(GroupIdsOf(*h, "bob") == std::vector<GroupId>{"a-z_9", "b1"});
  CHECK(MemberNames(GroupOf(*h, "g2")) == std::vector<UserId>{"alice"});

  // Many groups per user, many members per group.
  std::vector<WriteOp> ops;
  std::vector<UserId> crowd;
  for (int i = 0; i < 40; ++i) crowd.push_back(absl::StrCat("u", 100 + i));
  for (int i = 0; i < 30; ++i) {
    ops.push_back(CreateGroup("host", absl::StrCat("many-", 100 + i), crowd));
  }
  for (const auto& r : h->Write(ops)) COURIER_REQUIRE_OK(r);
  const std::vector<GroupId> of_host = GroupIdsOf(*h, "host");
  REQUIRE(of_host.size() == 30);
  CHECK(std::is_sorted(of_host.begin(), of_host.end()));
  CHECK(GroupIdsOf(*h, "u120").size() == 30);
  CHECK(GroupOf(*h, "many-117").members.size() == 41);
}

// --- Group sends ----------------------------------------------------------------

COURIER_CONFORMANCE_CASE(GroupSendAppendsOneIdToEveryMember,
                         "a group send appends one id to every member") {
  Harness h(factory);
  Expect<GroupChangeResult>(*h, CreateGroup("alice", "g1", {"bob", "carol"}));
  Expect<AppendResult>(*h, Message("dave", "1", "carol"));  // carol's seqs run ahead
  const auto heads = HeadsOf(*h, {"alice", "bob", "carol", "dave"});
  auto r = Expect<GroupSendResult>(*h, GroupMessage("bob", "m1", "g1", 5'000, "hi all"));
  CHECK(r.id == IdOf("bob", "m1"));
  CHECK(r.ts == 5'000);
  CHECK_FALSE(r.duplicate);
  CHECK(r.recipients == 3);
  CHECK(r.skipped.empty());
  CHECK(r.seq == heads.at("bob") + 1);  // the sender's own copy
  REQUIRE(r.appended.size() == 3);
  CHECK(UsersOf(r.appended) == std::multiset<UserId>{"alice", "bob", "carol"});
  for (const Appended& a : r.appended) {
    INFO("inbox " << a.user);
    RequireMessage(a.event, heads.at(a.user) + 1, IdOf("bob", "m1"), "bob", "hi all", 5'000);
    CHECK(a.event.group == "g1");
    CHECK(a.event.status == MessageStatus::kSent);
    CHECK(FetchAll(*h, a.user).back() == a.event);
  }
  CHECK(HeadOf(*h, "dave") == 0);
  CHECK(HeadOf(*h, "carol") == heads.at("carol") + 1);
  // The sender's copy is read already; the others are sent.
  CHECK(StatusOf(*h, "bob", r.id) == MessageStatus::kRead);
  CHECK(StatusOf(*h, "alice", r.id) == MessageStatus::kSent);
  CHECK(StatusOf(*h, "carol", r.id) == MessageStatus::kSent);
  CHECK_THAT(h->Status("dave", r.id).status(), StatusIs(absl::StatusCode::kNotFound));
}

COURIER_CONFORMANCE_CASE(GroupReceiptsOncePerMemberToTheSender,
                         "group receipts: once per member, to the sender") {
  Harness h(factory);
  Expect<GroupChangeResult>(*h, CreateGroup("alice", "g1", {"bob", "carol"}));
  const MessageId id = Expect<GroupSendResult>(*h, GroupMessage("alice", "m1", "g1")).id;
  const Seq alice_head = HeadOf(*h, "alice");  // the create, her own copy

  // The sender's own devices ack and read her copy: no receipts.
  CHECK(Expect<AckResult>(*h, Ack("alice", "phone", alice_head)).appended.empty());
  CHECK(Expect<ReadResult>(*h, Read("alice", {id})).appended.empty());
  CHECK(HeadOf(*h, "alice") == alice_head);

  // bob acks on two devices, then reads: one delivered, one read receipt.
  auto ack = Expect<AckResult>(*h, Ack("bob", "phone", HeadOf(*h, "bob"), 6'000));
  REQUIRE(ack.appended.size() == 1);  // the create event makes none
  RequireReceipt(ack.appended[0], "alice", id, "bob", MessageStatus::kDelivered, 6'000);
  CHECK(ack.appended[0].event.group.empty());
  CHECK(Expect<AckResult>(*h, Ack("bob", "laptop", HeadOf(*h, "bob"), 6'500)).appended.empty());
  auto read = Expect<ReadResult>(*h, Read("bob", {id}, 7'000));
  REQUIRE(read.appended.size() == 1);
  RequireReceipt(read.appended[0], "alice", id, "bob", MessageStatus::kRead, 7'000);
  CHECK(read.appended[0].event.group.empty());
  CHECK(Expect<ReadResult>(*h, Read("bob", {id}, 7'500)).appended.empty());

  // carol reads without an ack: delivered then read.
  auto carol = Expect<ReadResult>(*h, Read("carol", {id}, 8'000));
  REQUIRE(carol.appended.size() == 2);
  RequireReceipt(carol.appended[0], "alice", id, "carol", MessageStatus::kDelivered, 8'000);
  RequireReceipt(carol.appended[1], "alice", id, "carol", MessageStatus::kRead, 8'000);
  CHECK(Expect<AckResult>(*h, Ack("carol", "phone", HeadOf(*h, "carol"))).appended.empty());
  CHECK(StatusOf(*h, "bob", id) == MessageStatus::kRead);
  CHECK(StatusOf(*h, "carol", id) == MessageStatus::kRead);
  CHECK(StatusOf(*h, "alice", id) == MessageStatus::kRead);

  // alice's inbox: create, her copy, then exactly 4 receipts.
  const std::vector<Event> events = FetchAll(*h, "alice");
  RequireSeqs(events, 1, alice_head + 4);
  std::map<std::pair<UserId, MessageStatus>, int> receipts;
  for (std::size_t i = alice_head; i < events.size(); ++i) {
    CHECK(events[i].kind == EventKind::kReceipt);
    CHECK(events[i].id == id);
    CHECK(events[i].group.empty());
    ++receipts[{events[i].peer, events[i].status}];
  }
  CHECK(receipts == std::map<std::pair<UserId, MessageStatus>, int>{
                        {{"bob", MessageStatus::kDelivered}, 1},
                        {{"bob", MessageStatus::kRead}, 1},
                        {{"carol", MessageStatus::kDelivered}, 1},
                        {{"carol", MessageStatus::kRead}, 1}});
  // No one else got a receipt.
  CHECK(HeadOf(*h, "bob") == 2);
  CHECK(HeadOf(*h, "carol") == 2);
}

COURIER_CONFORMANCE_CASE(GroupChangeEventsAckedProduceNothing,
                         "group change events acked produce nothing") {
  Harness h(factory);
  Given(*h, {CreateGroup("alice", "g1", {"bob"}), AddTo("alice", "g1", {"carol"}),
             Rename("alice", "g1", "renamed")});
  const auto heads = HeadsOf(*h, {"alice", "bob", "carol"});
  REQUIRE(heads.at("bob") == 3);
  auto ack = Expect<AckResult>(*h, Ack("bob", "phone", 3));
  CHECK(ack.cursor == 3);
  CHECK(ack.appended.empty());
  CHECK(Expect<AckResult>(*h, Ack("alice", "phone", 3)).appended.empty());
  const std::vector<Event> bob = FetchAll(*h, "bob");
  std::vector<MessageId> ids;
  for (const Event& e : bob) ids.push_back(e.id);
  CHECK(Expect<ReadResult>(*h, Read("bob", ids)).appended.empty());
  CHECK(HeadsOf(*h, {"alice", "bob", "carol"}) == heads);
  CHECK(CursorOf(*h, "bob", "phone") == 3);
}

COURIER_CONFORMANCE_CASE(GroupSendSkipsAFullMember, "a group send skips a full member") {
  Harness h(factory);
  Expect<GroupChangeResult>(*h, CreateGroup("alice", "g1", {"bob", "carol"}));
  // carol and alice hold 2 undelivered events, bob 1.
  Given(*h, {Message("dave", "1", "carol"), Message("dave", "2", "alice")});
  const auto heads = HeadsOf(*h, {"alice", "bob", "carol"});
  GroupSendOp op = GroupMessage("alice", "m1", "g1");
  op.max_undelivered = 2;
  auto r = Expect<GroupSendResult>(*h, op);
  CHECK_FALSE(r.duplicate);
  // The sender's own copy is never refused.
  CHECK(r.recipients == 2);
  CHECK(r.skipped == std::vector<UserId>{"carol"});
  CHECK(UsersOf(r.appended) == std::multiset<UserId>{"alice", "bob"});
  CHECK(r.seq == heads.at("alice") + 1);
  CHECK(HeadOf(*h, "alice") == heads.at("alice") + 1);
  CHECK(HeadOf(*h, "bob") == heads.at("bob") + 1);
  CHECK(HeadOf(*h, "carol") == heads.at("carol"));
  CHECK_THAT(h->Status("carol", r.id).status(), StatusIs(absl::StatusCode::kNotFound));
  CHECK(StatusOf(*h, "bob", r.id) == MessageStatus::kSent);
  // A retry is a duplicate: carol does not get it later.
  auto retry = Expect<GroupSendResult>(*h, op);
  CHECK(retry.duplicate);
  CHECK(retry.appended.empty());
  CHECK(HeadOf(*h, "carol") == heads.at("carol"));
  // Once carol's device catches up she gets the next one.
  Expect<AckResult>(*h, Ack("carol", "phone", heads.at("carol")));
  GroupSendOp next = GroupMessage("alice", "m2", "g1");
  next.max_undelivered = 3;  // bob holds 2 now
  auto r2 = Expect<GroupSendResult>(*h, next);
  CHECK(r2.skipped.empty());
  CHECK(r2.recipients == 3);
}

COURIER_CONFORMANCE_CASE(GroupSendRefusalsWriteNothing, "group send refusals write nothing") {
  Harness h(factory);
  Expect<GroupChangeResult>(*h, CreateGroup("alice", "g1", {"bob"}));
  const auto heads = HeadsOf(*h, {"alice", "bob", "dave"});
  RequireGroupError(WriteStatus(*h, GroupMessage("dave", "m1", "g1")), GroupError::kNotMember);
  RequireGroupError(WriteStatus(*h, GroupMessage("alice", "m2", "nope")),
                    GroupError::kUnknownGroup);
  CHECK(HeadsOf(*h, {"alice", "bob", "dave"}) == heads);
  CHECK_THAT(h->Status("bob", IdOf("dave", "m1")).status(), StatusIs(absl::StatusCode::kNotFound));
  // The refused (sender, cid)s were not recorded.
  Expect<GroupChangeResult>(*h, AddTo("alice", "g1", {"dave"}));
  auto later = Expect<GroupSendResult>(*h, GroupMessage("dave", "m1", "g1"));
  CHECK_FALSE(later.duplicate);
  CHECK(later.recipients == 3);
  CHECK_FALSE(Expect<AppendResult>(*h, Message("alice", "m2", "bob")).duplicate);
}

COURIER_CONFORMANCE_CASE(GroupSendIsIdempotentOnSenderAndCid,
                         "a group send is idempotent on (sender, cid)") {
  Harness h(factory);
  Expect<GroupChangeResult>(*h, CreateGroup("alice", "g1", {"bob", "carol"}));
  auto first = Expect<GroupSendResult>(*h, GroupMessage("bob", "m1", "g1", 5'000, "first"));
  const auto heads = HeadsOf(*h, {"alice", "bob", "carol"});

  GroupSendOp again = GroupMessage("bob", "m1", "g1", 9'000, "second");
  again.id = "another-id";
  auto dup = Expect<GroupSendResult>(*h, again);
  CHECK(dup.duplicate);
  CHECK(dup.id == first.id);
  CHECK(dup.seq == first.seq);
  CHECK(dup.ts == 5'000);
  CHECK(dup.recipients == 0);
  CHECK(dup.appended.empty());
  CHECK(HeadsOf(*h, {"alice", "bob", "carol"}) == heads);
  CHECK(FetchAll(*h, "carol").back().body == "first");

  // The index is shared with 1:1 sends, both ways.
  AppendOp one_to_one = Message("bob", "m1", "dave");
  one_to_one.id = "yet-another";
  auto as_append = Expect<AppendResult>(*h, one_to_one);
  CHECK(as_append.duplicate);
  CHECK(as_append.id == first.id);
  CHECK(HeadOf(*h, "dave") == 0);
  Expect<AppendResult>(*h, Message("carol", "c1", "dave"));
  GroupSendOp reuse = GroupMessage("carol", "c1", "g1");
  reuse.id = "group-id";
  auto as_group = Expect<GroupSendResult>(*h, reuse);
  CHECK(as_group.duplicate);
  CHECK(as_group.id == IdOf("carol", "c1"));
  CHECK(as_group.appended.empty());
  CHECK(HeadsOf(*h, {"alice", "bob", "carol"}) == heads);

  // Within one batch, too.
  const auto b = RequireDuplicateInOneBatch<GroupSendResult>(
      *h, GroupMessage("alice", "b1", "g1", 6'000), GroupMessage("alice", "b1", "g1", 6'001));
  CHECK(b.ts == 6'000);
  CHECK(HeadOf(*h, "carol") == heads.at("carol") + 1);
}

COURIER_CONFORMANCE_CASE(GroupRemovedMemberKeepsEarlierMessagesOnly,
                         "a removed group member keeps earlier messages only") {
  Harness h(factory);
  Expect<GroupChangeResult>(*h, CreateGroup("alice", "g1", {"bob", "carol"}));
  const MessageId before = Expect<GroupSendResult>(*h, GroupMessage("alice", "m1", "g1")).id;
  Expect<GroupChangeResult>(*h, RemoveFrom("alice", "g1", {"bob"}));
  const Seq bob_head = HeadOf(*h, "bob");
  auto after = Expect<GroupSendResult>(*h, GroupMessage("carol", "m2", "g1"));
  CHECK(after.recipients == 2);
  CHECK(UsersOf(after.appended) == std::multiset<UserId>{"alice", "carol"});
  CHECK(HeadOf(*h, "bob") == bob_head);
  RequireGroupError(WriteStatus(*h, GroupMessage("bob", "m3", "g1")), GroupError::kNotMember);
  CHECK(HeadOf(*h, "bob") == bob_head);

  // bob's inbox: created, m1, removed; nothing after.
  const std::vector<Event> bob = FetchAll(*h, "bob");
  RequireSeqs(bob, 1, 3);
  CHECK(bob[0].kind == EventKind::kGroupChange);
  CHECK(bob[1].id == before);
  CHECK(bob[1].group == "g1");
  CHECK(ChangeOf(bob[2]).action == GroupAction::kRemove);
  CHECK(StatusOf(*h, "bob", before) == MessageStatus::kSent);
  CHECK_THAT(h->Status("bob", after.id).status(), StatusIs(absl::StatusCode::kNotFound));
  // He can still ack and read what he kept: his receipts reach alice.
  auto read = Expect<ReadResult>(*h, Read("bob", {before}));
  CHECK(read.appended.size() == 2);
  // Added again, he gets later messages, not the one he missed.
  Expect<GroupChangeResult>(*h, AddTo("alice", "g1", {"bob"}));
  auto back = Expect<GroupSendResult>(*h, GroupMessage("alice", "m4", "g1"));
  CHECK(back.recipients == 3);
  const std::vector<Event> bob_now = FetchAll(*h, "bob");
  RequireSeqs(bob_now, 1, 5);
  CHECK(bob_now[4].id == back.id);
}

COURIER_CONFORMANCE_CASE(GroupEventsFetchAsAppended, "group events fetch as appended") {
  Harness h(factory);
  std::vector<Appended> appended;
  auto keep = [&appended](const std::vector<Appended>& more) {
    appended.insert(appended.end(), more.begin(), more.end());
  };
  std::string bin("g\0bin\xff", 6);
  keep(Expect<GroupChangeResult>(*h, CreateGroup("alice", "g1", {"bob", "carol"}, 10)).appended);
  keep(Expect<AppendResult>(*h, Message("bob", "1", "alice", 11, "direct")).appended);
  keep(Expect<GroupSendResult>(*h, GroupMessage("bob", "2", "g1", 12, bin)).appended);
  keep(Expect<GroupChangeResult>(*h, Rename("alice", "g1", "renamed", 13)).appended);
  keep(Expect<AckResult>(*h, Ack("carol", "phone", 3, 14)).appended);
  keep(Expect<GroupSendResult>(*h, GroupMessage("carol", "3", "g1", 15, "")).appended);
  keep(Expect<ReadResult>(*h, Read("alice", {IdOf("bob", "2"), IdOf("carol", "3")}, 16)).appended);
  keep(Expect<GroupChangeResult>(*h, Leave("carol", "g1", 17)).appended);
  keep(Expect<GroupChangeResult>(*h, Leave("alice", "g1", 18)).appended);
  keep(Expect<GroupChangeResult>(*h, Leave("bob", "g1", 19)).appended);

  std::map<UserId, std::vector<Event>> expected;
  for (const Appended& a : appended) expected[a.user].push_back(a.event);
  REQUIRE(expected.size() == 3);
  for (auto& [user, events] : expected) {
    INFO("inbox " << user);
    std::sort(events.begin(), events.end(),
              [](const Event& a, const Event& b) { return a.seq < b.seq; });
    const std::vector<Event> fetched = FetchAll(*h, user);
    RequireSeqs(fetched, 1, events.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
      INFO("seq " << events[i].seq);
      CHECK(fetched[i] == events[i]);
    }
  }
  // A page from the middle is the same events.
  auto page = h->Fetch("bob", 1, 2);
  COURIER_REQUIRE_OK(page);
  REQUIRE(page->size() == 2);
  CHECK((*page)[0] == expected["bob"][1]);
  CHECK((*page)[1].group == "g1");
}

COURIER_CONFORMANCE_CASE(GroupOpsInOneBatchApplyInOrder, "group ops in one batch apply in order") {
  Harness h(factory);
  std::vector<WriteOp> ops = {
      GroupMessage("alice", "early", "g1"),                // no group yet
      CreateGroup("alice", "g1", {"bob"}, 100),
      GroupMessage("alice", "m1", "g1", 101),
      AddTo("alice", "g1", {"carol"}, 102),
      GroupMessage("carol", "m2", "g1", 103),
      Ack("bob", "phone", 4, 104),                         // create, m1, add, m2
      RemoveFrom("alice", "g1", {"bob"}, 105),
      GroupMessage("alice", "m3", "g1", 106),
      GroupMessage("bob", "m4", "g1", 107),                // removed just before
  };
  auto results = h->Write(ops);
  REQUIRE(results.size() == ops.size());
  RequireGroupError(results[0].status(), GroupError::kUnknownGroup);
  RequireGroupError(results[8].status(), GroupError::kNotMember);
  for (std::size_t i = 1; i < 8; ++i) {
    INFO("op " << i);
    COURIER_REQUIRE_OK(results[i]);
    CHECK(results[i]->index() == ops[i].index());
  }
  CHECK(std::get<GroupSendResult>(*results[2]).recipients == 2);
  CHECK(std::get<GroupSendResult>(*results[4]).recipients == 3);
  auto ack = std::get<AckResult>(*results[5]);
  REQUIRE(ack.appended.size() == 2);  // delivered m1 to alice, m2 to carol
  CHECK(UsersOf(ack.appended) == std::multiset<UserId>{"alice", "carol"});
  CHECK(UsersOf(std::get<GroupSendResult>(*results[7]).appended) ==
        std::multiset<UserId>{"alice", "carol"});
  const std::vector<Event> bob = FetchAll(*h, "bob");
  RequireSeqs(bob, 1, 5);
  CHECK(bob[1].id == IdOf("alice", "m1"));
  CHECK(bob[3].id == IdOf("carol", "m2"));
  CHECK(ChangeOf(bob[4]).action == GroupAction::kRemove);
  CHECK(GroupOf(*h, "g1").version == 3);
}

// Another member's copy is pruned; the sender's (sender, cid) record stays
// with the sender's own copy.
COURIER_CONFORMANCE_CASE(GroupPruningAnotherCopyKeepsTheSendersRecord,
                         "pruning a group member's copy keeps the sender's record") {
  Harness h(factory);
  Expect<GroupChangeResult>(*h, CreateGroup("alice", "g1", {"bob"}, 1'000));
  auto sent = Expect<GroupSendResult>(*h, GroupMessage("alice", "m1", "g1", 1'000));
  Expect<AttachResult>(*h, Attach("alice", "phone"));  // holds back alice's events
  Expect<AckResult>(*h, Ack("bob", "phone", HeadOf(*h, "bob"), 2'000));
  PruneOptions prune = PruneAt(100'000, /*acked_retention_ms=*/10'000, /*ttl_ms=*/1'000'000);
  const std::size_t removed = ValueOf(h->Prune(prune));
  CHECK(removed == 2);  // bob's create and copy
  CHECK(FetchAll(*h, "bob").empty());
  CHECK(FetchAll(*h, "alice").size() == 3);  // create, her copy, bob's receipt

  auto retry = Expect<GroupSendResult>(*h, GroupMessage("alice", "m1", "g1", 200'000));
  CHECK(retry.duplicate);
  CHECK(retry.id == sent.id);
  CHECK(retry.seq == sent.seq);
  auto as_append = Expect<AppendResult>(*h, Message("alice", "m1", "bob", 200'000));
  CHECK(as_append.duplicate);
  CHECK(as_append.id == sent.id);
  CHECK(HeadOf(*h, "bob") == 2);
  // The group is untouched by pruning.
  CHECK(MemberNames(GroupOf(*h, "g1")) == std::vector<UserId>{"alice", "bob"});
}

COURIER_CONFORMANCE_CASE(GroupDeleteInboxLeavesGroupsAlone, "delete inbox leaves groups alone") {
  Harness h(factory);
  Expect<GroupChangeResult>(*h, CreateGroup("alice", "g1", {"bob", "carol"}));
  auto from_bob = Expect<GroupSendResult>(*h, GroupMessage("bob", "b1", "g1"));
  auto from_alice = Expect<GroupSendResult>(*h, GroupMessage("alice", "a1", "g1"));
  const GroupRecord before = GroupOf(*h, "g1");
  const std::vector<Event> carol_before = FetchAll(*h, "carol");

  CHECK(DeleteInboxOf(*h, "bob") == 3);  // create, b1, a1
  CHECK(GroupOf(*h, "g1") == before);
  CHECK(GroupIdsOf(*h, "bob") == std::vector<GroupId>{"g1"});
  CHECK(FetchAll(*h, "carol") == carol_before);
  CHECK_THAT(h->Status("bob", from_alice.id).status(), StatusIs(absl::StatusCode::kNotFound));
  // bob's own send's record went with his own copy; alice's stays.
  // (With a new id, as the engine gives every send: the first id is in the
  // other members' inboxes.)
  GroupSendOp retry = GroupMessage("bob", "b1", "g1");
  retry.id = "id-bob-b1-again";
  auto bob_retry = Expect<GroupSendResult>(*h, retry);
  CHECK_FALSE(bob_retry.duplicate);
  CHECK(bob_retry.recipients == 3);
  CHECK(Expect<GroupSendResult>(*h, GroupMessage("alice", "a1", "g1")).duplicate);
  // bob is still a member: later messages reach his new inbox from seq 1.
  const std::vector<Event> bob = FetchAll(*h, "bob");
  RequireSeqs(bob, 1, 1);
  CHECK(bob[0].id == bob_retry.id);
  CHECK(StatusOf(*h, "alice", from_bob.id) == MessageStatus::kSent);
}

// Threads change one group and send to it at once: each thread's admin adds
// its own user, that user sends, the admin removes it again. Whatever the
// interleaving, the store applies each op whole and in one order: the
// admin, a member throughout, holds every change and message of the group
// in that order, and replayed in it every event is in exactly the inboxes
// of the members at its time. (A store may refuse a conflicting op with
// kAborted, as the engine retries it; then it wrote nothing.)
COURIER_CONFORMANCE_CASE(GroupConcurrentChangesAndSendsAreSerialized,
                         "concurrent group changes and sends are serialized") {
  Harness h(factory);
  Expect<GroupChangeResult>(*h, CreateGroup("admin", "g1", {}));
  constexpr int kThreads = 4;
  constexpr int kRounds = 8;
  MessageStore* store = h.store.get();
  std::vector<std::vector<MessageId>> sent(kThreads);
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([store, t, &sent, &failure = failures[t]] {
      const UserId user = absl::StrCat("w", t);
      auto write = [store](WriteOp op) {
        auto results = store->Write(absl::MakeConstSpan(&op, 1));
        return results.size() == 1 ? std::move(results[0])
                                   : absl::StatusOr<WriteResult>(absl::InternalError("no result"));
      };
      for (int round = 0; round < kRounds && failure.empty(); ++round) {
        auto added = write(AddTo("admin", "g1", {user}, 10 + round));
        if (absl::IsAborted(added.status())) continue;
        if (!added.ok()) {
          failure = "add: " + added.status().ToString();
          break;
        }
        auto message = write(GroupMessage(user, std::to_string(round), "g1", 20 + round));
        if (message.ok()) {
          sent[t].push_back(std::get<GroupSendResult>(*message).id);
        } else if (!absl::IsAborted(message.status())) {
          failure = "send: " + message.status().ToString();
          break;
        }
        absl::Status removed = absl::AbortedError("not yet");
        for (int attempt = 0; attempt < 50 && absl::IsAborted(removed); ++attempt) {
          removed = write(RemoveFrom("admin", "g1", {user}, 30 + round)).status();
        }
        if (!removed.ok()) failure = "remove: " + removed.ToString();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    INFO("thread " << t);
    CHECK(failures[t].empty());
    CHECK_FALSE(sent[t].empty());
  }

  // Who holds each event of the group; every inbox gap-free.
  std::vector<UserId> users = {"admin"};
  for (int t = 0; t < kThreads; ++t) users.push_back(absl::StrCat("w", t));
  std::map<MessageId, std::set<UserId>> holders;
  for (const UserId& u : users) {
    const std::vector<Event> events = FetchAll(*h, u);
    RequireSeqs(events, 1, events.size());
    CHECK(HeadOf(*h, u) == events.size());
    for (const Event& e : events) {
      if (e.group == "g1") CHECK(holders[e.id].insert(u).second);
    }
  }
  // The admin's inbox is the order; replay it.
  std::set<UserId> members = {"admin"};
  std::size_t messages = 0;
  const std::vector<Event> order = FetchAll(*h, "admin");
  REQUIRE_FALSE(order.empty());
  CHECK(ChangeOf(order[0]).action == GroupAction::kCreate);
  for (std::size_t i = 1; i < order.size(); ++i) {
    const Event& e = order[i];
    INFO("admin's seq " << e.seq);
    std::set<UserId> expected;
    if (e.kind == EventKind::kMessage) {
      ++messages;
      CHECK(members.contains(e.peer));
      expected = members;
    } else {
      REQUIRE(e.kind == EventKind::kGroupChange);
      const GroupChange change = ChangeOf(e);
      REQUIRE(change.members.size() == 1);
      if (change.action == GroupAction::kAdd) {
        CHECK(members.insert(change.members[0]).second);
        expected = members;
      } else {
        REQUIRE(change.action == GroupAction::kRemove);
        expected = members;
        CHECK(members.erase(change.members[0]) == 1);
      }
    }
    CHECK(holders.at(e.id) == expected);
  }
  std::size_t stored = 0;
  for (const auto& ids : sent) {
    stored += ids.size();
    for (const MessageId& id : ids) CHECK(holders.contains(id));
  }
  CHECK(messages == stored);
  CHECK(members == std::set<UserId>{"admin"});
  CHECK(MemberNames(GroupOf(*h, "g1")) == std::vector<UserId>{"admin"});
  CHECK(GroupOf(*h, "g1").version == order.size() - messages);  // one per change
}

// --- Durability -------------------------------------------------------------------

COURIER_CONFORMANCE_DURABILITY_CASE(GroupsSurviveReopen, "groups survive a reopen") {
  Harness h(factory);
  Given(*h, {CreateGroup("alice", "g1", {"bob", "carol"}, 1'000, "keep"),
             CreateGroup("bob", "g2", {}, 1'100), Leave("alice", "g1", 1'200)});
  auto sent = Expect<GroupSendResult>(*h, GroupMessage("bob", "m1", "g1", 1'300));
  Expect<AckResult>(*h, Ack("carol", "phone", HeadOf(*h, "carol"), 1'400));
  const GroupRecord g1 = GroupOf(*h, "g1");
  const GroupRecord g2 = GroupOf(*h, "g2");
  std::map<UserId, std::vector<Event>> inboxes;
  for (const char* u : {"alice", "bob", "carol"}) inboxes[u] = FetchAll(*h, u);
  h.Reopen();

  CHECK(GroupOf(*h, "g1") == g1);
  CHECK(GroupOf(*h, "g2") == g2);
  CHECK(RoleOf(g1, "bob") == GroupRole::kAdmin);
  CHECK(GroupIdsOf(*h, "bob") == std::vector<GroupId>{"g1", "g2"});
  CHECK(GroupIdsOf(*h, "alice").empty());
  for (const auto& [user, events] : inboxes) {
    INFO("inbox " << user);
    CHECK(FetchAll(*h, user) == events);
  }
  CHECK(StatusOf(*h, "bob", sent.id) == MessageStatus::kRead);
  CHECK(StatusOf(*h, "carol", sent.id) == MessageStatus::kDelivered);
  auto dup = Expect<GroupSendResult>(*h, GroupMessage("bob", "m1", "g1"));
  CHECK(dup.duplicate);
  CHECK(dup.seq == sent.seq);
  // Changes continue from the stored version; seqs continue.
  auto renamed = Expect<GroupChangeResult>(*h, Rename("bob", "g1", "kept", 2'000));
  REQUIRE(renamed.group.has_value());
  CHECK(renamed.group->version == g1.version + 1);
  CHECK(renamed.appended.size() == 2);
  CHECK(HeadOf(*h, "carol") == inboxes["carol"].size() + 1);
  RequireGroupError(WriteStatus(*h, CreateGroup("carol", "g2", {})), GroupError::kGroupExists);
}

}  // namespace courier::conformance::message_store_cases

#endif  // COURIER_TESTS_CONFORMANCE_MESSAGE_STORE_GROUP_CASES_H_
