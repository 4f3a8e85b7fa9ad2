// FrontQueue (adapters/rocksdb/src/front_queue.h): order, no heap block while
// empty, the block given back once a grown queue empties, and binary search
// over what is left after pops and compactions.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "front_queue.h"

namespace courier::rocksdb::internal {
namespace {

TEST_CASE("FrontQueue: an empty queue holds no heap block", "[rocksdb]") {
  FrontQueue<std::string> q;
  CHECK(q.empty());
  CHECK(q.capacity() == 0);
  q.push_back("a");
  q.pop_front();
  CHECK(q.empty());
  CHECK(q.capacity() <= FrontQueue<std::string>::kKeepCapacity);
}

TEST_CASE("FrontQueue: first in, first out across compactions", "[rocksdb]") {
  FrontQueue<int> q;
  int next_in = 0;
  int next_out = 0;
  // Push 3, pop 2, many times: the popped part is compacted away often.
  for (int round = 0; round < 2'000; ++round) {
    for (int i = 0; i < 3; ++i) q.push_back(next_in++);
    for (int i = 0; i < 2; ++i) {
      REQUIRE(!q.empty());
      CHECK(q.front() == next_out);
      q.pop_front();
      ++next_out;
    }
    REQUIRE(q.size() == static_cast<std::size_t>(next_in - next_out));
  }
  // What is left is contiguous and sorted: a binary search finds each.
  for (int v : {next_out, next_out + 500, next_in - 1}) {
    auto it = std::lower_bound(q.begin(), q.end(), v);
    REQUIRE(it != q.end());
    CHECK(*it == v);
  }
  CHECK(std::lower_bound(q.begin(), q.end(), next_out - 1) == q.begin());
  CHECK(std::lower_bound(q.begin(), q.end(), next_in) == q.end());
  // The compactions kept the block within twice what is live, plus growth.
  CHECK(q.capacity() <= 4 * q.size());
  while (!q.empty()) {
    CHECK(q.front() == next_out++);
    q.pop_front();
  }
  CHECK(next_out == next_in);
  CHECK(q.capacity() == 0);  // grown past kKeepCapacity: given back
}

TEST_CASE("FrontQueue: a popped element's resources go at once", "[rocksdb]") {
  FrontQueue<std::string> q;
  q.push_back(std::string(1'000, 'x'));
  q.push_back(std::string(1'000, 'y'));
  q.push_back("z");
  std::string& first = q.front();
  q.pop_front();  // 1 of 3 popped: no compaction, the slot is reset
  CHECK(first.empty());
  CHECK(q.front() == std::string(1'000, 'y'));
  CHECK(q.size() == 2);
}

}  // namespace
}  // namespace courier::rocksdb::internal
