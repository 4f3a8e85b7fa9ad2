// Groups in courier::postgres beyond the conformance suite (issue 17):
// several servers (one store instance each) changing and sending to one
// group at once, and the upgrade of a database from before groups, against
// COURIER_TEST_POSTGRES_URL.
#include "courier/postgres.h"

#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "courier/group.h"
#include "pg_test_database.h"
#include "support/status_matchers.h"

namespace courier::postgres {
namespace {

using ::courier::postgres::testing::AdminConnection;
using ::courier::postgres::testing::TestSchema;

std::unique_ptr<MessageStore> OpenOrDie(const PostgresOptions& options) {
  auto store = OpenMessageStore(options);
  COURIER_REQUIRE_OK(store);
  return std::move(store).value();
}

GroupChangeOp Change(GroupAction action, const UserId& actor, std::vector<UserId> members,
                     const std::string& id) {
  GroupChangeOp op;
  op.action = action;
  op.actor = actor;
  op.group = "g";
  op.members = std::move(members);
  if (action == GroupAction::kCreate) op.name = "the group";
  op.id = id;
  op.ts = 1'000;
  op.limits.max_members = kMaxGroupMembers;
  return op;
}

GroupSendOp Post(const UserId& sender, const std::string& cid) {
  GroupSendOp op;
  op.sender = sender;
  op.cid = cid;
  op.group = "g";
  op.id = "id-" + sender + "-" + cid;
  op.body = "body " + cid;
  op.ts = 2'000;
  return op;
}

TEST_CASE("PostgresMessageStore: servers changing one group at once lose no member",
          "[postgres][concurrency][groups]") {
  TestSchema schema;
  constexpr int kServers = 4;
  constexpr int kAdds = 12;
  PostgresOptions options = schema.Options();
  options.pool_size = 2;
  std::vector<std::unique_ptr<MessageStore>> servers;
  for (int s = 0; s < kServers; ++s) servers.push_back(OpenOrDie(options));

  // Every server creates the same group at once: one wins.
  std::vector<absl::StatusOr<WriteResult>> created(kServers, absl::InternalError("not run"));
  {
    std::vector<std::thread> threads;
    for (int s = 0; s < kServers; ++s) {
      threads.emplace_back([&, s] {
        const std::vector<WriteOp> ops = {
            Change(GroupAction::kCreate, "admin", {}, "create-" + std::to_string(s))};
        // Conflicts retried as the commit queue does, with many attempts:
        // every batch locks the one group row.
        created[s] = std::move(WriteRetryingConflicts(*servers[s], ops, 20)[0]);
      });
    }
    for (auto& t : threads) t.join();
  }
  int won = 0;
  for (const auto& r : created) {
    if (r.ok()) {
      ++won;
    } else {
      CHECK(GroupErrorOf(r.status()) == GroupError::kGroupExists);
    }
  }
  REQUIRE(won == 1);

  // Then each adds its own users one batch at a time, and the admin posts
  // from every server in the same batches.
  std::vector<std::vector<absl::StatusOr<WriteResult>>> results(kServers);
  std::vector<std::thread> threads;
  for (int s = 0; s < kServers; ++s) {
    threads.emplace_back([&, s] {
      for (int i = 0; i < kAdds; ++i) {
        const std::string n = absl::StrCat(s, "-", i);
        const std::vector<WriteOp> ops = {Change(GroupAction::kAdd, "admin", {"u" + n}, "add-" + n),
                                          Post("admin", "post-" + n)};
        for (auto& r : WriteRetryingConflicts(*servers[s], ops, 20)) {
          results[s].push_back(std::move(r));
        }
      }
    });
  }
  for (auto& t : threads) t.join();

  std::set<UserId> added = {"admin"};
  for (int s = 0; s < kServers; ++s) {
    for (const auto& r : results[s]) COURIER_REQUIRE_OK(r);
    for (int i = 0; i < kAdds; ++i) added.insert(absl::StrCat("u", s, "-", i));
  }
  auto reader = OpenOrDie(schema.Options());
  auto group = reader->Group("g");
  COURIER_REQUIRE_OK(group);
  std::set<UserId> members;
  for (const GroupMember& m : group->members) members.insert(m.user);
  CHECK(members == added);
  CHECK(group->version == 1 + kServers * kAdds);
  for (const UserId& u : added) {
    INFO(u);
    auto mine = reader->GroupsOf(u);
    COURIER_REQUIRE_OK(mine);
    REQUIRE(mine->size() == 1);
    CHECK((*mine)[0] == *group);
  }

  // The admin's inbox: the create, every add and every post, gapless.
  auto events = reader->Fetch("admin", 0, 100'000);
  COURIER_REQUIRE_OK(events);
  REQUIRE(events->size() == static_cast<std::size_t>(1 + 2 * kServers * kAdds));
  for (std::size_t i = 0; i < events->size(); ++i) REQUIRE((*events)[i].seq == i + 1);

  // Each added user: its own add first, then exactly the posts (and adds)
  // the admin stored after it joined, in the admin's order.
  std::vector<MessageId> admin_order;
  for (const Event& e : *events) admin_order.push_back(e.id);
  for (const UserId& u : added) {
    if (u == "admin") continue;
    INFO(u);
    auto got = reader->Fetch(u, 0, 100'000);
    COURIER_REQUIRE_OK(got);
    REQUIRE_FALSE(got->empty());
    const Event& joined = got->front();
    CHECK(joined.kind == EventKind::kGroupChange);
    CHECK(joined.group == "g");
    CHECK(joined.id == "add-" + u.substr(1));
    std::size_t at = 0;
    while (admin_order[at] != joined.id) ++at;
    std::vector<MessageId> want(admin_order.begin() + static_cast<std::ptrdiff_t>(at),
                                admin_order.end());
    std::vector<MessageId> have;
    for (const Event& e : *got) have.push_back(e.id);
    CHECK(have == want);
  }
}

// The tables of a version-3 database (before groups), made by taking a
// current one apart: the same tables as the migrations 0-3 made them.
void DowngradeToVersion3(AdminConnection& admin, const std::string& schema) {
  const std::string p = schema + ".courier_";
  admin.Exec("DROP TABLE " + p + "groups");
  admin.Exec("DROP TABLE " + p + "group_members");
  admin.Exec("ALTER TABLE " + p + "events DROP COLUMN group_id");
  admin.Exec("ALTER TABLE " + p + "messages DROP CONSTRAINT courier_messages_pkey");
  admin.Exec("ALTER TABLE " + p + "messages ADD PRIMARY KEY (message_id)");
  admin.Exec("ALTER TABLE " + p + "messages ALTER COLUMN cid SET NOT NULL");
  admin.Exec("UPDATE " + p + "schema_version SET version = 3");
}

TEST_CASE("PostgresMessageStore: a database from before groups is upgraded and keeps its data",
          "[postgres][groups]") {
  TestSchema schema;
  {
    auto store = OpenOrDie(schema.Options());
    AppendOp a;
    a.sender = "alice";
    a.cid = "c1";
    a.recipient = "bob";
    a.id = "one-to-one";
    a.body = "hello";
    a.ts = 500;
    const std::vector<WriteOp> ops = {a};
    const auto results = store->Write(ops);
    COURIER_REQUIRE_OK(results.at(0));
  }
  AdminConnection admin;
  DowngradeToVersion3(admin, schema.name());
  const std::string version = "SELECT version FROM " + schema.name() + ".courier_schema_version";
  REQUIRE(admin.Exec(version) == "3");

  auto store = OpenOrDie(schema.Options());
  CHECK(admin.Exec(version) == "4");
  auto before = store->Fetch("bob", 0, 10);
  COURIER_REQUIRE_OK(before);
  REQUIRE(before->size() == 1);
  CHECK(before->front().body == "hello");
  CHECK(before->front().group.empty());
  CHECK(*store->Status("bob", "one-to-one") == MessageStatus::kSent);

  // Groups work on the upgraded tables; a (sender, cid) from before is a
  // duplicate for a group send too.
  std::vector<WriteOp> ops = {Change(GroupAction::kCreate, "alice", {"bob"}, "create"),
                              Post("alice", "c1"), Post("alice", "c2"),
                              AckOp{"bob", "phone", 3, 3'000}};
  auto results = store->Write(ops);
  for (const auto& r : results) COURIER_REQUIRE_OK(r);
  CHECK(std::get<GroupSendResult>(*results[1]).duplicate);
  const auto& sent = std::get<GroupSendResult>(*results[2]);
  CHECK_FALSE(sent.duplicate);
  CHECK(sent.recipients == 2);
  // bob's ack covers the 1:1 message, the create and the group copy: two
  // receipts, none for the change event.
  const auto& ack = std::get<AckResult>(*results[3]);
  REQUIRE(ack.appended.size() == 2);
  CHECK(ack.appended[0].event.id == "one-to-one");
  CHECK(ack.appended[1].event.id == sent.id);
  auto bob = store->Fetch("bob", 0, 10);
  COURIER_REQUIRE_OK(bob);
  REQUIRE(bob->size() == 3);
  CHECK((*bob)[1].kind == EventKind::kGroupChange);
  CHECK((*bob)[2].group == "g");
  CHECK(*store->Status("bob", sent.id) == MessageStatus::kDelivered);
  CHECK(*store->Status("alice", sent.id) == MessageStatus::kRead);
}

}  // namespace
}  // namespace courier::postgres
