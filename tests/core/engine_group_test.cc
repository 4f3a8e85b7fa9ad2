// Engine: groups and typing (courier/engine.h Session::SendToGroup,
// ChangeGroup, ListGroups, Typing; Engine::LeaveAllGroups), driven step by
// step over the memory adapters (tests/core/engine_harness.h).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "courier/engine.h"
#include "courier/group.h"
#include "engine_harness.h"
#include "engine_threads.h"
#include "group_id.h"
#include "group_members_cache.h"

namespace courier::testing {
namespace {

// Takes out of `d.frames` (after polling) the frames of type T that match
// `keep`: each frame is taken once, whatever else was received with it.
template <typename T>
std::vector<T> Take(Device& d, const std::function<bool(const T&)>& keep) {
  d.Poll();
  std::vector<T> out;
  auto rest = std::remove_if(d.frames.begin(), d.frames.end(), [&](ServerFrame& f) {
    T* t = std::get_if<T>(&f);
    if (t == nullptr || !keep(*t)) return false;
    out.push_back(std::move(*t));
    return true;
  });
  d.frames.erase(rest, d.frames.end());
  return out;
}

template <typename T>
std::vector<T> Fresh(Device& d) {
  return Take<T>(d, [](const T&) { return true; });
}

// The one frame of type T not taken yet (REQUIREs exactly one).
template <typename T>
T One(Device& d) {
  std::vector<T> got = Fresh<T>(d);
  REQUIRE(got.size() == 1);
  return got.front();
}

// Forgets everything each device received so far.
template <typename... Devices>
void Drop(Devices&... devices) {
  auto drop = [](Device& d) {
    d.Poll();
    d.frames.clear();
  };
  (drop(devices), ...);
}

ErrorFrame OneError(Device& d) { return One<ErrorFrame>(d); }

// `d` received one error not taken yet: `code`, answering `cid`.
void ExpectError(Device& d, ErrorCode code, const std::string& cid) {
  ErrorFrame e = OneError(d);
  INFO(e.message);
  CHECK(ErrorCodeName(e.code) == ErrorCodeName(code));
  CHECK(e.cid == cid);
}

std::vector<Event> FreshEvents(Device& d, EventKind kind) {
  std::vector<Event> out;
  for (EventFrame& e : Take<EventFrame>(d, [&](const EventFrame& f) { return f.event.kind == kind; })) {
    out.push_back(std::move(e.event));
  }
  return out;
}

// alice, bob, carol, dave; alice is friends with bob and carol (bob and
// carol are not friends); dave is nobody's friend. Nobody is connected yet.
class People : public EngineHarness {
 public:
  explicit People(EngineOptions options = Generous()) : EngineHarness(std::move(options)) {
    AddUsers({"alice", "bob", "carol", "dave"});
    Befriend("alice", "bob");
    Befriend("alice", "carol");
  }

  // `d` asks for a group change (Session::ChangeGroup), then the engine runs.
  void ChangeGroup(Device& d, const std::string& cid, GroupAction action, const GroupId& group,
                   std::vector<UserId> members, const std::string& name = "") {
    d.session->ChangeGroup(cid, action, group, std::move(members), name);
    Run();
  }
  // `d` sends `body` to `group` (Session::SendToGroup), then the engine runs.
  void SendToGroup(Device& d, const std::string& cid, const GroupId& group,
                   const std::string& body) {
    d.session->SendToGroup(cid, group, body);
    Run();
  }

