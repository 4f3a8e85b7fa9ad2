// Writing the same ops to a RocksDB message store and to the memory store,
// for tests that hold the RocksDB store to the memory store's answers.
#ifndef COURIER_TESTS_ROCKSDB_WRITE_BOTH_H_
#define COURIER_TESTS_ROCKSDB_WRITE_BOTH_H_

#include <catch2/catch.hpp>

#include <cstddef>
#include <utility>
#include <variant>
#include <vector>

#include "courier/message_store.h"
#include "support/status_matchers.h"

namespace courier::rocksdb {

// Every event a result appended, with the inbox it went to.
inline std::vector<std::pair<UserId, Event>> AppendedBy(const WriteResult& r) {
  std::vector<std::pair<UserId, Event>> out;
  std::visit(
      [&](const auto& result) {
        if constexpr (requires { result.appended; }) {
          for (const Appended& a : result.appended) out.emplace_back(a.user, a.event);
        }
      },
      r);
  return out;
}

// Writes `ops` to both stores, requires every op to succeed on both and to
// append the same events; returns how many receipts they appended.
inline std::size_t WriteBoth(MessageStore& rocks, MessageStore& mem,
                             const std::vector<WriteOp>& ops) {
  auto got = rocks.Write(ops);
  auto want = mem.Write(ops);
  REQUIRE(got.size() == want.size());
  std::size_t receipts = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    COURIER_REQUIRE_OK(want[i]);
    COURIER_REQUIRE_OK(got[i]);
    const auto appended = AppendedBy(*got[i]);
    CHECK(appended == AppendedBy(*want[i]));
    for (const auto& [user, e] : appended) receipts += e.kind == EventKind::kReceipt;
  }
  return receipts;
}

}  // namespace courier::rocksdb

#endif  // COURIER_TESTS_ROCKSDB_WRITE_BOTH_H_
