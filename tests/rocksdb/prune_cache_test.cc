// What Prune reads stays out of the block cache: the engine prunes at its
// first tick after every start, and a pass that filled the cache with every
// inbox's blocks pushed the connected users' blocks out (and was most of
// W4's figure on a store an earlier workload had filled: bench/README,
// twentieth session). A pass over table files leaves the cache as it found
// it and removes what the memory store removes.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "conformance/message_store_suite.h"
#include "courier/memory.h"
#include "courier/rocksdb.h"
#include "database.h"
#include "rocksdb/db.h"
#include "support/status_matchers.h"
#include "support/temp_dir.h"
#include "write_both.h"

namespace courier::rocksdb {
namespace {

namespace cases = ::courier::conformance::message_store_cases;
using ::courier::conformance::ValueOf;
using ::courier::testing::TempDir;

constexpr int kUsers = 120;

std::string User(int i) { return absl::StrCat("u", 100 + (i % kUsers)); }

// A message store, an account store and their database on one path.
struct Stores {
  explicit Stores(const RocksdbOptions& o) {
    auto m = OpenMessageStore(o);
    COURIER_REQUIRE_OK(m);
    messages = *std::move(m);
    auto a = OpenAccountStore(o);
    COURIER_REQUIRE_OK(a);
    accounts = *std::move(a);
    auto d = Database::Acquire(o);
    COURIER_REQUIRE_OK(d);
    db = *std::move(d);
  }
  // Every memtable into a table file.
  void Flush() {
    ::rocksdb::FlushOptions wait;
    REQUIRE(db->db()->Flush(wait, {db->inbox(), db->accounts()}).ok());
  }
  std::size_t CacheBytes() const { return db->block_cache()->GetUsage(); }

  std::unique_ptr<MessageStore> messages;
  std::unique_ptr<AccountStore> accounts;
  std::shared_ptr<Database> db;
};

RocksdbOptions Options(const TempDir& dir) {
  RocksdbOptions o = RocksdbOptions::Durable(dir.File("db"));
  o.write_buffer_bytes = 4 << 20;  // no flush but the test's own
  return o;
}

// Phase `p` of the keys every user gets: in phase 0 an account, a device, a
// cursor and (every tenth user) a group; in each phase a message from the
// next user, a read, a revoked token, a friend request; in phase 1 an ack of
// the even users' inboxes, in phase 2 a group message.
void Phase(int p, MessageStore& rocks, MessageStore& mem, AccountStore& accounts,
           AccountStore& mem_accounts) {
  std::vector<WriteOp> ops;
  for (int i = 0; p == 0 && i < kUsers; ++i) {
    for (AccountStore* a : {&accounts, &mem_accounts}) {
      COURIER_REQUIRE_OK(a->CreateUser(User(i), "hash", 1));
      COURIER_REQUIRE_OK(a->RecordDevice(User(i), "phone", 5));
    }
  }
  for (int i = 0; i < kUsers; ++i) {
    const std::string u = User(i);
    if (p == 0) {
      ops.push_back(cases::Attach(u, "phone"));
      if (i % 10 == 0) {
        ops.push_back(cases::CreateGroup(u, "g" + u, {User(i + 1), User(i + 2)}));
      }
    }
    const std::string cid = absl::StrCat("p", p, "-", i);
    ops.push_back(cases::Message(User(i + 1), cid, u, 1'000 * (p + 1) + i));
    if (i % 3 == p) ops.push_back(cases::Read(u, {cases::IdOf(User(i + 1), cid)}));
    if (p == 1 && i % 2 == 0) ops.push_back(cases::Ack(u, "phone", 2));
    if (p == 2 && i % 10 == 0) ops.push_back(cases::GroupMessage(u, "gm" + cid, "g" + u));
    for (AccountStore* a : {&accounts, &mem_accounts}) {
      COURIER_REQUIRE_OK(a->RevokeToken(u, absl::StrCat("t", p)));
      COURIER_REQUIRE_OK(a->RequestFriend(u, User(i + 3 + p)).status());
    }
  }
  WriteBoth(rocks, mem, ops);
}

TEST_CASE("rocksdb: a Prune pass leaves the block cache as it found it", "[rocksdb]") {
  TempDir dir;
  auto mem = memory::OpenMessageStore();
  {
    Stores s(Options(dir));
    auto mem_accounts = memory::OpenAccountStore();
    for (int p = 0; p < 3; ++p) Phase(p, *s.messages, *mem, *s.accounts, *mem_accounts);
    s.Flush();
  }
  Stores s(Options(dir));
  const std::size_t empty = s.CacheBytes();
  // Acked events older than 500 ms at 10,000 go: phase 1's acks passed two.
  const PruneOptions prune = cases::PruneAt(10'000, 500, 1'000'000);
  auto removed = s.messages->Prune(prune);
  auto want = mem->Prune(prune);
  COURIER_REQUIRE_OK(removed);
  COURIER_REQUIRE_OK(want);
  CHECK(*removed == *want);
  CHECK(*removed > 0);
  CHECK(s.CacheBytes() == empty);
  for (int i = 0; i < kUsers; ++i) {
    CHECK(cases::FetchAll(*s.messages, User(i)) == cases::FetchAll(*mem, User(i)));
  }
}

}  // namespace
}  // namespace courier::rocksdb
