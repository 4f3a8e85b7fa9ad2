// courier::rocksdb beyond the conformance suites: what is written per
// operation, pruning by range deletion and the compaction filter, the
// messages an ack reads back after the cache forgot them, the directories it
// refuses, one database shared by both stores, bad options, and the keys of
// groups.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "conformance/message_store_suite.h"
#include "courier/memory.h"
#include "cache_probe.h"
#include "courier/rocksdb.h"
#include "database.h"
#include "keys.h"
#include "rocksdb/db.h"
#include "support/status_matchers.h"
#include "support/temp_dir.h"
#include "write_both.h"

namespace courier::rocksdb {
namespace {

using ::courier::conformance::message_store_cases::CreateGroup;
using ::courier::conformance::message_store_cases::Expect;
using ::courier::conformance::message_store_cases::FetchAll;
using ::courier::conformance::message_store_cases::GroupIdsOf;
using ::courier::conformance::message_store_cases::GroupMessage;
using ::courier::conformance::message_store_cases::IdOf;
using ::courier::testing::StatusIs;
using ::courier::testing::TempDir;

AppendOp Message(const std::string& from, const std::string& cid, const std::string& to,
                 TimeMs ts = 1'000) {
  AppendOp op;
  op.sender = from;
  op.cid = cid;
  op.recipient = to;
  op.id = from + "-" + cid;
  op.body = "hello";
  op.ts = ts;
  return op;
}

AckOp Ack(const std::string& user, const std::string& device, Seq seq, TimeMs ts = 2'000) {
  return AckOp{user, device, seq, ts};
}

RocksdbOptions Options(const TempDir& dir) {
  RocksdbOptions o = RocksdbOptions::Durable(dir.File("db"));
  o.write_buffer_bytes = 1 << 20;
  return o;
}

std::unique_ptr<MessageStore> MustOpen(const RocksdbOptions& options) {
  auto store = OpenMessageStore(options);
  COURIER_REQUIRE_OK(store);
  return *std::move(store);
}

// Every key of the inbox family, counted by its first byte.
std::map<char, int> KeysBySpace(Database& db) {
  std::map<char, int> out;
  std::unique_ptr<::rocksdb::Iterator> it(db.db()->NewIterator(::rocksdb::ReadOptions(), db.inbox()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++out[it->key()[0]];
  REQUIRE(it->status().ok());
  return out;
}

std::shared_ptr<Database> SameDatabase(const RocksdbOptions& options) {
  auto db = Database::Acquire(options);
  COURIER_REQUIRE_OK(db);
  return *db;
}

// Writes `key` = `value` into `family` behind the store's back, synced.
void PutSynced(Database& db, ::rocksdb::ColumnFamilyHandle* family, const std::string& key,
               const std::string& value) {
  ::rocksdb::WriteOptions sync;
  sync.sync = true;
  REQUIRE(db.db()->Put(sync, family, key, value).ok());
}

// A message store on a fresh directory, and the database under it whose keys
// a test counts.
struct StoreOnDisk {
  // Closes the store and the database, to open them again.
  void Close() {
    store.reset();
    db.reset();
  }

  TempDir dir;
  std::unique_ptr<MessageStore> store = MustOpen(Options(dir));
  std::shared_ptr<Database> db = SameDatabase(Options(dir));
};

TEST_CASE_METHOD(StoreOnDisk,
                 "rocksdb: an append writes three keys, an ack its cursor and one receipt",
                 "[rocksdb]") {
  Expect<AttachResult>(*store, AttachOp{"bob", "phone"});
  Expect<AttachResult>(*store, AttachOp{"alice", "laptop"});
  CHECK(KeysBySpace(*db) == std::map<char, int>{{'C', 2}});
  Expect<AppendResult>(*store, Message("alice", "1", "bob"));
  CHECK(KeysBySpace(*db) == std::map<char, int>{{'C', 2}, {'E', 1}, {'M', 1}, {'S', 1}});
  auto ack = Expect<AckResult>(*store, Ack("bob", "phone", 1));
  REQUIRE(ack.appended.size() == 1);
  // The receipt is the only new key; the cursor key was rewritten in place,
  // and no key records "delivered": bob's cursor implies it.
  CHECK(KeysBySpace(*db) == std::map<char, int>{{'C', 2}, {'E', 2}, {'M', 1}, {'S', 1}});
  auto status = store->Status("bob", "alice-1");
  COURIER_REQUIRE_OK(status);
  CHECK(*status == MessageStatus::kDelivered);
}

// An idle user's connect must not keep the ~150-byte cached inbox state
// (issue 13, W4): an attach leaves only the inboxes with something to deliver
// in the writer's cache; the others are read back by their next op.
TEST_CASE_METHOD(StoreOnDisk,
                 "rocksdb: an attach caches only an inbox with something to deliver; the "
                 "others are read back whole",
                 "[rocksdb]") {
  auto cached = [&] { return internal::CachedInboxes(*store); };
  REQUIRE(cached() == std::optional<std::size_t>(0));
  Expect<AttachResult>(*store, AttachOp{"bob", "phone"});
  CHECK(cached() == 0u);
  // Two attaches of one user in a batch, one of them a new device.
  std::vector<absl::StatusOr<WriteResult>> both =
      store->Write({AttachOp{"bob", "phone"}, AttachOp{"bob", "tablet"}});
  REQUIRE(both.size() == 2);
  COURIER_REQUIRE_OK(both[1]);
  CHECK(cached() == 0u);
  CHECK(KeysBySpace(*db) == std::map<char, int>{{'C', 2}});  // both devices known
  // An append caches bob's inbox; an attach while it has an undelivered
  // message keeps it.
  Expect<AppendResult>(*store, Message("alice", "1", "bob"));
  CHECK(cached() == 1u);
  AttachResult laptop = Expect<AttachResult>(*store, AttachOp{"bob", "laptop"});
  CHECK(laptop.cursor == 0);
  CHECK(laptop.head == 1);
  CHECK(cached() == 1u);
  // An attach and an append to the same inbox in one batch: it stays.
  std::vector<absl::StatusOr<WriteResult>> mixed =
      store->Write({AttachOp{"carol", "phone"}, Message("alice", "2", "carol")});
  REQUIRE(mixed.size() == 2);
  COURIER_REQUIRE_OK(mixed[1]);
  CHECK(cached() == 2u);
  // Delivered everywhere: the next attach drops bob's inbox, and what is read
  // back knows all three devices (the ack of the laptop passes nothing new,
  // so the phone's receipt is the only one).
  Expect<AckResult>(*store, Ack("bob", "phone", 1));
  Expect<AckResult>(*store, Ack("bob", "tablet", 1));
  CHECK(Expect<AttachResult>(*store, AttachOp{"bob", "phone"}).cursor == 1);
  CHECK(cached() == 2u);  // alice's (a receipt) and carol's; bob's went
  auto late = Expect<AckResult>(*store, Ack("bob", "laptop", 1));
  CHECK(late.cursor == 1);
  CHECK(late.appended.empty());
  Expect<AppendResult>(*store, Message("alice", "3", "bob"));
  auto third = Expect<AckResult>(*store, Ack("bob", "laptop", 2));
  REQUIRE(third.appended.size() == 1);  // the receipt of alice-3, once
  CHECK(*store->Status("bob", "alice-3") == MessageStatus::kDelivered);
}

TEST_CASE_METHOD(StoreOnDisk,
                 "rocksdb: prune deletes a range per inbox; the compaction filter drops stale index keys",
                 "[rocksdb]") {
  for (int i = 1; i <= 50; ++i) {
    Expect<AppendResult>(*store, Message("alice", std::to_string(i), "bob", 1'000 + i));
  }
  Expect<AppendResult>(*store, Message("alice", "late", "bob", 90'000));
  PruneOptions prune;
  prune.now = 100'000;
  prune.ttl_ms = 50'000;  // ts < 50'000 goes
  prune.acked_retention_ms = 1'000'000;
  auto removed = store->Prune(prune);
  COURIER_REQUIRE_OK(removed);
  CHECK(*removed == 50);
  auto left = store->Fetch("bob", 0, 100);
  COURIER_REQUIRE_OK(left);
  REQUIRE(left->size() == 1);
  CHECK((*left)[0].seq == 51);
  // The index keys of the removed messages are still there but not live ...
  CHECK(KeysBySpace(*db)['M'] == 51);
  CHECK_THAT(store->Status("bob", "alice-7").status(), StatusIs(absl::StatusCode::kNotFound));
  // ... so the same cid makes a new message again.
  CHECK(!Expect<AppendResult>(*store, Message("alice", "7", "bob", 95'000)).duplicate);
  // A compaction drops them for good (the filter runs on the whole range).
  ::rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = ::rocksdb::BottommostLevelCompaction::kForce;
  REQUIRE(db->db()->CompactRange(compact, db->inbox(), nullptr, nullptr).ok());
  auto keys = KeysBySpace(*db);
  CHECK(keys['M'] == 2);  // "late" and the new "7"
  CHECK(keys['S'] == 2);
  CHECK(keys['E'] == 2);
  auto head = store->Head("bob");
  COURIER_REQUIRE_OK(head);
  CHECK(*head == 52);
}

TEST_CASE("rocksdb: prune never removes an event behind a newer one (time going backwards)",
          "[rocksdb]") {
  TempDir dir;
  auto store = MustOpen(Options(dir));
  Expect<AppendResult>(*store, Message("alice", "1", "bob", 1'000));
  Expect<AppendResult>(*store, Message("alice", "2", "bob", 80'000));
  Expect<AppendResult>(*store, Message("alice", "3", "bob", 2'000));  // the clock stepped back
  PruneOptions prune;
  prune.now = 100'000;
  prune.ttl_ms = 50'000;
  auto removed = store->Prune(prune);
  COURIER_REQUIRE_OK(removed);
  CHECK(*removed == 1);  // seq 3 waits for seq 2
  auto left = store->Fetch("bob", 0, 10);
  COURIER_REQUIRE_OK(left);
  REQUIRE(left->size() == 2);
  CHECK((*left)[0].seq == 2);
  prune.now = 200'000;
  removed = store->Prune(prune);
  COURIER_REQUIRE_OK(removed);
  CHECK(*removed == 2);
}

TEST_CASE("rocksdb: an ack passing messages the cache forgot writes each receipt once",
          "[rocksdb]") {
  TempDir dir;
  const RocksdbOptions options = Options(dir);
  constexpr int kMessages = 5'000;  // more than the 4,096 remembered per inbox
  {
    auto store = MustOpen(options);
    std::vector<WriteOp> batch;
    for (int i = 1; i <= kMessages; ++i) {
      batch.push_back(Message(i % 2 ? "alice" : "carol", std::to_string(i), "bob"));
    }
    for (auto& r : store->Write(batch)) COURIER_REQUIRE_OK(r);
    // Read a few: forgotten (seq 3), remembered (seq 4,900), before reopen.
    Expect<ReadResult>(*store, ReadOp{"bob", {"alice-3", "carol-4900"}, 3'000});
    // The first ack passes forgotten and remembered messages.
    auto ack = Expect<AckResult>(*store, Ack("bob", "phone", 4'950));
    CHECK(ack.appended.size() == 4'950 - 2);
  }
  auto store = MustOpen(options);  // nothing cached: the rest is read back
  Expect<ReadResult>(*store, ReadOp{"bob", {"alice-4999"}, 3'000});
  auto ack = Expect<AckResult>(*store, Ack("bob", "laptop", kMessages));
  CHECK(ack.appended.size() == 50 - 1);
  auto again = Expect<AckResult>(*store, Ack("bob", "phone", kMessages));
  CHECK(again.appended.empty());
  auto alice = store->Head("alice");
  auto carol = store->Head("carol");
  COURIER_REQUIRE_OK(alice);
  COURIER_REQUIRE_OK(carol);
  // One delivered receipt per message, plus one read receipt per read message.
  CHECK(*alice + *carol == kMessages + 3);
}

TEST_CASE("rocksdb: an ack reading back thousands of forgotten messages skips exactly the "
          "read ones", "[rocksdb]") {
  // Reads before the ack, early and late among the forgotten messages, and
  // one read in the same batch as the ack (seen through the batch's own
  // view of its 'M' key, not the database).
  TempDir dir;
  const RocksdbOptions options = Options(dir);
  constexpr int kMessages = 7'000;  // 2,904 forgotten (4,096 remembered)
  auto store = MustOpen(options);
  std::vector<WriteOp> batch;
  for (int i = 1; i <= kMessages; ++i) {
    batch.push_back(Message(i % 2 ? "alice" : "carol", std::to_string(i), "bob"));
  }
  for (auto& r : store->Write(batch)) COURIER_REQUIRE_OK(r);
  Expect<ReadResult>(*store, ReadOp{"bob", {"alice-3", "carol-1500"}, 3'000});
  std::vector<WriteOp> read_then_ack;
  read_then_ack.push_back(ReadOp{"bob", {"alice-2049"}, 3'000});
  read_then_ack.push_back(Ack("bob", "phone", kMessages));
  auto results = store->Write(read_then_ack);
  COURIER_REQUIRE_OK(results[0]);
  COURIER_REQUIRE_OK(results[1]);
  CHECK(std::get<ReadResult>(*results[0]).appended.size() == 2);  // delivered, read
  const auto& ack = std::get<AckResult>(*results[1]);
  CHECK(ack.appended.size() == kMessages - 3);
  for (const Appended& a : ack.appended) {
    CHECK(a.event.id != "alice-3");
    CHECK(a.event.id != "carol-1500");
    CHECK(a.event.id != "alice-2049");
  }
  auto alice = store->Head("alice");
  auto carol = store->Head("carol");
  COURIER_REQUIRE_OK(alice);
  COURIER_REQUIRE_OK(carol);
  CHECK(*alice + *carol == kMessages + 3);  // one delivered each, three read
}

// Reads of undelivered messages, some the writer remembers and some it
// forgot (beyond 4,096 per inbox, or appended before a reopen), some in the
// batch of the ack that passes them, and the sender's own copies of group
// sends (stored read) among the forgotten ones: every ack appends exactly the
// receipts the memory store appends, and no read mark outlives the acks.
TEST_CASE("rocksdb: read marks give an ack past forgotten messages the memory store's receipts",
          "[rocksdb][group]") {
  TempDir dir;
  const RocksdbOptions options = Options(dir);
  auto rocks = MustOpen(options);
  std::unique_ptr<MessageStore> mem = memory::OpenMessageStore();
  std::size_t receipts = 0;
  auto both = [&](std::vector<WriteOp> ops) { receipts += WriteBoth(*rocks, *mem, ops); };
  both({CreateGroup("bob", "g1", {"alice"})});
  int n = 0;
  for (int round = 0; round < 9; ++round) {
    std::vector<WriteOp> batch;
    batch.push_back(GroupMessage("bob", "own" + std::to_string(round), "g1"));
    for (int i = 0; i < 1'000; ++i) {
      ++n;
      batch.push_back(Message(n % 2 ? "alice" : "carol", std::to_string(n), "bob"));
    }
    both(std::move(batch));
  }
  // bob's inbox: the change, then per round his own copy and 1,000 messages.
  both({ReadOp{"bob", {"alice-3", "carol-100", "alice-2001", "carol-8800", IdOf("bob", "own2"),
                       "nobody-1"}, 3'000}});
  both({Ack("bob", "phone", 1'500)});
  rocks.reset();
  rocks = MustOpen(options);  // nothing cached: every undelivered message is forgotten
  both({ReadOp{"bob", {"alice-2501", "carol-6000"}, 3'000}});
  both({ReadOp{"bob", {"carol-4000"}, 3'000}, Ack("bob", "laptop", 5'000),
        ReadOp{"bob", {"alice-4999", "alice-5001"}, 3'000}});
  std::vector<WriteOp> more;
  for (int i = 0; i < 200; ++i) {
    ++n;
    more.push_back(Message(n % 2 ? "alice" : "carol", std::to_string(n), "bob"));
  }
  both(std::move(more));
  both({ReadOp{"bob", {"alice-9101", "carol-7002"}, 3'000}});
  auto head = rocks->Head("bob");
  COURIER_REQUIRE_OK(head);
  both({Ack("bob", "phone", *head)});
  // 9,200 messages: one delivered receipt each, plus one read receipt per
  // message read (eleven: the unknown id and the own copy make none).
  CHECK(receipts == 9'200 + 11);
  for (const char* user : {"alice", "bob", "carol"}) {
    auto got = rocks->Head(user);
    auto want = mem->Head(user);
    COURIER_REQUIRE_OK(got);
    COURIER_REQUIRE_OK(want);
    CHECK(*got == *want);
  }
  rocks.reset();
  auto db = SameDatabase(options);
  CHECK(KeysBySpace(*db)[keys::kReadMark] == 0);  // each mark deleted by the ack passing it
}

// Fetches `user`'s inbox after `after` in pages of `page` events up to
// `through` (as a device's drain does); returns the last seq fetched.
Seq FetchPages(MessageStore& store, const UserId& user, Seq after, Seq through, std::size_t page) {
  while (after < through) {
    auto events = store.Fetch(user, after, std::min<std::size_t>(page, through - after));
    COURIER_REQUIRE_OK(events);
    if (events->empty()) break;
    after = events->back().seq;
  }
  return after;
}

// A drain: pages fetched ahead of the acks (which then take the messages the
// writer forgot from what Fetch read, not from the database), pages of
// another device from elsewhere in the inbox, small pages (not
// remembered), reads and own group copies among them, a reopen: every ack
// appends exactly the receipts the memory store appends.
TEST_CASE("rocksdb: acks passing pages a drain fetched give the memory store's receipts",
          "[rocksdb][group]") {
  TempDir dir;
  const RocksdbOptions options = Options(dir);
  auto rocks = MustOpen(options);
  std::unique_ptr<MessageStore> mem = memory::OpenMessageStore();
  std::size_t receipts = 0;
  auto both = [&](std::vector<WriteOp> ops) { receipts += WriteBoth(*rocks, *mem, ops); };
  both({CreateGroup("bob", "g1", {"alice"})});
  int n = 0;
  for (int round = 0; round < 9; ++round) {
    std::vector<WriteOp> batch;
    batch.push_back(GroupMessage("bob", "own" + std::to_string(round), "g1"));
    for (int i = 0; i < 1'000; ++i) {
      ++n;
      batch.push_back(Message(n % 2 ? "alice" : "carol", std::to_string(n), "bob"));
    }
    both(std::move(batch));
  }
  both({ReadOp{"bob", {"alice-3", "carol-300", IdOf("bob", "own0")}, 3'000}});
  // The phone drains 256 at a time and acks each page after the next one
  // was fetched (the pump runs ahead of the acks).
  Seq fetched = FetchPages(*rocks, "bob", 0, 256, 256);
  for (Seq acked = 0; acked < 2'048; acked += 256) {
    fetched = FetchPages(*rocks, "bob", fetched, fetched + 256, 256);
    if (acked == 1'024) both({ReadOp{"bob", {"alice-1501", "carol-1200"}, 3'000}});
    both({Ack("bob", "phone", acked + 256)});
  }
  // The laptop fetches from elsewhere (replacing what was remembered) and
  // in pages too small to remember; the phone's ack then reads back.
  FetchPages(*rocks, "bob", 3'000, 3'500, 256);
  both({Ack("bob", "phone", 2'900)});
  FetchPages(*rocks, "bob", 2'900, 3'200, 8);
  both({Ack("bob", "phone", 3'100)});
  // An ack in the middle of a remembered page, then one past its end.
  FetchPages(*rocks, "bob", 3'100, 3'700, 300);
  both({ReadOp{"bob", {"alice-3301"}, 3'000}, Ack("bob", "phone", 3'350)});
  both({Ack("bob", "phone", 4'000)});
  rocks.reset();
  rocks = MustOpen(options);  // nothing remembered, by the writer or by Fetch
  FetchPages(*rocks, "bob", 4'000, 5'000, 256);
  both({Ack("bob", "laptop", 4'500)});
  auto head = rocks->Head("bob");
  COURIER_REQUIRE_OK(head);
  FetchPages(*rocks, "bob", 5'000, *head, 512);
  both({Ack("bob", "phone", *head)});
  // 9,000 messages: one delivered receipt each, plus a read receipt for
  // each of the five others' messages read (the own copy makes none).
  CHECK(receipts == 9'000 + 5);
  for (const char* user : {"alice", "bob", "carol"}) {
    auto got = rocks->Head(user);
    auto want = mem->Head(user);
    COURIER_REQUIRE_OK(got);
    COURIER_REQUIRE_OK(want);
    CHECK(*got == *want);
  }
}

// A drain's Fetches may run far ahead of its acks' commits: what they read
// stays remembered (65,536 messages in all, not 4,096 per inbox), a page
// read again inside it adds nothing, a page after a gap starts over, and
// every ack still appends exactly the memory store's receipts.
TEST_CASE("rocksdb: Fetches far ahead of the acks stay remembered for them", "[rocksdb]") {
  TempDir dir;
  auto rocks = MustOpen(Options(dir));
  std::unique_ptr<MessageStore> mem = memory::OpenMessageStore();
  std::size_t receipts = 0;
  auto both = [&](std::vector<WriteOp> ops) { receipts += WriteBoth(*rocks, *mem, ops); };
  int n = 0;
  for (int round = 0; round < 16; ++round) {
    std::vector<WriteOp> batch;
    for (int i = 0; i < 1'000; ++i) {
      ++n;
      batch.push_back(Message(n % 3 ? "alice" : "carol", std::to_string(n), "bob"));
    }
    both(std::move(batch));
  }
  // The writer remembers the last 4,096 (after 11,904); acks passing the
  // others take them from what Fetch remembered, or read them back.
  auto fetched = [&] { return internal::FetchedMessages(*rocks).value(); };
  CHECK(FetchPages(*rocks, "bob", 0, 10'240, 256) == 10'240);
  CHECK(fetched() == 10'240);
  FetchPages(*rocks, "bob", 9'984, 10'240, 256);  // the last page again
  CHECK(fetched() == 10'240);
  FetchPages(*rocks, "bob", 10'000, 10'496, 256);  // overlapping, then beyond
  CHECK(fetched() == 10'496);
  both({Ack("bob", "phone", 2'048)});
  CHECK(fetched() == 10'496 - 2'048);
  both({Ack("bob", "phone", 6'000)});
  CHECK(fetched() == 10'496 - 6'000);
  // A gap: the run starts over at 11,000. The next ack reads (6,000,
  // 11,256] back (the run does not reach down to its cursor) and leaves the
  // run; the one after takes (11,256, 11,512] from it.
  FetchPages(*rocks, "bob", 11'000, 11'512, 256);
  CHECK(fetched() == 512);
  both({Ack("bob", "phone", 11'256)});
  CHECK(fetched() == 512);
  both({Ack("bob", "phone", 11'512)});
  CHECK(fetched() == 0);
  auto head = rocks->Head("bob");
  COURIER_REQUIRE_OK(head);
  both({Ack("bob", "phone", *head)});
  CHECK(receipts == 16'000);
  for (const char* user : {"alice", "carol"}) {
    auto got = rocks->Head(user);
    auto want = mem->Head(user);
    COURIER_REQUIRE_OK(got);
    COURIER_REQUIRE_OK(want);
    CHECK(*got == *want);
  }
  CHECK(internal::FetchedMessages(*mem) == std::nullopt);
}

// Seqs start again at 1 after DeleteInbox: an ack must not take the deleted
// messages that a Fetch read before for the new ones.
TEST_CASE("rocksdb: after DeleteInbox an ack gives receipts for the new messages, not the "
          "fetched old ones", "[rocksdb]") {
  TempDir dir;
  auto store = MustOpen(Options(dir));
  auto fill = [&](const std::string& sender) {
    std::vector<WriteOp> batch;
    for (int i = 1; i <= 5'000; ++i) batch.push_back(Message(sender, std::to_string(i), "bob"));
    for (auto& r : store->Write(batch)) COURIER_REQUIRE_OK(r);
  };
  fill("alice");
  // (0, 1,024] remembered: the writer forgot (0, 904].
  CHECK(FetchPages(*store, "bob", 0, 1'024, 256) == 1'024);
  auto removed = store->DeleteInbox("bob");
  COURIER_REQUIRE_OK(removed);
  CHECK(*removed == 5'000);
  fill("carol");  // seqs 1..5,000 again; the writer remembers the last 4,096
  auto ack = Expect<AckResult>(*store, Ack("bob", "phone", 5'000));
  REQUIRE(ack.appended.size() == 5'000);
  for (std::size_t i = 0; i < ack.appended.size(); ++i) {
    CHECK(ack.appended[i].user == "carol");
    CHECK(ack.appended[i].event.id == "carol-" + std::to_string(i + 1));
  }
  auto alice = store->Head("alice");
  COURIER_REQUIRE_OK(alice);
  CHECK(*alice == 0);
}

// Messages Prune removed undelivered get no receipt, also when a Fetch read
// them before the prune.
TEST_CASE("rocksdb: an ack past fetched messages that Prune removed gives them no receipt",
          "[rocksdb]") {
  TempDir dir;
  auto store = MustOpen(Options(dir));
  std::vector<WriteOp> batch;
  for (int i = 1; i <= 5'000; ++i) {
    batch.push_back(Message("alice", std::to_string(i), "bob", i <= 600 ? 1'000 : 90'000));
  }
  for (auto& r : store->Write(batch)) COURIER_REQUIRE_OK(r);
  CHECK(FetchPages(*store, "bob", 0, 1'024, 256) == 1'024);
  PruneOptions prune;
  prune.now = 100'000;
  prune.ttl_ms = 50'000;  // the first 600 go
  prune.acked_retention_ms = 1'000'000;
  auto removed = store->Prune(prune);
  COURIER_REQUIRE_OK(removed);
  CHECK(*removed == 600);
  auto ack = Expect<AckResult>(*store, Ack("bob", "phone", 1'024));
  REQUIRE(ack.appended.size() == 1'024 - 600);
  CHECK(ack.appended.front().event.id == "alice-601");
  CHECK(ack.appended.back().event.id == "alice-1024");
}

// An ack that found no mark above the cursor scans none on later acks,
// until a read writes one: reads after such an ack, forgotten, remembered
// and in the next ack's batch, are still seen.
TEST_CASE("rocksdb: a read after an ack that found no marks is seen by the next ack",
          "[rocksdb]") {
  TempDir dir;
  auto rocks = MustOpen(Options(dir));
  std::unique_ptr<MessageStore> mem = memory::OpenMessageStore();
  std::size_t receipts = 0;
  auto both = [&](std::vector<WriteOp> ops) { receipts += WriteBoth(*rocks, *mem, ops); };
  std::vector<WriteOp> batch;
  for (int i = 1; i <= 6'000; ++i) batch.push_back(Message("alice", std::to_string(i), "bob"));
  both(std::move(batch));
  both({Ack("bob", "phone", 100)});  // no marks: later acks scan none
  both({ReadOp{"bob", {"alice-200", "alice-5900"}, 3'000}});
  both({Ack("bob", "phone", 300)});
  both({ReadOp{"bob", {"alice-400"}, 3'000}, Ack("bob", "phone", 500)});
  both({Ack("bob", "phone", 1'000)});  // found none again
  both({ReadOp{"bob", {"alice-1500"}, 3'000}});
  both({Ack("bob", "phone", 6'000)});
  CHECK(receipts == 6'000 + 4);
}

TEST_CASE_METHOD(StoreOnDisk,
                 "rocksdb: a read of an undelivered message writes a mark; the passing ack "
                 "and DeleteInbox delete marks",
                 "[rocksdb]") {
  for (int i = 1; i <= 6; ++i) {
    Expect<AppendResult>(*store, Message("alice", std::to_string(i), "bob"));
  }
  Expect<AckResult>(*store, Ack("bob", "phone", 2));
  Expect<ReadResult>(*store, ReadOp{"bob", {"alice-1", "alice-3", "alice-5"}, 3'000});
  CHECK(KeysBySpace(*db)[keys::kReadMark] == 2);  // alice-1 was delivered already
  std::string value;
  REQUIRE(db->db()->Get(::rocksdb::ReadOptions(), db->inbox(), keys::ReadMarkKey("bob", 3), &value)
              .ok());
  TimeMs expiry = 0;
  REQUIRE(keys::ExpiryOf(keys::kReadMark, value, &expiry));
  CHECK(expiry == 1'000);  // the message's 'M' expiry: its inbox's newest time then
  Expect<AckResult>(*store, Ack("bob", "phone", 4));
  CHECK(KeysBySpace(*db)[keys::kReadMark] == 1);
  Expect<ReadResult>(*store, ReadOp{"bob", {"alice-6"}, 3'000});
  CHECK(KeysBySpace(*db)[keys::kReadMark] == 2);
  auto removed = store->DeleteInbox("bob");
  COURIER_REQUIRE_OK(removed);
  CHECK(KeysBySpace(*db)[keys::kReadMark] == 0);
}

TEST_CASE_METHOD(StoreOnDisk,
                 "rocksdb: a database from before read marks gets them on open; its acks skip "
                 "exactly the read messages",
                 "[rocksdb][group]") {
  constexpr int kMessages = 5'000;
  Expect<GroupChangeResult>(*store, CreateGroup("bob", "g1", {"alice"}));
  Expect<GroupSendResult>(*store, GroupMessage("bob", "own", "g1"));  // seq 2, stored read
  std::vector<WriteOp> batch;
  for (int i = 1; i <= kMessages; ++i) batch.push_back(Message("alice", std::to_string(i), "bob"));
  for (auto& r : store->Write(batch)) COURIER_REQUIRE_OK(r);
  Expect<AckResult>(*store, Ack("bob", "phone", 10));  // passes the first own copy
  Expect<GroupSendResult>(*store, GroupMessage("bob", "own2", "g1"));  // undelivered, read
  // Read: one delivered (no mark), four undelivered (marks); dave's inbox
  // has a read, delivered message and no cursor of another inbox counts.
  Expect<ReadResult>(*store, ReadOp{"bob", {"alice-5", "alice-20", "alice-900", "alice-4000",
                                            "alice-4999"}, 3'000});
  Expect<AppendResult>(*store, Message("alice", "d1", "dave"));
  Expect<AckResult>(*store, Ack("dave", "phone", 1));
  Expect<ReadResult>(*store, ReadOp{"dave", {"alice-d1"}, 3'000});
  CHECK(KeysBySpace(*db)[keys::kReadMark] == 4);
  // What a build before the marks left: no 'R' keys, schema 2.
  {
    ::rocksdb::WriteOptions sync;
    sync.sync = true;
    REQUIRE(db->db()->DeleteRange(sync, db->inbox(), std::string(1, keys::kReadMark),
                                  std::string(1, keys::kReadMark + 1)).ok());
  }
  PutSynced(*db, db->db()->DefaultColumnFamily(), "courier.schema", keys::EncodeU64(2));
  CHECK(KeysBySpace(*db)[keys::kReadMark] == 0);
  Close();
  store = MustOpen(Options(dir));
  db = SameDatabase(Options(dir));
  std::string version;
  REQUIRE(db->db()->Get(::rocksdb::ReadOptions(), db->db()->DefaultColumnFamily(),
                        "courier.schema", &version).ok());
  CHECK(*keys::DecodeU64(version, "schema") == 3);
  // bob's four read undelivered messages, and his undelivered own copy
  // (marked too: the conversion looks at 'M' keys only; harmless).
  CHECK(KeysBySpace(*db)[keys::kReadMark] == 5);
  auto ack = Expect<AckResult>(*store, Ack("bob", "phone", kMessages + 3));
  CHECK(ack.appended.size() == kMessages - 8 - 4);  // acked 8 before; 4 read
  for (const Appended& a : ack.appended) {
    CHECK(a.event.status == MessageStatus::kDelivered);
    for (const char* read : {"alice-20", "alice-900", "alice-4000", "alice-4999"}) {
      CHECK(a.event.id != read);
    }
    CHECK(a.event.id != IdOf("bob", "own"));
    CHECK(a.event.id != IdOf("bob", "own2"));
  }
  CHECK(KeysBySpace(*db)[keys::kReadMark] == 0);
}

TEST_CASE("rocksdb: both stores share one database on a path", "[rocksdb]") {
  TempDir dir;
  const RocksdbOptions options = Options(dir);
  {
    auto messages = MustOpen(options);
    auto accounts = OpenAccountStore(options);
    COURIER_REQUIRE_OK(accounts);
    COURIER_REQUIRE_OK((*accounts)->CreateUser("alice", "hash", 1));
    Expect<AppendResult>(*messages, Message("alice", "1", "bob"));
    RocksdbOptions other = options;
    other.durability = RocksdbOptions::Durability::kProcessCrash;
    CHECK_THAT(OpenMessageStore(other).status(), StatusIs(absl::StatusCode::kInvalidArgument));
    // RocksDB's own lock keeps anyone else out while it is open.
    ::rocksdb::DB* raw = nullptr;
    ::rocksdb::Options plain;
    ::rocksdb::Status s = ::rocksdb::DB::Open(plain, options.path, &raw);
    CHECK(!s.ok());
    delete raw;
  }
  // Closed with its last store: opens again, data intact.
  auto accounts = OpenAccountStore(options);
  COURIER_REQUIRE_OK(accounts);
  auto exists = (*accounts)->UserExists("alice");
  COURIER_REQUIRE_OK(exists);
  CHECK(*exists);
  auto messages = MustOpen(options);
  auto head = messages->Head("bob");
  COURIER_REQUIRE_OK(head);
  CHECK(*head == 1);
}

TEST_CASE("rocksdb: refuses directories that are not Courier's, and bad options", "[rocksdb]") {
  TempDir dir;
  CHECK_THAT(OpenMessageStore(RocksdbOptions()).status(),
             StatusIs(absl::StatusCode::kInvalidArgument));
  RocksdbOptions small = Options(dir);
  small.write_buffer_bytes = 1000;
  CHECK_THAT(OpenMessageStore(small).status(), StatusIs(absl::StatusCode::kInvalidArgument));

  std::ofstream(dir.File("file")) << "x";
  CHECK_THAT(OpenMessageStore(RocksdbOptions::Durable(dir.File("file"))).status(),
             StatusIs(absl::StatusCode::kFailedPrecondition));

  const std::string other = dir.File("other");
  std::filesystem::create_directories(other);
  std::ofstream(other + "/courier.db") << "SQLite format 3";
  auto refused = OpenMessageStore(RocksdbOptions::Durable(other));
  CHECK_THAT(refused.status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  CHECK(!LooksLikeRocksdb(other));

  // Another program's RocksDB database: a column family Courier never makes.
  const std::string foreign = dir.File("foreign");
  {
    ::rocksdb::Options plain;
    plain.create_if_missing = true;
    ::rocksdb::DB* raw = nullptr;
    REQUIRE(::rocksdb::DB::Open(plain, foreign, &raw).ok());
    ::rocksdb::ColumnFamilyHandle* cf = nullptr;
    REQUIRE(raw->CreateColumnFamily(::rocksdb::ColumnFamilyOptions(), "theirs", &cf).ok());
    raw->DestroyColumnFamilyHandle(cf);
    delete raw;
  }
  CHECK(LooksLikeRocksdb(foreign));
  CHECK_THAT(OpenMessageStore(RocksdbOptions::Durable(foreign)).status(),
             StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_CASE("rocksdb: a first open cut before CURRENT was written opens as a new store",
          "[rocksdb]") {
  // What the power-loss test found: a crash while creating the database left
  // RocksDB's own files without CURRENT, and every later open refused them.
  TempDir dir;
  const std::string path = dir.File("db");
  std::filesystem::create_directories(path);
  for (const char* name : {"LOCK", "LOG", "IDENTITY", "MANIFEST-000001", "000000.dbtmp"}) {
    std::ofstream(path + "/" + name) << "partial";
  }
  auto store = OpenMessageStore(RocksdbOptions::Durable(path));
  COURIER_REQUIRE_OK(store);
  CHECK(!Expect<AppendResult>(**store, Message("alice", "1", "bob")).duplicate);
  // Anything else beside such leftovers is still refused.
  const std::string mixed = dir.File("mixed");
  std::filesystem::create_directories(mixed);
  std::ofstream(mixed + "/LOCK") << "";
  std::ofstream(mixed + "/notes.txt") << "mine";
  CHECK_THAT(OpenMessageStore(RocksdbOptions::Durable(mixed)).status(),
             StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_CASE_METHOD(StoreOnDisk,
                 "rocksdb: a newer schema and a damaged value are refused, not misread",
                 "[rocksdb]") {
  Expect<AppendResult>(*store, Message("alice", "1", "bob"));
  PutSynced(*db, db->inbox(), keys::EventKey("bob", 2), "garbage");
  CHECK_THAT(store->Fetch("bob", 0, 10).status(), StatusIs(absl::StatusCode::kDataLoss));
  PutSynced(*db, db->db()->DefaultColumnFamily(), "courier.schema", keys::EncodeU64(99));
  Close();
  CHECK_THAT(OpenMessageStore(Options(dir)).status(),
             StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_CASE("rocksdb: past max_size_bytes writes are unavailable and nothing acknowledged is lost",
          "[rocksdb]") {
  TempDir dir;
  RocksdbOptions options = Options(dir);
  options.max_size_bytes = 2 << 20;
  std::vector<std::pair<std::string, Seq>> stored;  // (cid, seq) acknowledged
  absl::Status refused;
  {
    auto store = MustOpen(options);
    const std::string body(16 << 10, 'b');
    for (int i = 0; i < 2'000 && refused.ok(); ++i) {
      AppendOp op = Message("alice", std::to_string(i), "bob");
      op.body = body;
      auto results = store->Write({op});
      if (results[0].ok()) {
        stored.emplace_back(op.cid, std::get<AppendResult>(*results[0]).seq);
      } else {
        refused = results[0].status();
      }
    }
    CHECK_THAT(refused, StatusIs(absl::StatusCode::kUnavailable));
    // Still refused, with a clear error, not a crash; Ping says so too.
    AppendOp again = Message("alice", "again", "bob");
    CHECK_THAT(store->Write({again})[0].status(), StatusIs(absl::StatusCode::kUnavailable));
  }
  REQUIRE(stored.size() > 10);
  options.max_size_bytes = 0;
  auto store = MustOpen(options);
  auto events = store->Fetch("bob", 0, 10'000);
  COURIER_REQUIRE_OK(events);
  REQUIRE(events->size() >= stored.size());
  for (std::size_t i = 0; i < stored.size(); ++i) {
    CHECK((*events)[i].seq == stored[i].second);
    CHECK((*events)[i].id == "alice-" + stored[i].first);
  }
  CHECK(!Expect<AppendResult>(*store, Message("alice", "after", "bob")).duplicate);
}

// Encodes `e` as an event value and checks that it decodes to `e` whole and
// that every truncation of it is refused as data loss.
void CheckEventValueRoundTrips(const keys::StoredEvent& e) {
  const std::string v = keys::EncodeEvent(e);
  auto back = keys::DecodeEvent(v, e.event.seq);
  COURIER_REQUIRE_OK(back);
  CHECK(back->event == e.event);
  CHECK(back->max_ts == e.max_ts);
  CHECK(back->cid == e.cid);
  // The partial decodes (Fetch, an ack's receipts) give the same event
  // without what they leave out, and refuse the same truncations.
  auto no_cid = keys::DecodeEvent(v, e.event.seq, keys::EventFields::kNoCid);
  COURIER_REQUIRE_OK(no_cid);
  CHECK(no_cid->event == e.event);
  CHECK(no_cid->cid.empty());
  auto head = keys::DecodeEvent(v, e.event.seq, keys::EventFields::kNoBodyNoCid);
  COURIER_REQUIRE_OK(head);
  Event without_body = e.event;
  without_body.body.clear();
  CHECK(head->event == without_body);
  CHECK(head->max_ts == e.max_ts);
  CHECK(head->cid.empty());
  for (std::size_t n = 0; n < v.size(); ++n) {
    for (keys::EventFields fields : {keys::EventFields::kAll, keys::EventFields::kNoCid,
                                     keys::EventFields::kNoBodyNoCid}) {
      CHECK_THAT(keys::DecodeEvent(v.substr(0, n), e.event.seq, fields).status(),
                 StatusIs(absl::StatusCode::kDataLoss));
    }
  }
}

TEST_CASE("rocksdb: keys decode what they encode and refuse truncations", "[rocksdb]") {
  CheckEventValueRoundTrips({.event = {.seq = 7,
                                       .kind = EventKind::kReceipt,
                                       .id = "id",
                                       .peer = "bob",
                                       .body = std::string("\0\xff", 2),
                                       .status = MessageStatus::kRead,
                                       .ts = -5,
                                       .group = ""},  // a receipt names no group
                             .max_ts = 9,
                             .cid = "c"});
  Seq seq = 0;
  CHECK(keys::ParseEventKey(keys::EventKey("bob", 258), "bob", &seq));
  CHECK(seq == 258);
  CHECK(!keys::ParseEventKey(keys::EventKey("bobby", 1), "bob", &seq));
  CHECK(keys::EventKeyInbox(keys::EventKey("bob", 1)) == "bob");
  // Big-endian seqs: byte order is seq order, and every event of "bob" sorts
  // before those of "bob.".
  CHECK(keys::EventKey("bob", 255) < keys::EventKey("bob", 256));
  CHECK(keys::EventKey("bob", ~Seq{0}) < keys::EventEnd("bob"));
  CHECK(keys::EventEnd("bob") < keys::EventKey("bob.", 0));
}

// --- Groups (issue 17) -------------------------------------------------------------

keys::MessageRecord MessageKey(Database& db, const UserId& inbox, const MessageId& id) {
  std::string value;
  REQUIRE(db.db()->Get(::rocksdb::ReadOptions(), db.inbox(),
                       keys::PairKey(keys::kMessage, inbox, id), &value).ok());
  auto m = keys::DecodeMessage(value);
  COURIER_REQUIRE_OK(m);
  return *m;
}

TEST_CASE_METHOD(StoreOnDisk,
                 "rocksdb: a group change writes 'G', 'U' and one event per member; a send one 'S'",
                 "[rocksdb][group]") {
  auto created = Expect<GroupChangeResult>(*store, CreateGroup("alice", "g1", {"bob", "carol"}));
  CHECK(created.appended.size() == 3);
  CHECK(KeysBySpace(*db) == std::map<char, int>{{'E', 3}, {'G', 1}, {'U', 3}});
  auto sent = Expect<GroupSendResult>(*store, GroupMessage("alice", "1", "g1"));
  CHECK(sent.recipients == 3);
  // Per copy an 'E' and an 'M' key, as a 1:1 append; one 'S' key in all.
  CHECK(KeysBySpace(*db) == std::map<char, int>{{'E', 6}, {'G', 1}, {'M', 3}, {'S', 1}, {'U', 3}});
  // The sender's own copy is read already; the members' copies are not.
  CHECK(MessageKey(*db, "alice", IdOf("alice", "1")).read);
  CHECK(!MessageKey(*db, "bob", IdOf("alice", "1")).read);
  CHECK(*store->Status("alice", IdOf("alice", "1")) == MessageStatus::kRead);
  // Acking the sender's own copy and the change event writes no receipt.
  CHECK(Expect<AckResult>(*store, Ack("alice", "phone", 2)).appended.empty());
  auto ack = Expect<AckResult>(*store, Ack("bob", "phone", 2));
  REQUIRE(ack.appended.size() == 1);
  CHECK(ack.appended[0].user == "alice");
  CHECK(ack.appended[0].event.group.empty());  // receipts carry no group
  // Deleting a member's inbox leaves the sender's 'S' key and the 'U' keys.
  COURIER_REQUIRE_OK(store->DeleteInbox("bob"));
  CHECK(KeysBySpace(*db)['S'] == 1);
  CHECK(KeysBySpace(*db)['U'] == 3);
  CHECK(Expect<GroupSendResult>(*store, GroupMessage("alice", "1", "g1")).duplicate);
  // Deleting the sender's takes it: the cid makes a new message again.
  COURIER_REQUIRE_OK(store->DeleteInbox("alice"));
  CHECK(KeysBySpace(*db).count('S') == 0);
  GroupSendOp retry = GroupMessage("alice", "1", "g1");
  retry.id = "again";  // carol's inbox still holds the first one's id
  auto again = Expect<GroupSendResult>(*store, retry);
  CHECK(!again.duplicate);
  CHECK(again.seq == 1);
}

TEST_CASE("rocksdb: an event's group round-trips; a value from before groups reads as 1:1",
          "[rocksdb][group]") {
  // Every truncation is refused, the one right before the group included.
  CheckEventValueRoundTrips({.event = {.seq = 3,
                                       .kind = EventKind::kGroupChange,
                                       .id = "chg-1",
                                       .peer = "alice",
                                       .body = std::string("\1\0\xff", 3),
                                       .ts = 7,
                                       .group = "g-1"},
                             .max_ts = 8,
                             .cid = ""});  // a group change has no client id
  // The value layout of an event written before groups, byte by byte:
  // kind, status, ts, max_ts, then id, peer, body and cid with their lengths.
  auto field = [](const std::string& s) { return keys::EncodeU64(s.size()) + s; };
  const std::string old = std::string("\x01\x00", 2) + keys::EncodeU64(1'000) +
                          keys::EncodeU64(1'000) + field("alice-1") + field("alice") +
                          field("hello") + field("1");
  auto read = keys::DecodeEvent(old, 1);
  COURIER_REQUIRE_OK(read);
  CHECK(read->event.kind == EventKind::kMessage);
  CHECK(read->event.id == "alice-1");
  CHECK(read->event.body == "hello");
  CHECK(read->event.group.empty());
  CHECK(read->cid == "1");
  // A 1:1 event is still written exactly so.
  CHECK(keys::EncodeEvent(*read) == old);
}

TEST_CASE_METHOD(StoreOnDisk,
                 "rocksdb: a database from before groups opens, reads and keeps groups",
                 "[rocksdb][group]") {
  Expect<AppendResult>(*store, Message("alice", "1", "bob"));
  // Schema 1, with an event value as the build before groups wrote it.
  auto field = [](const std::string& s) { return keys::EncodeU64(s.size()) + s; };
  const std::string old = std::string("\x01\x00", 2) + keys::EncodeU64(1'500) +
                          keys::EncodeU64(1'500) + field("carol-9") + field("carol") +
                          field("old") + field("9");
  PutSynced(*db, db->inbox(), keys::EventKey("bob", 2), old);
  PutSynced(*db, db->db()->DefaultColumnFamily(), "courier.schema", keys::EncodeU64(1));
  Close();
  store = MustOpen(Options(dir));
  {
    db = SameDatabase(Options(dir));
    std::string version;
    REQUIRE(db->db()->Get(::rocksdb::ReadOptions(), db->db()->DefaultColumnFamily(),
                          "courier.schema", &version).ok());
    CHECK(*keys::DecodeU64(version, "schema") == 3);  // marked: older builds refuse it
  }
  std::vector<Event> events = FetchAll(*store, "bob");
  REQUIRE(events.size() == 2);
  CHECK(events[1].body == "old");
  CHECK(events[1].group.empty());
  // Then a group of bob's, and alice's send to it: the change and her
  // message follow the old events.
  Expect<GroupChangeResult>(*store, CreateGroup("bob", "g1", {"alice"}));
  CHECK(Expect<GroupSendResult>(*store, GroupMessage("alice", "2", "g1")).recipients == 2);
  events = FetchAll(*store, "bob");
  REQUIRE(events.size() == 4);
  CHECK(events[2].kind == EventKind::kGroupChange);
  CHECK(events[3].group == "g1");
  CHECK(GroupIdsOf(*store, "alice") == std::vector<GroupId>{"g1"});
}

}  // namespace
}  // namespace courier::rocksdb

namespace courier::rocksdb {
namespace {

// Staged writes (MessageStore::WriteStaged): applied at once for the
// writer, shown to readers only once synced.

RocksdbOptions StagedOptions(const TempDir& dir) {
  RocksdbOptions o = Options(dir);
  o.stage_writes = true;
  return o;
}

// A store that stages writes, on a fresh directory.
struct StagedStoreOnDisk {
  TempDir dir;
  std::unique_ptr<MessageStore> store = MustOpen(StagedOptions(dir));
};

// Stages `op` alone and returns what waits for its sync.
MessageStore::StagedWrite StageOne(MessageStore& store, WriteOp op) {
  MessageStore::StagedWrite staged = store.WriteStaged({std::move(op)});
  REQUIRE(staged.results.size() == 1);
  COURIER_REQUIRE_OK(staged.results[0]);
  REQUIRE(staged.sync != nullptr);
  return staged;
}

TEST_CASE_METHOD(StagedStoreOnDisk,
                 "rocksdb: a staged batch is seen by the writer at once and by readers after "
                 "its sync",
                 "[rocksdb][staged]") {
  REQUIRE(store->StagesWrites());  // stage_writes, at power-loss durability
  Expect<AttachResult>(*store, AttachOp{"bob", "phone"});
  MessageStore::StagedWrite first = StageOne(*store, Message("alice", "1", "bob"));
  // The writer sees it: a repeat is its duplicate, the next append is seq 2.
  MessageStore::StagedWrite repeat = StageOne(*store, Message("alice", "1", "bob"));
  CHECK(std::get<AppendResult>(*repeat.results[0]).duplicate);
  MessageStore::StagedWrite second = StageOne(*store, Message("alice", "2", "bob"));
  CHECK(std::get<AppendResult>(*second.results[0]).seq == 2);
  // Readers do not, until its sync.
  CHECK(FetchAll(*store, "bob").empty());
  CHECK(*store->Head("bob") == 0);
  CHECK_THAT(store->Status("bob", "alice-1").status(), StatusIs(absl::StatusCode::kNotFound));
  COURIER_REQUIRE_OK(first.sync->Sync());
  std::vector<Event> events = FetchAll(*store, "bob");
  REQUIRE(events.size() == 1);  // the first batch, not the third
  CHECK(events[0].id == "alice-1");
  CHECK(*store->Head("bob") == 1);
  CHECK(*store->Status("bob", "alice-1") == MessageStatus::kSent);
  COURIER_REQUIRE_OK(repeat.sync->Sync());
  CHECK(*store->Head("bob") == 1);
  // An ack staged, unsynced: the cursor stays where readers saw it.
  MessageStore::StagedWrite ack = StageOne(*store, Ack("bob", "phone", 1));
  CHECK(*store->Cursor("bob", "phone") == 0);
  COURIER_REQUIRE_OK(second.sync->Sync());
  CHECK(FetchAll(*store, "bob").size() == 2);
  CHECK(*store->Cursor("bob", "phone") == 0);
  COURIER_REQUIRE_OK(ack.sync->Sync());
  CHECK(*store->Cursor("bob", "phone") == 1);
  CHECK(*store->Status("bob", "alice-1") == MessageStatus::kDelivered);
  // All synced: a new staged batch is hidden again, then shown.
  MessageStore::StagedWrite third = StageOne(*store, Message("alice", "3", "bob"));
  CHECK(*store->Head("bob") == 2);
  COURIER_REQUIRE_OK(third.sync->Sync());
  CHECK(*store->Head("bob") == 3);
}

TEST_CASE_METHOD(StagedStoreOnDisk,
                 "rocksdb: an inbox an attach dropped from the cache is read back with the "
                 "cursor its unsynced batch wrote",
                 "[rocksdb][staged]") {
  MessageStore::StagedWrite attach = StageOne(*store, AttachOp{"bob", "phone"});
  CHECK(internal::CachedInboxes(*store) == std::optional<std::size_t>(0));
  MessageStore::StagedWrite append = StageOne(*store, Message("alice", "1", "bob"));
  MessageStore::StagedWrite ack = StageOne(*store, Ack("bob", "phone", 1));
  const auto& result = std::get<AckResult>(*ack.results[0]);
  CHECK(result.cursor == 1);
  CHECK(result.appended.size() == 1);  // the delivered receipt
  COURIER_REQUIRE_OK(attach.sync->Sync());
  COURIER_REQUIRE_OK(append.sync->Sync());
  COURIER_REQUIRE_OK(ack.sync->Sync());
  CHECK(*store->Cursor("bob", "phone") == 1);
  CHECK(*store->Status("bob", "alice-1") == MessageStatus::kDelivered);
}

TEST_CASE_METHOD(StagedStoreOnDisk,
                 "rocksdb: a synced Write shows every batch staged before it; their syncs "
                 "then cost nothing",
                 "[rocksdb][staged]") {
  MessageStore::StagedWrite first = StageOne(*store, Message("alice", "1", "bob"));
  MessageStore::StagedWrite second = StageOne(*store, Message("alice", "2", "bob"));
  CHECK(*store->Head("bob") == 0);
  Expect<AppendResult>(*store, Message("carol", "1", "bob"));  // Write: synced
  CHECK(FetchAll(*store, "bob").size() == 3);
  COURIER_REQUIRE_OK(first.sync->Sync());
  COURIER_REQUIRE_OK(second.sync->Sync());
  CHECK(FetchAll(*store, "bob").size() == 3);
  // A staged batch, then the inbox deleted (a synced write of its own).
  MessageStore::StagedWrite fourth = StageOne(*store, Message("alice", "4", "bob"));
  REQUIRE(*store->DeleteInbox("bob") == 4u);
  CHECK(FetchAll(*store, "bob").empty());
  COURIER_REQUIRE_OK(fourth.sync->Sync());
  CHECK(FetchAll(*store, "bob").empty());
}

TEST_CASE("rocksdb: staging, syncing and reading on three threads: readers see every synced "
          "append and no unsynced one",
          "[rocksdb][staged]") {
  TempDir dir;
  std::unique_ptr<MessageStore> store = MustOpen(StagedOptions(dir));
  constexpr int kBatches = 300;
  std::mutex mu;
  std::condition_variable changed;
  std::deque<std::unique_ptr<MessageStore::PendingSync>> waiting;  // staged, oldest first
  bool staging_done = false;
  std::atomic<int> sync_called{0};    // batches (one append each) whose Sync began
  std::atomic<int> sync_returned{0};  // ... and returned
  std::atomic<int> thread_failures{0};
  std::thread stager([&] {
    for (int i = 1; i <= kBatches; ++i) {
      MessageStore::StagedWrite staged =
          store->WriteStaged({WriteOp(Message("alice", std::to_string(i), "bob"))});
      // (Catch's assertions are for the test's own thread: counted here.)
      if (staged.results.size() != 1 || !staged.results[0].ok() || staged.sync == nullptr) {
        thread_failures.fetch_add(1);
        break;
      }
      std::unique_lock<std::mutex> lock(mu);
      changed.wait(lock, [&] { return waiting.size() < 3; });  // as the commit queue bounds it
      waiting.push_back(std::move(staged.sync));
      changed.notify_all();
    }
    std::lock_guard<std::mutex> lock(mu);
    staging_done = true;
    changed.notify_all();
  });
  std::thread syncer([&] {
    while (true) {
      std::unique_ptr<MessageStore::PendingSync> next;
      {
        std::unique_lock<std::mutex> lock(mu);
        changed.wait(lock, [&] { return !waiting.empty() || staging_done; });
        if (waiting.empty()) return;
        next = std::move(waiting.front());
        waiting.pop_front();
        changed.notify_all();
      }
      sync_called.fetch_add(1);
      if (!next->Sync().ok()) thread_failures.fetch_add(1);
      sync_returned.fetch_add(1);
    }
  });
  int reads = 0;
  bool seen_all = false;
  while (!seen_all && thread_failures.load() == 0) {
    const int synced_before = sync_returned.load();
    const Seq head = *store->Head("bob");
    const std::size_t fetched = FetchAll(*store, "bob").size();
    const int called_after = sync_called.load();
    REQUIRE(head >= static_cast<Seq>(synced_before));          // every synced append
    REQUIRE(head <= static_cast<Seq>(called_after));           // no append before its sync
    REQUIRE(fetched >= head);                                  // gapless, at least up to head
    REQUIRE(fetched <= static_cast<std::size_t>(sync_called.load()));
    seen_all = head == kBatches;
    ++reads;
  }
  stager.join();
  syncer.join();
  CHECK(thread_failures.load() == 0);
  CHECK(sync_returned.load() == kBatches);
  CHECK(reads > 1);
}

TEST_CASE("rocksdb: writes are staged only when asked, at power-loss durability",
          "[rocksdb][staged]") {
  TempDir dir;
  CHECK_FALSE(MustOpen(Options(dir))->StagesWrites());  // the default
  RocksdbOptions options = StagedOptions(dir);
  options.durability = RocksdbOptions::Durability::kProcessCrash;
  std::unique_ptr<MessageStore> store = MustOpen(options);
  CHECK_FALSE(store->StagesWrites());
  MessageStore::StagedWrite staged = store->WriteStaged({WriteOp(Message("alice", "1", "bob"))});
  REQUIRE(staged.results.size() == 1);
  COURIER_REQUIRE_OK(staged.results[0]);
  CHECK(staged.sync == nullptr);
  CHECK(FetchAll(*store, "bob").size() == 1);
}

}  // namespace
}  // namespace courier::rocksdb
