// courier::mongo against a real MongoDB named by MONGODB_URI (a replica set
// for transactions; see adapters/mongo/README.md): the conformance suites,
// and several store instances (servers) sending to the same inboxes. Each
// test case uses its own database, dropped afterwards.
#include "courier/mongo.h"

#include <mongoc/mongoc.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "conformance/account_store_suite.h"
#include "courier/group.h"
#include "conformance/message_store_suite.h"
#include "conformance/several_servers.h"
#include "support/status_matchers.h"

namespace courier::mongo {
namespace {

std::string NewDatabaseName() {
  static std::atomic<int> counter{0};
  return "courier_test_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
}

MongoOptions Options(const std::string& database) {
  MongoOptions o;
  const char* uri = std::getenv("MONGODB_URI");
  o.uri = uri ? uri : "";
  o.database = database;
  return o;
}

void DropDatabase(const std::string& name) {
  mongoc_client_t* client = mongoc_client_new(Options(name).uri.c_str());
  if (client == nullptr) return;
  mongoc_database_t* db = mongoc_client_get_database(client, name.c_str());
  bson_error_t error;
  mongoc_database_drop(db, &error);
  mongoc_database_destroy(db);
  mongoc_client_destroy(client);
}

template <class Store>
std::unique_ptr<conformance::StoreFixture<Store>> Fixture(
    absl::StatusOr<std::unique_ptr<Store>> (*open)(const MongoOptions&)) {
  const std::string name = NewDatabaseName();
  return conformance::MakeFixture<Store>([open, name] { return open(Options(name)); },
                                         [name] { DropDatabase(name); });
}

std::unique_ptr<conformance::StoreFixture<MessageStore>> MessageFixture() {
  return Fixture<MessageStore>(&OpenMessageStore);
}
std::unique_ptr<conformance::StoreFixture<AccountStore>> AccountFixture() {
  return Fixture<AccountStore>(&OpenAccountStore);
}

COURIER_MESSAGE_STORE_CONFORMANCE("mongo", MessageFixture)
COURIER_MESSAGE_STORE_DURABILITY_CONFORMANCE("mongo", MessageFixture)
COURIER_ACCOUNT_STORE_CONFORMANCE("mongo", AccountFixture)
COURIER_ACCOUNT_STORE_DURABILITY_CONFORMANCE("mongo", AccountFixture)

// `n` MessageStore instances (servers) on one database of their own,
// dropped afterwards. Their tests write with WriteRetryingConflicts, as
// the commit queue does, with many attempts (kAttempts) for heavy
// contention.
struct Servers {
  explicit Servers(int n) {
    MongoOptions options = Options(name);
    options.pool_size = 2;
    for (int s = 0; s < n; ++s) {
      auto store = OpenMessageStore(options);
      COURIER_REQUIRE_OK(store);
      stores.push_back(std::move(store).value());
    }
  }
  ~Servers() {
    stores.clear();
    DropDatabase(name);
  }
  static constexpr int kAttempts = 50;
  const std::string name = NewDatabaseName();
  std::vector<std::unique_ptr<MessageStore>> stores;
};

TEST_CASE("MongoMessageStore: several servers keep every inbox gapless and ordered",
          "[mongo][concurrency]") {
  Servers cluster(4);
  conformance::several_servers::AppendToSharedInboxesAtOnce(
      cluster.stores, *cluster.stores[0], /*batches=*/10, /*per_batch=*/5, Servers::kAttempts);
}

// Issue 17: several servers create one group at once (one wins), then add
// members and post to it at once. With transactions a conflicting batch
// is answered kAborted and written again, as the commit queue does; without,
// a change that lost the group's compare-and-set reads and plans again
// (still kAborted after that, it is written again the same way). No member is lost, and every post and change
// reaches the admin's inbox exactly once.
TEST_CASE("MongoMessageStore: servers changing one group at once lose no member",
          "[mongo][concurrency][groups]") {
  Servers cluster(4);
  conformance::several_servers::ChangeOneGroupAtOnce(cluster.stores, *cluster.stores[2],
                                                     /*adds=*/6, Servers::kAttempts);
}

// A MessageStore on a database of its own, dropped afterwards.
struct OwnDatabase {
  OwnDatabase() {
    auto opened = OpenMessageStore(Options(name));
    COURIER_REQUIRE_OK(opened);
    store = std::move(opened).value();
  }
  ~OwnDatabase() {
    store.reset();
    DropDatabase(name);
  }
  const std::string name = NewDatabaseName();
  std::unique_ptr<MessageStore> store;
};

// How many commands the server ran on `database` so far: mini_mongod's
// test-only miniCommandCount (a real server has no such command: this case
// is hidden, run only on the emulator by tests/mongo/CMakeLists.txt).
std::int64_t CommandCount(const std::string& database) {
  mongoc_client_t* client = mongoc_client_new(Options(database).uri.c_str());
  REQUIRE(client != nullptr);
  bson_t cmd = BSON_INITIALIZER, reply;
  BSON_APPEND_INT32(&cmd, "miniCommandCount", 1);
  bson_error_t error;
  const bool ok =
      mongoc_client_command_simple(client, database.c_str(), &cmd, nullptr, &reply, &error);
  std::int64_t n = -1;
  bson_iter_t it;
  if (ok && bson_iter_init_find(&it, &reply, "n")) n = bson_iter_as_int64(&it);
  bson_destroy(&reply);
  bson_destroy(&cmd);
  mongoc_client_destroy(client);
  INFO(error.message);
  REQUIRE(ok);
  return n;
}

TEST_CASE("MongoMessageStore: a batch costs a few commands per inbox, not per message",
          "[.][emulator]") {
  OwnDatabase db;
  const std::string& name = db.name;
  MessageStore& store = *db.store;
  int next_cid = 0;
  // `n` appends spread over `inboxes` recipients; returns the batch's
  // commands (and checks every append stored).
  auto batch_cost = [&](int n, int inboxes) {
    std::vector<WriteOp> batch;
    for (int i = 0; i < n; ++i) {
      AppendOp op;
      op.sender = absl::StrCat("s", i % 7);
      op.cid = std::to_string(next_cid++);
      op.recipient = absl::StrCat("r", i % inboxes);
      op.id = absl::StrCat("id-", op.cid);
      op.body = "body";
      op.ts = 1'000;
      batch.push_back(op);
    }
    const std::int64_t before = CommandCount(name);
    const absl::Time start = absl::Now();
    auto results = store.Write(batch);
    const double ms = absl::ToDoubleMilliseconds(absl::Now() - start);
    const std::int64_t cost = CommandCount(name) - before;
    REQUIRE(results.size() == batch.size());
    for (const auto& r : results) {
      COURIER_REQUIRE_OK(r);
      CHECK_FALSE(std::get<AppendResult>(*r).duplicate);
    }
    std::printf("mongo batch: %d appends to %d inboxes: %lld commands, %.1f ms\n", n, inboxes,
                static_cast<long long>(cost), ms);
    return cost;
  };
  // Fixed costs (two finds, the claims or the messages, their seqs, the
  // events) plus one findAndModify per inbox.
  const std::int64_t first = batch_cost(100, 10);
  CHECK(first <= 10 + 6);
  CHECK(batch_cost(100, 10) == first);
  CHECK(batch_cost(20, 10) == first);
  CHECK(batch_cost(400, 10) == first);
  CHECK(batch_cost(100, 1) <= 1 + 6);
  // Every inbox is gapless: r0..r9 got 62 appends each, in order.
  for (int r = 0; r < 10; ++r) {
    auto events = store.Fetch(absl::StrCat("r", r), 0, 1'000);
    COURIER_REQUIRE_OK(events);
    const std::size_t expected = r == 0 ? 62 + 100 : 62;
    REQUIRE(events->size() == expected);
    for (std::size_t i = 0; i < events->size(); ++i) CHECK((*events)[i].seq == i + 1);
  }
  // A batch of duplicates costs one find and no writes.
  std::vector<WriteOp> again;
  for (int i = 0; i < 100; ++i) {
    AppendOp op;
    op.sender = absl::StrCat("s", i % 7);
    op.cid = std::to_string(i);
    op.recipient = absl::StrCat("r", i % 10);
    op.id = absl::StrCat("id-", op.cid);
    again.push_back(op);
  }
  const std::int64_t before = CommandCount(name);
  for (const auto& r : store.Write(again)) {
    COURIER_REQUIRE_OK(r);
    CHECK(std::get<AppendResult>(*r).duplicate);
  }
  CHECK(CommandCount(name) - before == 1);
}

// Issue 17: a group change or send costs a few commands plus one
// findAndModify per inbox it appends to (the seq), whatever else it does.
TEST_CASE("MongoMessageStore: a group op costs a few commands plus one per inbox",
          "[.][emulator]") {
  OwnDatabase db;
  MessageStore& store = *db.store;
  constexpr int kMembers = 64;
  std::vector<UserId> members;
  for (int i = 1; i < kMembers; ++i) members.push_back(absl::StrCat("m", i));
  const GroupChangeOp create =
      conformance::message_store_cases::CreateGroup("admin", "g", std::move(members), 1'000, "big");
  GroupSendOp send = conformance::message_store_cases::GroupMessage("admin", "c1", "g", 2'000);
  send.id = "post";
  auto cost = [&](const WriteOp& op, const char* what) {
    const std::int64_t before = CommandCount(db.name);
    const absl::Time start = absl::Now();
    auto results = store.Write(absl::MakeConstSpan(&op, 1));
    const double ms = absl::ToDoubleMilliseconds(absl::Now() - start);
    const std::int64_t n = CommandCount(db.name) - before;
    COURIER_REQUIRE_OK(results.at(0));
    std::printf("mongo %s to %d members: %lld commands, %.1f ms\n", what, kMembers,
                static_cast<long long>(n), ms);
    return n;
  };
  CHECK(cost(create, "group create") <= kMembers + 6);
  CHECK(cost(send, "group send") <= kMembers + 10);
  auto got = store.Fetch("m63", 0, 10);
  COURIER_REQUIRE_OK(got);
  REQUIRE(got->size() == 2);
  CHECK(got->back().id == "post");
  // A retried send is one find.
  const std::int64_t before = CommandCount(db.name);
  auto again = store.Write(absl::MakeConstSpan(std::vector<WriteOp>{send}));
  COURIER_REQUIRE_OK(again.at(0));
  CHECK(std::get<GroupSendResult>(*again[0]).duplicate);
  CHECK(CommandCount(db.name) - before == 1);
}

TEST_CASE("MongoMessageStore: bad ops fail alone, a reused id is kAlreadyExists", "[mongo]") {
  OwnDatabase db;
  MessageStore& store = *db.store;
  auto send = [](const std::string& cid) {
    return conformance::message_store_cases::Message("alice", cid, "bob", 1'000, "hi");
  };
  AppendOp bad_name = send("c0");
  bad_name.recipient = "bad name";
  AppendOp reused = send("c2");
  reused.id = send("c1").id;
  std::vector<WriteOp> ops = {bad_name, send("c1"), AttachOp{"bob", ""},
                              AckOp{"bob", "phone", 99, 0}, reused};
  auto results = store.Write(ops);
  REQUIRE(results.size() == ops.size());
  using ::courier::testing::StatusIs;
  CHECK_THAT(results[0].status(), StatusIs(absl::StatusCode::kInvalidArgument));
  COURIER_REQUIRE_OK(results[1]);
  CHECK(std::get<AppendResult>(*results[1]).seq == 1);
  CHECK_THAT(results[2].status(), StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(results[3].status(), StatusIs(absl::StatusCode::kOutOfRange));
  CHECK_THAT(results[4].status(), StatusIs(absl::StatusCode::kAlreadyExists));
  CHECK(*store.Head("bob") == 1);
  CHECK_THAT(store.Fetch("bob", 0, 0).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace courier::mongo
