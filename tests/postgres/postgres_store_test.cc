// courier::postgres beyond the conformance suite: several servers (one store
// instance each) sending to the same inboxes, reconnects, timeouts and
// schema versions, against COURIER_TEST_POSTGRES_URL.
#include "courier/postgres.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "conformance/several_servers.h"
#include "pg_schema.h"
#include "pg_test_database.h"
#include "support/status_matchers.h"

namespace courier::postgres::testing {
namespace {

using ::courier::testing::StatusIs;

AppendOp Send(const UserId& from, const std::string& cid, const UserId& to) {
  AppendOp op;
  op.sender = from;
  op.cid = cid;
  op.recipient = to;
  op.id = "id-" + from + "-" + cid;
  op.body = "body " + cid;
  op.ts = 1'000;
  return op;
}

TEST_CASE("PostgresMessageStore: several servers keep every inbox gapless and ordered",
          "[postgres][concurrency]") {
  // 6 + 1 appends per batch take the per-op path, 12 + 1 the set-based one
  // (adapters/postgres/src/pg_write_batch.h).
  const int kPerBatch = GENERATE(6, 12);
  TestSchema schema;
  const auto servers = OpenServers(schema, 4);  // contending for three counter rows
  auto reader = OpenOrDie(schema.Options());  // another "server", to read back
  conformance::several_servers::AppendToSharedInboxesAtOnce(servers, *reader, /*batches=*/15,
                                                            kPerBatch, kBatchAttempts);
}

TEST_CASE("PostgresMessageStore: several servers acking and reading one inbox give each receipt "
          "once",
          "[postgres][concurrency]") {
  // Runs of 2 go op by op, runs of 8 set-based (pg_write_batch.h); the
  // delivered status is derived from the highest cursor (schema version 8).
  const int run = GENERATE(2, 8);
  TestSchema schema;
  const auto servers = OpenServers(schema, 4);
  auto reader = OpenOrDie(schema.Options());
  conformance::several_servers::AckAndReadOneInboxAtOnce(servers, *reader, /*messages=*/60, run,
                                                         kBatchAttempts);
}

TEST_CASE("PostgresMessageStore: a connection killed by the server is replaced on next use",
          "[postgres]") {
  TestSchema schema;
  PostgresOptions options = schema.Options();
  options.pool_size = 1;
  auto store = OpenOrDie(options);
  COURIER_REQUIRE_OK(store->Head("alice"));

  AdminConnection admin;
  const std::string mine =
      "FROM pg_stat_activity WHERE application_name = '" + schema.name() + "'";
  // The schema's setup connection closes asynchronously: its backend may
  // still be listed for a moment (seen once under TSan: "2"). Wait for the
  // store's one pooled connection to be the only one, no fixed sleep.
  for (int i = 0; i < 600 && admin.Exec("SELECT count(*) " + mine) != "1"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(admin.Exec("SELECT count(*) " + mine) == "1");
  admin.Exec("SELECT pg_terminate_backend(pid) " + mine);
  // Wait (no fixed sleep) until the server has closed it.
  for (int i = 0; i < 600 && admin.Exec("SELECT count(*) " + mine) != "0"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(admin.Exec("SELECT count(*) " + mine) == "0");

  std::vector<WriteOp> ops = {Send("alice", "c1", "bob")};
  auto results = store->Write(ops);
  COURIER_REQUIRE_OK(results.at(0));
  CHECK(std::get<AppendResult>(*results[0]).seq == 1);
  COURIER_REQUIRE_OK(store->Ping());
}

TEST_CASE("PostgresMessageStore: a write blocked past the statement timeout is "
          "kDeadlineExceeded and writes nothing", "[postgres]") {
  TestSchema schema;
  PostgresOptions options = schema.Options();
  options.statement_timeout_ms = 300;
  options.call_timeout_ms = 30'000;
  auto store = OpenOrDie(options);
  std::vector<WriteOp> first = {Send("alice", "c1", "bob")};
  auto first_results = store->Write(first);
  COURIER_REQUIRE_OK(first_results.at(0));

  // Another session holds bob's counter row for the whole call.
  AdminConnection admin;
  admin.Exec("SET search_path = " + schema.name());
  admin.Exec("BEGIN");
  admin.Exec("SELECT head FROM courier_heads WHERE user_id = 'bob' FOR UPDATE");
  std::vector<WriteOp> second = {Send("carol", "c1", "dave"), Send("alice", "c2", "bob")};
  auto results = store->Write(second);
  admin.Exec("ROLLBACK");
  REQUIRE(results.size() == 2);
  CHECK_THAT(results[0].status(), StatusIs(absl::StatusCode::kDeadlineExceeded));
  CHECK_THAT(results[1].status(), StatusIs(absl::StatusCode::kDeadlineExceeded));
  CHECK(*store->Head("bob") == 1);
  CHECK(*store->Head("dave") == 0);  // the whole batch rolled back
}

TEST_CASE("PostgresMessageStore: a schema newer than the build is kFailedPrecondition",
          "[postgres]") {
  TestSchema schema;
  { auto store = OpenOrDie(schema.Options()); }
  AdminConnection admin;
  admin.Exec("UPDATE " + schema.name() + ".courier_schema_version SET version = 999");
  CHECK_THAT(OpenMessageStore(schema.Options()).status(),
             StatusIs(absl::StatusCode::kFailedPrecondition));
  CHECK_THAT(OpenAccountStore(schema.Options()).status(),
             StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_CASE("PostgresMessageStore: bad ops fail alone, a reused id is kAlreadyExists",
          "[postgres]") {
  TestSchema schema;
  auto store = OpenOrDie(schema.Options());
  AppendOp bad_name = Send("alice", "c0", "bob");
  bad_name.recipient = "bad name";
  AppendOp bad_id = Send("alice", "c9", "bob");
  bad_id.id = "no spaces allowed";
  AppendOp reused = Send("alice", "c2", "bob");
  reused.id = Send("alice", "c1", "bob").id;
  // One batch: each op with the status it gets.
  const std::vector<std::pair<WriteOp, absl::StatusCode>> batch = {
      {bad_name, absl::StatusCode::kInvalidArgument},
      {Send("alice", "c1", "bob"), absl::StatusCode::kOk},
      {bad_id, absl::StatusCode::kInvalidArgument},
      {AttachOp{"bob", ""}, absl::StatusCode::kInvalidArgument},
      {AckOp{"bob", "phone", 99, 0}, absl::StatusCode::kOutOfRange},
      {reused, absl::StatusCode::kAlreadyExists},
  };
  std::vector<WriteOp> ops;
  for (const auto& [op, code] : batch) ops.push_back(op);
  auto results = store->Write(ops);
  REQUIRE(results.size() == ops.size());
  for (std::size_t i = 0; i < ops.size(); ++i) {
    INFO("op " << i);
    CHECK_THAT(results[i].status(), StatusIs(batch[i].second));
  }
  COURIER_REQUIRE_OK(results[1]);
  CHECK(std::get<AppendResult>(*results[1]).seq == 1);
  CHECK(*store->Head("bob") == 1);
  // Lookups refuse bad names rather than guessing.
  CHECK_THAT(store->Fetch("bad name", 0, 10).status(),
             StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(store->Fetch("bob", 0, 0).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_CASE("PostgresMessageStore: prune removes a backlog larger than one chunk", "[postgres]") {
  TestSchema schema;
  auto store = OpenOrDie(schema.Options());
  constexpr int kMessages = 5'100;  // one chunk is 5,000 events
  for (int done = 0; done < kMessages;) {
    std::vector<WriteOp> ops;
    for (int i = 0; i < 300 && done < kMessages; ++i, ++done) {
      ops.push_back(Send("alice", std::to_string(done), "bob"));
    }
    for (const auto& r : store->Write(ops)) COURIER_REQUIRE_OK(r);
  }
  PruneOptions prune;
  prune.now = 1'000 + prune.ttl_ms + 1;  // every event is past the TTL
  auto removed = store->Prune(prune);
  COURIER_REQUIRE_OK(removed);
  CHECK(*removed == static_cast<std::size_t>(kMessages));
  CHECK(store->Fetch("bob", 0, 10)->empty());
  CHECK(*store->Head("bob") == static_cast<Seq>(kMessages));  // seqs are never reused
  CHECK_THAT(store->Status("bob", "id-alice-0").status(),
             StatusIs(absl::StatusCode::kNotFound));
}

TEST_CASE("PostgresMessageStore: an older schema is upgraded on open and keeps its data",
          "[postgres]") {
  TestSchema schema;
  {
    auto store = OpenOrDie(schema.Options());
    std::vector<WriteOp> ops = {Send("alice", "c1", "bob")};
    auto results = store->Write(ops);
    COURIER_REQUIRE_OK(results.at(0));
  }
  AdminConnection admin;
  const std::string table = schema.name() + ".courier_schema_version";
  const std::string current = admin.Exec("SELECT version FROM " + table);
  REQUIRE(std::stoi(current) >= 2);
  admin.Exec("UPDATE " + table + " SET version = 1");
  auto store = OpenOrDie(schema.Options());
  CHECK(admin.Exec("SELECT version FROM " + table) == current);
  CHECK(*store->Head("bob") == 1);
  std::vector<WriteOp> ops = {Send("alice", "c1", "bob"), Send("alice", "c2", "bob")};
  auto results = store->Write(ops);
  COURIER_REQUIRE_OK(results.at(0));
  COURIER_REQUIRE_OK(results.at(1));
  CHECK(std::get<AppendResult>(*results[0]).duplicate);
  CHECK(std::get<AppendResult>(*results[1]).seq == 2);
}

// The indexes and collations of a version-4 database, made by taking a
// current one apart: as the migrations 0-4 made them.
void DowngradeToVersion4(AdminConnection& admin, const std::string& schema) {
  const std::string p = schema + ".courier_";
  admin.Exec("DROP INDEX " + p + "events_ts_brin");
  admin.Exec("CREATE INDEX courier_events_ts ON " + p + "events (ts)");
  admin.Exec("CREATE INDEX courier_messages_undelivered ON " + p +
             "messages (recipient, seq) WHERE status = 0");
  admin.Exec("ALTER TABLE " + p + "messages RESET (fillfactor)");
  admin.Exec("CREATE INDEX courier_messages_recipient_seq ON " + p + "messages (recipient, seq)");
  admin.Exec("DROP TABLE " + p + "early_reads");
  MoveSegmentsToEvents(admin, p);
  for (const char* column : {"heads.user_id", "devices.user_id", "devices.device_id",
                             "events.user_id", "messages.message_id", "messages.recipient",
                             "messages.sender"}) {
    const std::string c = column;
    const std::size_t dot = c.find('.');
    admin.Exec("ALTER TABLE " + p + c.substr(0, dot) + " ALTER COLUMN " + c.substr(dot + 1) +
               " TYPE text COLLATE \"default\"");
  }
  admin.Exec("UPDATE " + p + "schema_version SET version = 4");
}

TEST_CASE("PostgresMessageStore: a version-4 database is upgraded and delivers from its cursors",
          "[postgres]") {
  TestSchema schema;
  const std::string p = schema.name() + ".courier_";
  {
    auto store = OpenOrDie(schema.Options());
    std::vector<WriteOp> ops;
    for (int i = 0; i < 10; ++i) ops.push_back(Send("alice", std::to_string(i), "bob"));
    ops.push_back(AttachOp{"bob", "phone"});
    ops.push_back(AckOp{"bob", "phone", 4, 2'000});
    for (const auto& r : store->Write(ops)) COURIER_REQUIRE_OK(r);
  }
  AdminConnection admin;
  DowngradeToVersion4(admin, schema.name());
  const std::string version = "SELECT version FROM " + p + "schema_version";
  REQUIRE(admin.Exec(version) == "4");
  const std::string indexes = "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM "
                              "pg_indexes WHERE schemaname = '" + schema.name() +
                              "' AND indexname LIKE 'courier\\_%' AND "
                              "tablename IN ('courier_events', 'courier_messages')";
  REQUIRE(admin.Exec(indexes) ==
          "courier_events_pkey,courier_events_ts,courier_messages_pkey,"
          "courier_messages_recipient_seq,courier_messages_sender_cid,"
          "courier_messages_undelivered");

  auto store = OpenOrDie(schema.Options());
  CHECK(admin.Exec(version) == std::to_string(CurrentSchemaVersion()));
  CHECK(admin.Exec(indexes) ==
        "courier_events_pkey,courier_events_ts_brin,courier_messages_pkey,"
        "courier_messages_sender_cid");
  CHECK(admin.Exec("SELECT collation_name FROM information_schema.columns WHERE "
                   "table_schema = '" + schema.name() + "' AND table_name = 'courier_messages' "
                   "AND column_name = 'recipient'") == "C");
  auto events = store->Fetch("bob", 0, 20);
  COURIER_REQUIRE_OK(events);
  REQUIRE(events->size() == 10);
  CHECK(events->back().body == "body 9");
  CHECK(*store->Status("bob", "id-alice-3") == MessageStatus::kDelivered);
  CHECK(*store->Status("bob", "id-alice-4") == MessageStatus::kSent);
  CHECK(*store->Cursor("bob", "phone") == 4);

  // A second device's ack delivers the messages above the highest cursor
  // only (the first four have their receipts already), one op at a time
  // and as a set-based run.
  const bool set_based = GENERATE(false, true);
  std::vector<WriteOp> ops;
  ops.push_back(AttachOp{"bob", "laptop"});
  for (int i = 0; i < (set_based ? 8 : 1); ++i) ops.push_back(AckOp{"bob", "laptop", 7, 3'000});
  const auto results = store->Write(ops);
  for (const auto& r : results) COURIER_REQUIRE_OK(r);
  const auto& first = std::get<AckResult>(*results.at(1));
  REQUIRE(first.appended.size() == 3);
  CHECK(first.appended.front().event.id == "id-alice-4");
  CHECK(first.appended.back().event.id == "id-alice-6");
  for (std::size_t i = 2; i < results.size(); ++i) {
    CHECK(std::get<AckResult>(*results[i]).appended.empty());
  }
  CHECK(*store->Status("bob", "id-alice-6") == MessageStatus::kDelivered);
  CHECK(*store->Status("bob", "id-alice-7") == MessageStatus::kSent);
  // New messages continue the inbox's seqs.
  std::vector<WriteOp> more = {Send("alice", "10", "bob")};
  const auto sent = store->Write(more);
  COURIER_REQUIRE_OK(sent.at(0));
  CHECK(std::get<AppendResult>(*sent[0]).seq == 11);
}

// Version 8 derives the delivered status from the highest cursor; a
// message read before any ack covered it is listed in early_reads, which
// the upgrade from version 7 fills from the read messages above it (and
// version 9 moves the events into segments).
TEST_CASE("PostgresMessageStore: an early read of a version-7 database gets no second delivered "
          "receipt after the upgrade",
          "[postgres]") {
  TestSchema schema;
  const std::string p = schema.name() + ".courier_";
  const bool set_based = GENERATE(false, true);
  {
    auto store = OpenOrDie(schema.Options());
    std::vector<WriteOp> ops;
    for (int i = 0; i < 4; ++i) ops.push_back(Send("alice", std::to_string(i), "bob"));
    ops.push_back(AttachOp{"bob", "phone"});
    ops.push_back(AckOp{"bob", "phone", 1, 2'000});
    ops.push_back(ReadOp{"bob", {"id-alice-2"}, 2'500});  // seq 3: before delivery
    ops.push_back(ReadOp{"bob", {"id-alice-0"}, 2'600});  // seq 1: delivered already
    for (const auto& r : store->Write(ops)) COURIER_REQUIRE_OK(r);
  }
  AdminConnection admin;
  REQUIRE(admin.Exec("SELECT count(*) FROM " + p + "early_reads") == "1");
  // As version 7 left it: no early_reads rows, the (recipient, seq) index.
  admin.Exec("DELETE FROM " + p + "early_reads");
  admin.Exec("CREATE INDEX courier_messages_recipient_seq ON " + p + "messages (recipient, seq)");
  MoveSegmentsToEvents(admin, p);
  admin.Exec("UPDATE " + p + "schema_version SET version = 7");

  auto store = OpenOrDie(schema.Options());
  CHECK(admin.Exec("SELECT version FROM " + p + "schema_version") ==
        std::to_string(CurrentSchemaVersion()));
  CHECK(admin.Exec("SELECT string_agg(seq::text, ',') FROM " + p + "early_reads") == "3");
  CHECK(*store->Status("bob", "id-alice-1") == MessageStatus::kSent);
  CHECK(*store->Status("bob", "id-alice-2") == MessageStatus::kRead);
  std::vector<WriteOp> ops;
  for (int i = 0; i < (set_based ? 8 : 1); ++i) ops.push_back(AckOp{"bob", "phone", 4, 3'000});
  const auto results = store->Write(ops);
  for (const auto& r : results) COURIER_REQUIRE_OK(r);
  const auto& ack = std::get<AckResult>(*results.at(0));
  REQUIRE(ack.appended.size() == 2);  // seqs 2 and 4; 3 had its receipt with the read
  CHECK(ack.appended[0].event.id == "id-alice-1");
  CHECK(ack.appended[1].event.id == "id-alice-3");
  CHECK(admin.Exec("SELECT count(*) FROM " + p + "early_reads") == "0");
  CHECK(*store->Status("bob", "id-alice-3") == MessageStatus::kDelivered);
  CHECK(*store->Status("bob", "id-alice-2") == MessageStatus::kRead);
}

TEST_CASE("PostgresMessageStore: two stores with different table prefixes are separate",
          "[postgres]") {
  TestSchema schema;
  PostgresOptions a = schema.Options();
  PostgresOptions b = schema.Options();
  b.table_prefix = "other_";
  auto first = OpenOrDie(a);
  auto second = OpenOrDie(b);
  std::vector<WriteOp> ops = {Send("alice", "c1", "bob")};
  auto results = first->Write(ops);
  COURIER_REQUIRE_OK(results.at(0));
  CHECK(*first->Head("bob") == 1);
  CHECK(*second->Head("bob") == 0);
}

}  // namespace
}  // namespace courier::postgres::testing
