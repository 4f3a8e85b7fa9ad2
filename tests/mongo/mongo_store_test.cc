// courier::mongo against a real MongoDB named by MONGODB_URI (a replica set
// for transactions; see adapters/mongo/README.md): the conformance suites,
// and several store instances (servers) sending to the same inboxes. Each
// test case uses its own database, dropped afterwards.
#include "courier/mongo.h"

#include <mongoc/mongoc.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "conformance/account_store_suite.h"
#include "conformance/message_store_suite.h"
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

TEST_CASE("MongoMessageStore: several servers keep every inbox gapless and ordered",
          "[mongo][concurrency]") {
  const std::string name = NewDatabaseName();
  struct Drop {
    std::string name;
    ~Drop() { DropDatabase(name); }
  } drop{name};
  constexpr int kServers = 4;
  constexpr int kBatches = 10;
  constexpr int kPerBatch = 5;
  const std::vector<UserId> recipients = {"r0", "r1", "r2"};
  MongoOptions options = Options(name);
  options.pool_size = 2;
  options.max_batch_attempts = 50;  // heavy contention on three counters
  std::vector<std::unique_ptr<MessageStore>> servers;
  for (int s = 0; s < kServers; ++s) {
    auto store = OpenMessageStore(options);
    COURIER_REQUIRE_OK(store);
    servers.push_back(std::move(store).value());
  }
  std::vector<std::vector<absl::StatusOr<WriteResult>>> results(kServers);
  std::vector<std::thread> threads;
  for (int s = 0; s < kServers; ++s) {
    threads.emplace_back([&, s] {
      const UserId sender = "s" + std::to_string(s);
      for (int b = 0; b < kBatches; ++b) {
        std::vector<WriteOp> batch;
        for (int i = 0; i < kPerBatch; ++i) {
          const int n = b * kPerBatch + i;
          AppendOp op;
          op.sender = sender;
          op.cid = std::to_string(n);
          op.recipient = recipients[(n + s) % 3];
          op.id = "id-" + sender + "-" + op.cid;
          op.body = "body";
          op.ts = 1'000;
          batch.push_back(op);
        }
        AppendOp shared;
        shared.sender = "shared";
        shared.cid = std::to_string(b);
        shared.recipient = recipients[b % 3];
        shared.id = "id-shared-" + shared.cid;
        shared.ts = 1'000;
        batch.push_back(shared);
        for (auto& r : servers[s]->Write(batch)) results[s].push_back(std::move(r));
      }
    });
  }
  for (auto& t : threads) t.join();
  int fresh_shared = 0;
  for (const auto& per_server : results) {
    for (const auto& r : per_server) {
      COURIER_REQUIRE_OK(r);
      const auto& a = std::get<AppendResult>(*r);
      if (a.id.rfind("id-shared-", 0) == 0 && !a.duplicate) ++fresh_shared;
    }
  }
  CHECK(fresh_shared == kBatches);
  std::size_t total = 0;
  for (const UserId& r : recipients) {
    auto events = servers[0]->Fetch(r, 0, 100'000);
    COURIER_REQUIRE_OK(events);
    std::set<MessageId> ids;
    std::map<UserId, int> last_n;
    for (std::size_t i = 0; i < events->size(); ++i) {
      const Event& e = (*events)[i];
      REQUIRE(e.seq == i + 1);
      REQUIRE(ids.insert(e.id).second);
      const int n = std::stoi(e.id.substr(e.id.rfind('-') + 1));
      auto [it, fresh] = last_n.emplace(e.peer, n);
      if (!fresh) {
        CHECK(n > it->second);
        it->second = n;
      }
    }
    total += events->size();
  }
  CHECK(total == static_cast<std::size_t>(kServers * kBatches * kPerBatch + kBatches));
}

TEST_CASE("MongoMessageStore: bad ops fail alone, a reused id is kAlreadyExists", "[mongo]") {
  const std::string name = NewDatabaseName();
  struct Drop {
    std::string name;
    ~Drop() { DropDatabase(name); }
  } drop{name};
  auto opened = OpenMessageStore(Options(name));
  COURIER_REQUIRE_OK(opened);
  MessageStore& store = **opened;
  auto send = [](const std::string& cid) {
    AppendOp op;
    op.sender = "alice";
    op.cid = cid;
    op.recipient = "bob";
    op.id = "id-alice-" + cid;
    op.body = "hi";
    op.ts = 1'000;
    return op;
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

COURIER_MESSAGE_STORE_CONFORMANCE("mongo", courier::mongo::MessageFixture)
COURIER_MESSAGE_STORE_DURABILITY_CONFORMANCE("mongo", courier::mongo::MessageFixture)
COURIER_ACCOUNT_STORE_CONFORMANCE("mongo", courier::mongo::AccountFixture)
COURIER_ACCOUNT_STORE_DURABILITY_CONFORMANCE("mongo", courier::mongo::AccountFixture)