  // `admin` creates a group with `members` named `name`; returns its id.
  GroupId Create(Device& admin, const std::string& cid, std::vector<UserId> members,
                 const std::string& name = "trip") {
    ChangeGroup(admin, cid, GroupAction::kCreate, "", std::move(members), name);
    GroupOkFrame ok = One<GroupOkFrame>(admin);
    REQUIRE(ok.cid == cid);
    REQUIRE(ok.changed);
    return ok.group;
  }
};

TEST_CASE("Group: a created group's id is SHA-256 of (creator, cid), the same everywhere",
          "[engine][group]") {
  // hashlib.sha256(b"alice\x00new-1").hexdigest()[:32]: any node, any version.
  CHECK(internal::DeriveGroupId("alice", "new-1") == "ge9503e578549fc4e8a0562a55d2b953e");
  CHECK(internal::DeriveGroupId("alice", "new-2") != internal::DeriveGroupId("alice", "new-1"));
  CHECK(internal::DeriveGroupId("bob", "new-1") != internal::DeriveGroupId("alice", "new-1"));
  // The separator keeps (user, cid) pairs apart: "al" + "ice..." is not "ali" + "ce...".
  CHECK(internal::DeriveGroupId("al", "icex") != internal::DeriveGroupId("ali", "cex"));
  COURIER_REQUIRE_OK(ValidateGroupId(internal::DeriveGroupId("u", std::string(64, '\xff'))));
}

TEST_CASE("Group: typing's member cache expires and stays bounded", "[engine][group]") {
  internal::GroupMembersCache cache(/*capacity=*/2, /*ttl_ms=*/1'000);
  cache.Put("g1", {"carol", "alice"}, 100);
  CHECK(cache.Find("g1", 100) == std::vector<UserId>{"alice", "carol"});  // sorted
  CHECK(cache.Find("g1", 1'099).has_value());
  CHECK_FALSE(cache.Find("g1", 1'100).has_value());  // expired
  CHECK_FALSE(cache.Find("g2", 100).has_value());
  cache.Put("g2", {}, 100);  // known to be gone
  CHECK(cache.Find("g2", 100) == std::vector<UserId>{});
  // A third group when two are kept: the expired one goes first.
  cache.Put("g1", {"alice"}, 100);
  cache.Put("g3", {"bob"}, 1'500);  // g1 and g2 expired by now
  CHECK(cache.Find("g3", 1'500).has_value());
  cache.Put("g4", {"dan"}, 1'600);
  cache.Put("g5", {"eve"}, 1'700);  // full of live entries: starts over
  CHECK(cache.Find("g5", 1'700).has_value());
  CHECK_FALSE(cache.Find("g3", 1'700).has_value());
}

TEST_CASE("Group: a send reaches every device of every member, receipts reach the sender",
          "[engine][group]") {
  People h;
  auto [alice, alice2, bob, carol, carol2] =
      h.Online({{"alice", "phone"}, {"alice", "laptop"}, {"bob", "phone"}, {"carol", "phone"},
                {"carol", "tablet"}});
  Drop(alice, alice2, bob, carol, carol2);

  const GroupId group = h.Create(alice, "new-1", {"bob", "carol"});
  CHECK(group.size() == 33);
  CHECK(ValidateGroupId(group).ok());
  // The creation is an inbox event of every member, on every device.
  for (Device* d : {&alice, &alice2, &bob, &carol, &carol2}) {
    std::vector<Event> changes = FreshEvents(*d, EventKind::kGroupChange);
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].group == group);
    CHECK(changes[0].peer == "alice");
    auto change = DecodeGroupChange(changes[0].body);
    COURIER_REQUIRE_OK(change);
    CHECK(change->action == GroupAction::kCreate);
    CHECK(change->members == std::vector<UserId>{"alice", "bob", "carol"});
    CHECK(change->name == "trip");
  }

  h.SendToGroup(alice, "m1", group, "hello all");
  SentFrame sent = One<SentFrame>(alice);
  CHECK(sent.cid == "m1");
  CHECK_FALSE(sent.duplicate);
  CHECK(sent.skipped.empty());
  // One id; every device of every member, the sender's own included.
  for (Device* d : {&alice, &alice2, &bob, &carol, &carol2}) {
    std::vector<Event> msgs = FreshEvents(*d, EventKind::kMessage);
    REQUIRE(msgs.size() == 1);
    CHECK(msgs[0].id == sent.id);
    CHECK(msgs[0].group == group);
    CHECK(msgs[0].peer == "alice");
    CHECK(msgs[0].body == "hello all");
  }
  CHECK(h.engine().stats().group_sends == 1);
  CHECK(h.engine().stats().group_changes == 1);

  // Members ack and read: the sender's inbox gets one receipt per step and
  // member, without a group.
  bob.session->Ack(h.store().Head("bob").value());
  carol.session->Read({sent.id});
  h.Run();
  std::vector<Event> receipts = FreshEvents(alice, EventKind::kReceipt);
  std::vector<std::pair<UserId, MessageStatus>> steps;
  for (const Event& r : receipts) {
    CHECK(r.id == sent.id);
    CHECK(r.group.empty());
    steps.emplace_back(r.peer, r.status);
  }
  std::sort(steps.begin(), steps.end());
  CHECK(std::count(steps.begin(), steps.end(),
                   std::pair<UserId, MessageStatus>{"bob", MessageStatus::kDelivered}) == 1);
  CHECK(std::count(steps.begin(), steps.end(),
                   std::pair<UserId, MessageStatus>{"carol", MessageStatus::kRead}) == 1);
  CHECK(FreshEvents(alice2, EventKind::kReceipt).size() == receipts.size());
  // Nobody else got a receipt.
  CHECK(FreshEvents(bob, EventKind::kReceipt).empty());
  CHECK(FreshEvents(carol2, EventKind::kReceipt).empty());

  // Members need no friendship among themselves: bob reaches carol.
  h.SendToGroup(bob, "b1", group, "hi carol");
  CHECK_FALSE(One<SentFrame>(bob).duplicate);
  std::vector<Event> at_carol = FreshEvents(carol, EventKind::kMessage);
  REQUIRE(at_carol.size() == 1);
  CHECK(at_carol[0].peer == "bob");
  CHECK(at_carol[0].group == group);
}

TEST_CASE("Group: a repeated cid answers the first id, through the engine and the store",
          "[engine][group]") {
  EngineOptions o = Generous();
  o.rate_limit = RateLimit{3, 1'000'000};
  People h(o);
  auto [alice, bob] = h.Online({{"alice", "phone"}, {"bob", "phone"}});
  const GroupId group = h.Create(alice, "new-1", {"bob"});  // token 1
  h.SendToGroup(alice, "m1", group, "once");                 // token 2
  const SentFrame first = One<SentFrame>(alice);
  Drop(bob);

  h.SendToGroup(alice, "m1", group, "once");  // remembered: no token, no write
  SentFrame again = One<SentFrame>(alice);
  CHECK(again.duplicate);
  CHECK(again.id == first.id);
  CHECK(again.skipped.empty());
  CHECK(FreshEvents(bob, EventKind::kMessage).empty());

  // A restarted engine knows nothing: the store answers the duplicate and
  // its token is given back.
  h.Stop();
  h.Start();
  alice = h.Connect("alice", "phone");
  bob = h.Connect("bob", "phone", h.store().Head("bob").value());
  h.Run();
  Drop(alice, bob);
  for (int i = 0; i < 3; ++i) {
    h.SendToGroup(alice, "m1", group, "once");
    SentFrame dup = One<SentFrame>(alice);
    CHECK(dup.duplicate);
    CHECK(dup.id == first.id);
  }
  CHECK(FreshEvents(bob, EventKind::kMessage).empty());
  CHECK(h.engine().stats().duplicate_sends == 3);
  CHECK(h.engine().stats().group_sends == 0);
}

TEST_CASE("Group: a create retried with its cid answers the same group", "[engine][group]") {
  People h;
  auto [alice, carol] = h.Online({{"alice", "phone"}, {"carol", "phone"}});
  Drop(alice);
  const GroupId group = h.Create(alice, "new-1", {"bob"});
  Drop(alice);

  h.ChangeGroup(alice, "new-1", GroupAction::kCreate, "", {"bob"}, "trip");
  GroupOkFrame dup = One<GroupOkFrame>(alice);
  CHECK(dup.duplicate);
  CHECK_FALSE(dup.changed);
  CHECK(dup.group == group);
  CHECK(dup.version == 1);
  CHECK(FreshEvents(alice, EventKind::kGroupChange).empty());  // nothing new stored

  // After a restart too (the id is derived from user and cid).
  h.Stop();
  h.Start();
  alice = h.Connect("alice", "phone", h.store().Head("alice").value());
  carol = h.Connect("carol", "phone");
  h.Run();
  Drop(alice);
  h.ChangeGroup(alice, "new-1", GroupAction::kCreate, "", {}, "another name");
  dup = One<GroupOkFrame>(alice);
  CHECK(dup.duplicate);
  CHECK(dup.group == group);

  // The same cid from another user is another group.
  Drop(carol);
  h.ChangeGroup(carol, "new-1", GroupAction::kCreate, "", {"alice"}, "carol's");
  GroupOkFrame other = One<GroupOkFrame>(carol);
  CHECK_FALSE(other.duplicate);
  CHECK(other.changed);
  CHECK(other.group != group);
}

TEST_CASE("Group: every error of a group send", "[engine][group]") {
  EngineOptions o = Generous();
  o.limits.max_body_bytes = 16;
  People h(o);
  auto [alice, dave, bob] = h.Online({{"alice", "phone"}, {"dave", "phone"}, {"bob", "phone"}});
  const GroupId group = h.Create(alice, "new-1", {"bob"});
  Drop(alice, bob, dave);

  h.SendToGroup(alice, "", group, "x");
  ExpectError(alice, ErrorCode::kBadFrame, "");
  h.SendToGroup(alice, "c1", "not a group id", "x");
  ExpectError(alice, ErrorCode::kUnknownGroup, "c1");
  h.SendToGroup(alice, "c2", "gnosuchgroup", "x");  // well formed, absent
  ExpectError(alice, ErrorCode::kUnknownGroup, "c2");
  h.SendToGroup(alice, "c3", group, std::string(17, 'x'));
  ExpectError(alice, ErrorCode::kTooLarge, "c3");
  h.SendToGroup(dave, "d1", group, "let me in");
  ExpectError(dave, ErrorCode::kNotMember, "d1");
  CHECK(FreshEvents(bob, EventKind::kMessage).empty());

  // A removed member may no longer send.
  h.ChangeGroup(alice, "rm-1", GroupAction::kRemove, group, {"bob"}, "");
  CHECK(One<GroupOkFrame>(alice).changed);
  std::vector<Event> removed = FreshEvents(bob, EventKind::kGroupChange);
  REQUIRE(removed.size() == 1);  // the removed member is told
  CHECK(DecodeGroupChange(removed[0].body)->action == GroupAction::kRemove);
  h.SendToGroup(bob, "b1", group, "still here?");
  ExpectError(bob, ErrorCode::kNotMember, "b1");
  CHECK(h.engine().stats().group_sends == 0);
  CHECK(h.engine().stats().send_errors >= 6);
}

TEST_CASE("Group: one rate token per group send", "[engine][group]") {
  EngineOptions o = Generous();
  o.rate_limit = RateLimit{3, 1'000'000};
  People h(o);
  Device alice = h.Online("alice");
  const GroupId group = h.Create(alice, "new-1", {"bob", "carol"});  // one token
  alice.session->SendToGroup("m1", group, "a");                       // one, for 3 inboxes
  alice.session->SendToGroup("m2", group, "b");
  alice.session->SendToGroup("m3", group, "c");
  h.Run();
  CHECK(Fresh<SentFrame>(alice).size() == 2);
  std::vector<ErrorFrame> errors = Fresh<ErrorFrame>(alice);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].code == ErrorCode::kRateLimited);
  CHECK(errors[0].cid == "m3");
  CHECK(errors[0].retry_after_ms.has_value());
  // Changes share the bucket.
  h.ChangeGroup(alice, "rn-1", GroupAction::kRename, group, {}, "new name");
  CHECK(OneError(alice).code == ErrorCode::kRateLimited);
}

TEST_CASE("Group: a member whose inbox is full is skipped, the others get it",
          "[engine][group]") {
  EngineOptions o = Generous();
  o.limits.max_undelivered = 3;
  People h(o);
  auto [alice, carol] = h.Online({{"alice", "phone"}, {"carol", "phone"}});
  const GroupId group = h.Create(alice, "new-1", {"bob", "carol"});
  // bob is offline: fill his inbox until a 1:1 send is refused.
  bool full = false;
  for (int i = 0; i < 10 && !full; ++i) {
    h.Send(alice, "fill-" + std::to_string(i), "bob", "x");
    for (const ErrorFrame& e : Fresh<ErrorFrame>(alice)) {
      full = full || e.code == ErrorCode::kQueueFull;
    }
  }
  Drop(alice);
  REQUIRE(full);
  const Seq bob_head = h.store().Head("bob").value();
  Drop(carol);
  h.SendToGroup(alice, "m1", group, "to all");
  SentFrame sent = One<SentFrame>(alice);
  CHECK_FALSE(sent.duplicate);
  CHECK(sent.skipped == std::vector<UserId>{"bob"});
  CHECK(FreshEvents(carol, EventKind::kMessage).size() == 1);
  CHECK(FreshEvents(alice, EventKind::kMessage).size() == 1);  // the sender's own copy
  CHECK(h.store().Head("bob").value() == bob_head);
  // A repeat says duplicate and names nobody.
  h.SendToGroup(alice, "m1", group, "to all");
  SentFrame dup = One<SentFrame>(alice);
  CHECK(dup.duplicate);
  CHECK(dup.skipped.empty());
}

TEST_CASE("Group: every error of a group change", "[engine][group]") {
  EngineOptions o = Generous();
  o.limits.max_group_members = 3;
  o.limits.max_groups_per_user = 2;
  People h(o);
  h.AddUsers({"erin"});
  h.Befriend("alice", "erin");
  h.Befriend("alice", "dave");
  auto [alice, bob, carol] = h.Online({{"alice", "phone"}, {"bob", "phone"}, {"carol", "phone"}});
  const GroupId group = h.Create(alice, "new-1", {"bob"});
  Drop(alice, bob, carol);

  h.ChangeGroup(alice, "", GroupAction::kAdd, group, {"carol"});
  ExpectError(alice, ErrorCode::kBadFrame, "");
  h.ChangeGroup(alice, "a0", static_cast<GroupAction>(9), group, {"carol"});
  ExpectError(alice, ErrorCode::kBadFrame, "a0");
  h.ChangeGroup(alice, "a1", GroupAction::kAdd, "no such id!", {"carol"});
  ExpectError(alice, ErrorCode::kUnknownGroup, "a1");
  h.ChangeGroup(alice, "a2", GroupAction::kAdd, "gabsent", {"carol"});
  ExpectError(alice, ErrorCode::kUnknownGroup, "a2");
  h.ChangeGroup(alice, "a3", GroupAction::kAdd, group, {});  // add names someone
  ExpectError(alice, ErrorCode::kBadFrame, "a3");
  h.ChangeGroup(alice, "a4", GroupAction::kAdd, group, {"not a name"});
  ExpectError(alice, ErrorCode::kBadFrame, "a4");
  h.ChangeGroup(alice, "a5", GroupAction::kRename, group, {}, "");  // a name is 1+ bytes
  ExpectError(alice, ErrorCode::kBadFrame, "a5");
  h.ChangeGroup(alice, "a6", GroupAction::kLeave, group, {"bob"});  // leave names nobody
  ExpectError(alice, ErrorCode::kBadFrame, "a6");
  h.ChangeGroup(alice, "a7", GroupAction::kRemove, group, {"alice"});  // that is a leave
  ExpectError(alice, ErrorCode::kBadFrame, "a7");
  h.ChangeGroup(alice, "a8", GroupAction::kCreate, "", {"bob"}, std::string(200, 'n'));
  ExpectError(alice, ErrorCode::kBadFrame, "a8");
  // Members added must be users the admin may send to.
  h.ChangeGroup(alice, "f1", GroupAction::kAdd, group, {"ghost"});
  ExpectError(alice, ErrorCode::kUnknownUser, "f1");
  h.ChangeGroup(bob, "f2", GroupAction::kCreate, "", {"carol"}, "no friends");
  ExpectError(bob, ErrorCode::kNotFriends, "f2");
  // Roles.
  h.ChangeGroup(bob, "r1", GroupAction::kAdd, group, {"alice"});
  ExpectError(bob, ErrorCode::kNotAdmin, "r1");
  h.ChangeGroup(carol, "r2", GroupAction::kRename, group, {}, "mine now");
  ExpectError(carol, ErrorCode::kNotMember, "r2");
  h.ChangeGroup(carol, "r3", GroupAction::kLeave, group, {});
  ExpectError(carol, ErrorCode::kNotMember, "r3");
  // Limits: 3 members per group, 2 groups per user.
  h.ChangeGroup(alice, "l1", GroupAction::kAdd, group, {"carol", "dave"});
  ExpectError(alice, ErrorCode::kGroupFull, "l1");
  h.ChangeGroup(alice, "l2", GroupAction::kCreate, "", {"erin"}, "second");
  CHECK(One<GroupOkFrame>(alice).changed);
  h.ChangeGroup(alice, "l3", GroupAction::kCreate, "", {"erin"}, "third");
  ExpectError(alice, ErrorCode::kTooManyGroups, "l3");
  // Nothing refused reached anyone's inbox.
  CHECK(FreshEvents(bob, EventKind::kGroupChange).empty());
  CHECK(FreshEvents(carol, EventKind::kGroupChange).empty());

  // A change that changes nothing is answered, not stored.
  h.ChangeGroup(alice, "n1", GroupAction::kAdd, group, {"bob"});
  GroupOkFrame same = One<GroupOkFrame>(alice);
  CHECK_FALSE(same.changed);
  CHECK(same.version == 1);
  h.ChangeGroup(alice, "n2", GroupAction::kRename, group, {}, "renamed");
  GroupOkFrame renamed = One<GroupOkFrame>(alice);
  CHECK(renamed.changed);
  CHECK(renamed.version == 2);
  std::vector<Event> told = FreshEvents(bob, EventKind::kGroupChange);
  REQUIRE(told.size() == 1);
  CHECK(DecodeGroupChange(told[0].body)->name == "renamed");
}

TEST_CASE("Group: listing groups", "[engine][group]") {
  People h;
  auto [alice, bob, carol] = h.Online({{"alice", "phone"}, {"bob", "phone"}, {"carol", "phone"}});
  const GroupId g1 = h.Create(alice, "new-1", {"bob"}, "one");
  const GroupId g2 = h.Create(alice, "new-2", {"carol"}, "two");
  Drop(alice, bob, carol);

  alice.session->ListGroups("l1", std::nullopt);
  h.Run();
  GroupsFrame all = One<GroupsFrame>(alice);
  CHECK(all.cid == "l1");
  REQUIRE(all.groups.size() == 2);
  std::vector<GroupId> ids{all.groups[0].id, all.groups[1].id};
  std::sort(ids.begin(), ids.end());
  std::vector<GroupId> want{g1, g2};
  std::sort(want.begin(), want.end());
  CHECK(ids == want);

  bob.session->ListGroups("l2", g1);
  h.Run();
  GroupsFrame one = One<GroupsFrame>(bob);
  REQUIRE(one.groups.size() == 1);
  CHECK(one.groups[0].id == g1);
  CHECK(one.groups[0].name == "one");
  CHECK(one.groups[0].created_by == "alice");
  REQUIRE(one.groups[0].members.size() == 2);
  CHECK(one.groups[0].Find("alice")->role == GroupRole::kAdmin);
  CHECK(one.groups[0].Find("bob")->role == GroupRole::kMember);

  bob.session->ListGroups("l3", g2);
  h.Run();
  CHECK(OneError(bob).code == ErrorCode::kNotMember);
  bob.session->ListGroups("l4", GroupId("gabsent"));
  h.Run();
  CHECK(OneError(bob).code == ErrorCode::kUnknownGroup);
  bob.session->ListGroups("l5", GroupId("not valid!"));
  h.Run();
  CHECK(OneError(bob).code == ErrorCode::kUnknownGroup);
  bob.session->ListGroups("", std::nullopt);
  h.Run();
  CHECK(OneError(bob).code == ErrorCode::kBadFrame);
  carol.session->ListGroups("l6", std::nullopt);
  h.Run();
  CHECK(One<GroupsFrame>(carol).groups.size() == 1);
}

TEST_CASE("Typing: relayed to the peer's and the members' devices, never the typist's",
          "[engine][typing]") {
  People h;
  auto [alice, alice2, bob, bob2, carol, dave] =
      h.Online({{"alice", "phone"}, {"alice", "laptop"}, {"bob", "phone"}, {"bob", "tablet"},
                {"carol", "phone"}, {"dave", "phone"}});
  const GroupId group = h.Create(alice, "new-1", {"bob", "carol"});
  Drop(alice, alice2, bob, bob2, carol, dave);

  alice.session->Typing("bob", "", true);
  h.Run();
  for (Device* d : {&bob, &bob2}) {
    TypingFrame t = One<TypingFrame>(*d);
    CHECK(t.from == "alice");
    CHECK(t.group.empty());
    CHECK(t.on);
    CHECK(t.ttl_ms == Limits{}.typing_ttl_ms);
  }
  for (Device* d : {&alice, &alice2, &carol, &dave}) CHECK(Fresh<TypingFrame>(*d).empty());

  // In a group: every other member, never the typist's own devices.
  bob.session->Typing("", group, true);
  bob.session->Typing("", group, false);
  h.Run();
  for (Device* d : {&alice, &alice2, &carol}) {
    std::vector<TypingFrame> got = Fresh<TypingFrame>(*d);
    REQUIRE(got.size() == 2);
    CHECK(got[0].from == "bob");
    CHECK(got[0].group == group);
    CHECK(got[0].on);
    CHECK_FALSE(got[1].on);
  }
  for (Device* d : {&bob, &bob2, &dave}) CHECK(Fresh<TypingFrame>(*d).empty());
  const EngineStats before = h.engine().stats();
  CHECK(before.typing_relayed == 2 + 2 * 3);
  CHECK(before.typing_dropped == 0);

  // Dropped: to a non-friend, in a group the typist is not in, to oneself,
  // to both or neither, to a bad name.
  bob.session->Typing("carol", "", true);
  dave.session->Typing("", group, true);
  alice.session->Typing("alice", "", true);
  alice.session->Typing("bob", group, true);
  alice.session->Typing("", "", true);
  alice.session->Typing("not a name", "", true);
  alice.session->Typing("", "gabsent", true);
  h.Run();
  for (Device* d : {&alice, &alice2, &bob, &bob2, &carol, &dave}) {
    CHECK(d->Poll().empty());  // never answered, never relayed
  }
  CHECK(h.engine().stats().typing_dropped == 7);
  CHECK(h.engine().stats().typing_relayed == before.typing_relayed);

  // A member removed stops seeing (and sending) typing at once on this node.
  h.ChangeGroup(alice, "rm-1", GroupAction::kRemove, group, {"carol"}, "");
  Drop(alice, bob, carol);
  bob.session->Typing("", group, true);
  carol.session->Typing("", group, true);
  h.Run();
  CHECK(One<TypingFrame>(alice).from == "bob");
  CHECK(Fresh<TypingFrame>(carol).empty());
  CHECK(Fresh<TypingFrame>(bob).empty());
}

TEST_CASE("Typing: beyond the typing rate, typing is dropped", "[engine][typing]") {
  EngineOptions o = Generous();
  o.typing_rate = RateLimit{3, 3'000};
  People h(o);
  auto [alice, bob] = h.Online({{"alice", "phone"}, {"bob", "phone"}});
  Drop(alice, bob);
  for (int i = 0; i < 10; ++i) alice.session->Typing("bob", "", i % 2 == 0);
  h.Run();
  CHECK(Fresh<TypingFrame>(bob).size() == 3);
  CHECK(h.engine().stats().typing_dropped == 7);
  CHECK(alice.Poll().empty());  // never answered
  // Sends have their own bucket.
  h.Send(alice, "c1", "bob", "still sending");
  CHECK(One<SentFrame>(alice).cid == "c1");
  h.clock().Advance(1'000);  // one token back
  alice.session->Typing("bob", "", true);
  alice.session->Typing("bob", "", true);
  h.Run();
  CHECK(Fresh<TypingFrame>(bob).size() == 1);
}

TEST_CASE("Typing: one typist's ops reach the peer in the order typed, whatever runs first",
          "[engine][typing]") {
  People h;
  auto [alice, bob] = h.Online({{"alice", "phone"}, {"bob", "phone"}});
  Drop(alice, bob);
  const std::vector<bool> typed{true, true, false, true, false};  // not a palindrome
  for (bool on : typed) alice.session->Typing("bob", "", on);
  // The delivery executor runs its tasks newest first: the relays must not
  // follow the tasks' order.
  while (h.executor().pending() > 0) h.executor().RunOne(h.executor().pending() - 1);
  std::vector<bool> got;
  for (const TypingFrame& t : Fresh<TypingFrame>(bob)) got.push_back(t.on);
  CHECK(got == typed);
}

TEST_CASE("Typing and group messages cross to another node", "[engine][typing][cluster]") {
  People h;
  std::unique_ptr<Engine> node2 = h.StartPeer("node-2");
  Device alice = h.Connect("alice", "phone");
  Device bob = h.Connect("bob", "phone");                   // node-1
  Device carol = h.ConnectTo(*node2, "carol", "phone");     // node-2
  Device bob2 = h.ConnectTo(*node2, "bob", "tablet");       // node-2
  h.Run();
  const GroupId group = h.Create(alice, "new-1", {"bob", "carol"});
  // The change event reaches node-2's devices through a wake-up signal.
  REQUIRE(RunUntil(h, [&] {
    return carol.Poll(), bob2.Poll(), !carol.Events().empty() && !bob2.Events().empty();
  }));

  alice.session->Typing("carol", "", true);
  REQUIRE(RunUntil(h, [&] { return !carol.All<TypingFrame>().empty() || (carol.Poll(), false); }));
  TypingFrame t = carol.All<TypingFrame>().front();
  CHECK(t.from == "alice");
  CHECK(t.group.empty());
  CHECK(t.on);

  carol.session->Typing("", group, true);
  REQUIRE(RunUntil(h, [&] {
    alice.Poll();
    bob.Poll();
    bob2.Poll();
    return !alice.All<TypingFrame>().empty() && !bob.All<TypingFrame>().empty() &&
           !bob2.All<TypingFrame>().empty();
  }));
  for (Device* d : {&alice, &bob, &bob2}) {
    REQUIRE(d->All<TypingFrame>().size() == 1);
    CHECK(d->All<TypingFrame>()[0].from == "carol");
    CHECK(d->All<TypingFrame>()[0].group == group);
  }
  CHECK(carol.All<TypingFrame>().size() == 1);  // only alice's, never her own

  // A group message from node-1 reaches node-2's members.
  alice.session->SendToGroup("m1", group, "across");
  REQUIRE(RunUntil(h, [&] {
    carol.Poll();
    bob2.Poll();
    auto has = [](const Device& d) {
      for (const Event& e : d.Events()) {
        if (e.kind == EventKind::kMessage && e.body == "across") return true;
      }
      return false;
    };
    return has(carol) && has(bob2);
  }));
  node2->Shutdown();
  h.Run();
}

TEST_CASE("Group: LeaveAllGroups leaves each group and tells the others", "[engine][group]") {
  People h;
  auto [alice, bob] = h.Online({{"alice", "phone"}, {"bob", "phone"}});
  const GroupId with_bob = h.Create(alice, "new-1", {"bob"});
  const GroupId alone = h.Create(alice, "new-2", {});
  Drop(alice, bob);

  std::optional<absl::Status> result;
  h.engine().LeaveAllGroups("alice", [&](absl::Status s) { result = s; });
  h.Run();
  REQUIRE(result.has_value());
  COURIER_REQUIRE_OK(*result);
  auto groups = h.store().GroupsOf("alice");
  COURIER_REQUIRE_OK(groups);
  CHECK(groups->empty());
  // bob was told, and became the admin of what is left.
  std::vector<Event> told = FreshEvents(bob, EventKind::kGroupChange);
  REQUIRE(told.size() == 1);
  auto change = DecodeGroupChange(told[0].body);
  COURIER_REQUIRE_OK(change);
  CHECK(change->action == GroupAction::kLeave);
  CHECK(change->members == std::vector<UserId>{"alice", "bob"});
  auto left = h.store().Group(with_bob);
  COURIER_REQUIRE_OK(left);
  CHECK(left->Find("bob")->role == GroupRole::kAdmin);
  // The group alice was alone in is gone.
  CHECK(GroupErrorOf(h.store().Group(alone).status()) == GroupError::kUnknownGroup);
  CHECK(h.engine().stats().group_changes == 2 + 2);

  // Again: nothing to leave.
  result.reset();
  h.engine().LeaveAllGroups("alice", [&](absl::Status s) { result = s; });
  h.Run();
  REQUIRE(result.has_value());
  COURIER_REQUIRE_OK(*result);

  // A store failure is reported.
  h.ChangeGroup(alice, "new-3", GroupAction::kCreate, "", {"bob"}, "three");
  h.faults().SetDown(true);
  result.reset();
  h.engine().LeaveAllGroups("alice", [&](absl::Status s) { result = s; });
  h.Run();
  REQUIRE(result.has_value());
  CHECK(absl::IsUnavailable(*result));
  h.faults().SetDown(false);
  result.reset();  // and called again, it resumes
  h.engine().LeaveAllGroups("alice", [&](absl::Status s) { result = s; });
  h.Run();
  REQUIRE(result.has_value());
  COURIER_REQUIRE_OK(*result);
  CHECK(h.store().GroupsOf("alice")->empty());
}

// Real threads (run under TSan in CI): members send to one group and type
// at once while acking; each gets every message once, in seq order without
// gaps and in each sender's order, and never its own typing.
TEST_CASE("Group: concurrent senders to one group on real threads lose and reorder nothing",
          "[engine][group][concurrency]") {
  constexpr int kUsers = 4;
  constexpr int kPerUser = 100;
  ThreadedEngine threaded(/*max_batch_ops=*/32);
  Engine& engine = threaded.engine();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);

  GroupId group;
  {
    auto transport = std::make_shared<memory::RecordingTransport>();
    auto setup = engine.Connect("u0", "setup", std::nullopt, transport);
    COURIER_REQUIRE_OK(setup);
    (*setup)->ChangeGroup("g", GroupAction::kCreate, "", {"u1", "u2", "u3"}, "all");
    while (group.empty() && std::chrono::steady_clock::now() < deadline) {
      for (ServerFrame& f : transport->Take()) {
        if (auto* ok = std::get_if<GroupOkFrame>(&f)) group = ok->group;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    (*setup)->Disconnect();
  }
  REQUIRE_FALSE(group.empty());

  std::atomic<int> typing_seen{0};
  ThreadedClients clients;
  clients.users = kUsers;
  clients.sends_per_user = kPerUser;
  clients.messages_per_user = kUsers * kPerUser;  // everyone's, their own included
  clients.deadline = deadline;
  clients.send = [&group](Session& session, int, int n) {
    if (n % 10 == 0) session.Typing("", group, true);
    session.SendToGroup(absl::StrCat("c", n), group, absl::StrCat(n));
  };
  clients.message_ok = [&group](const Event& e) { return e.group == group; };
  clients.typing_ok = [&](const TypingFrame& t, const UserId& me) {
    typing_seen.fetch_add(1);
    return t.from != me && t.group == group;
  };
  CHECK(clients.Run(engine));
  engine.Shutdown();
  const EngineStats stats = engine.stats();
  CHECK(stats.group_sends == kUsers * kPerUser);
  // Typing to a device that left meanwhile is counted but never seen.
  CHECK(typing_seen.load() > 0);
  CHECK(static_cast<std::uint64_t>(typing_seen.load()) <= stats.typing_relayed);
}

TEST_CASE("Engine::Create refuses bad group and typing options", "[engine][group]") {
  ManualClock clock;
  auto store = memory::OpenMessageStore();
  auto presence = memory::OpenPresenceStore(clock);
  auto contacts = MakeOpenPolicy();
  ManualExecutor executor;
  auto create = [&](EngineOptions o) {
    o.clock = &clock;
    o.commit_executor = &executor;
    o.delivery_executor = &executor;
    return Engine::Create(o, Engine::Deps{store.get(), presence.get(), contacts.get()});
  };
  auto refused = [&](auto mutate) {
    EngineOptions o;
    mutate(o);
    return absl::IsInvalidArgument(create(o).status());
  };
  CHECK(refused([](EngineOptions& o) { o.limits.max_group_members = 0; }));
  CHECK(refused([](EngineOptions& o) { o.limits.max_group_members = kMaxGroupMembers + 1; }));
  CHECK(refused([](EngineOptions& o) { o.limits.max_groups_per_user = 0; }));
  CHECK(refused([](EngineOptions& o) { o.limits.max_group_name_bytes = 0; }));
  CHECK(refused([](EngineOptions& o) { o.limits.typing_ttl_ms = 0; }));
  CHECK(refused([](EngineOptions& o) { o.typing_rate.period_ms = 0; }));
  EngineOptions fine;
  fine.limits.max_group_members = kMaxGroupMembers;
  auto engine = create(fine);
  COURIER_REQUIRE_OK(engine);
  (*engine)->Shutdown();
  executor.RunAll();
}

}  // namespace
}  // namespace courier::testing
