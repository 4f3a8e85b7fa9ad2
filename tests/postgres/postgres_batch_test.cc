// courier::postgres's set-based write path (runs of eight ops or more, see
// adapters/postgres/src/pg_write_batch.h) against courier::memory, the
// reference: the same random batches of long runs of appends (repeated
// cids, a small queue limit), acks and reads must give the same
// results, op by op, and leave the same inboxes.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "courier/memory.h"
#include "courier/postgres.h"
#include "pg_test_database.h"
#include "support/status_matchers.h"

namespace courier::postgres {
namespace {

using ::courier::postgres::testing::TestSchema;

constexpr int kUsers = 6;
constexpr std::uint64_t kLimit = 25;

std::string User(int i) { return "u" + std::to_string(i); }

// Compares the events two stores report, field by field.
void CheckSameEvents(const std::vector<Appended>& want, const std::vector<Appended>& got) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("event " << i);
    CHECK(got[i].user == want[i].user);
    CHECK(got[i].event.seq == want[i].event.seq);
    CHECK(got[i].event.kind == want[i].event.kind);
    CHECK(got[i].event.id == want[i].event.id);
    CHECK(got[i].event.peer == want[i].event.peer);
    CHECK(got[i].event.body == want[i].event.body);
    CHECK(got[i].event.status == want[i].event.status);
    CHECK(got[i].event.ts == want[i].event.ts);
  }
}

void CheckSameResult(const absl::StatusOr<WriteResult>& want,
                     const absl::StatusOr<WriteResult>& got) {
  REQUIRE(got.status().code() == want.status().code());
  if (!want.ok()) return;
  REQUIRE(got->index() == want->index());
  if (const auto* w = std::get_if<AppendResult>(&*want)) {
    const auto& g = std::get<AppendResult>(*got);
    CHECK(g.id == w->id);
    CHECK(g.seq == w->seq);
    CHECK(g.ts == w->ts);
    CHECK(g.duplicate == w->duplicate);
    CheckSameEvents(w->appended, g.appended);
  } else if (const auto* w = std::get_if<AckResult>(&*want)) {
    const auto& g = std::get<AckResult>(*got);
    CHECK(g.cursor == w->cursor);
    CheckSameEvents(w->appended, g.appended);
  } else if (const auto* w = std::get_if<ReadResult>(&*want)) {
    CheckSameEvents(w->appended, std::get<ReadResult>(*got).appended);
  } else {
    const auto& w2 = std::get<AttachResult>(*want);
    const auto& g = std::get<AttachResult>(*got);
    CHECK(g.cursor == w2.cursor);
    CHECK(g.head == w2.head);
  }
}

TEST_CASE("PostgresMessageStore: set-based runs give the reference store's results",
          "[postgres]") {
  TestSchema schema;
  auto opened = OpenMessageStore(schema.Options());
  COURIER_REQUIRE_OK(opened);
  std::unique_ptr<MessageStore> pg = std::move(opened).value();
  std::unique_ptr<MessageStore> ref = memory::OpenMessageStore();
  std::mt19937 rng(20261206);
  auto pick = [&rng](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  std::vector<MessageId> ids;  // ids sent so far (reads name them)
  int next_id = 0;

  for (int batch = 0; batch < 40; ++batch) {
    INFO("batch " << batch);
    std::vector<WriteOp> ops;
    // Acks name seqs up to the head before the batch (as a client can).
    std::vector<Seq> heads(kUsers);
    for (int u = 0; u < kUsers; ++u) heads[u] = *ref->Head(User(u));
    const int runs = 1 + pick(3);
    for (int r = 0; r < runs; ++r) {
      const int kind = pick(3);
      const int length = 8 + pick(40);
      for (int i = 0; i < length; ++i) {
        if (kind == 0) {
          AppendOp a;
          a.sender = User(pick(kUsers));
          a.recipient = User(pick(kUsers));
          a.cid = "c" + std::to_string(pick(400));  // repeats: duplicates
          a.id = "m" + std::to_string(next_id++);  // ids are unique, as the engine makes them
          a.body = std::string(static_cast<std::size_t>(pick(3)), 'x') + a.cid;
          a.ts = 1'000 + batch;
          a.max_undelivered = kLimit;
          ids.push_back(a.id);
          ops.push_back(a);
        } else if (kind == 1) {
          const int u = pick(kUsers);
          const Seq head = heads[u];
          ops.push_back(AckOp{User(u), "d" + std::to_string(pick(2)),
                              head == 0 ? 0 : static_cast<Seq>(1 + pick(static_cast<int>(head))),
                              2'000 + batch});
        } else {
          ReadOp read{User(pick(kUsers)), {}, 3'000 + batch};
          for (int k = pick(4); k > 0 && !ids.empty(); --k) {
            read.ids.push_back(ids[pick(static_cast<int>(ids.size()))]);
          }
          ops.push_back(read);
        }
      }
    }
    const auto want = ref->Write(ops);
    const auto got = pg->Write(ops);
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < ops.size(); ++i) {
      INFO("op " << i << " of " << ops.size());
      CheckSameResult(want[i], got[i]);
    }
  }
  for (int u = 0; u < kUsers; ++u) {
    INFO(User(u));
    const auto want = ref->Fetch(User(u), 0, 100'000);
    const auto got = pg->Fetch(User(u), 0, 100'000);
    COURIER_REQUIRE_OK(got);
    REQUIRE(got->size() == want->size());
    for (std::size_t i = 0; i < want->size(); ++i) {
      CHECK((*got)[i].seq == (*want)[i].seq);
      CHECK((*got)[i].id == (*want)[i].id);
      CHECK((*got)[i].status == (*want)[i].status);
    }
    for (const char* device : {"d0", "d1"}) {
      CHECK(*pg->Cursor(User(u), device) == *ref->Cursor(User(u), device));
    }
  }
}

}  // namespace
}  // namespace courier::postgres
