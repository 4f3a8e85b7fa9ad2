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
#include "conformance/several_servers.h"
#include "pg_schema.h"
#include "pg_test_database.h"
#include "support/status_matchers.h"

namespace courier::postgres::testing {
namespace {

using ::courier::conformance::several_servers::ChangeOfG;
using ::courier::conformance::several_servers::PostToG;

TEST_CASE("PostgresMessageStore: servers changing one group at once lose no member",
          "[postgres][concurrency][groups]") {
  TestSchema schema;
  const auto servers = OpenServers(schema, 4);  // every batch locks the one group row
  auto reader = OpenOrDie(schema.Options());
  conformance::several_servers::ChangeOneGroupAtOnce(servers, *reader, /*adds=*/12,
                                                     kBatchAttempts);
}

// The tables of a version-3 database (before groups), made by taking a
// current one apart: the same tables as the migrations 0-3 made them.
void DowngradeToVersion3(AdminConnection& admin, const std::string& schema) {
  const std::string p = schema + ".courier_";
  MoveSegmentsToEvents(admin, p);
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
    AppendOp a = conformance::message_store_cases::Message("alice", "c1", "bob", 500, "hello");
    a.id = "one-to-one";
    const std::vector<WriteOp> ops = {a};
    const auto results = store->Write(ops);
    COURIER_REQUIRE_OK(results.at(0));
  }
  AdminConnection admin;
  DowngradeToVersion3(admin, schema.name());
  const std::string version = "SELECT version FROM " + schema.name() + ".courier_schema_version";
  REQUIRE(admin.Exec(version) == "3");

  auto store = OpenOrDie(schema.Options());
  CHECK(admin.Exec(version) == std::to_string(CurrentSchemaVersion()));
  auto before = store->Fetch("bob", 0, 10);
  COURIER_REQUIRE_OK(before);
  REQUIRE(before->size() == 1);
  CHECK(before->front().body == "hello");
  CHECK(before->front().group.empty());
  CHECK(*store->Status("bob", "one-to-one") == MessageStatus::kSent);

  // Groups work on the upgraded tables; a (sender, cid) from before is a
  // duplicate for a group send too.
  std::vector<WriteOp> ops = {ChangeOfG(GroupAction::kCreate, "alice", {"bob"}, "create"),
                              PostToG("alice", "c1"), PostToG("alice", "c2"),
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
}  // namespace courier::postgres::testing
