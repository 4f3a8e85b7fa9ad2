#include "courier/executor.h"

#include <atomic>
#include <vector>

#include <catch2/catch.hpp>

namespace courier {
namespace {

TEST_CASE("ManualExecutor: runs nothing until asked, then in the chosen order", "[executor]") {
  ManualExecutor ex;
  std::vector<int> ran;
  for (int i = 0; i < 3; ++i) ex.Post([&ran, i] { ran.push_back(i); });
  CHECK(ran.empty());
  CHECK(ex.pending() == 3);
  CHECK(ex.RunOne(2));
  CHECK(ran == std::vector<int>{2});
  CHECK(ex.RunAll() == 2);
  CHECK(ran == std::vector<int>{2, 0, 1});
  CHECK_FALSE(ex.RunOne());
}

TEST_CASE("ManualExecutor: RunAll also runs tasks posted by tasks", "[executor]") {
  ManualExecutor ex;
  int n = 0;
  ex.Post([&] {
    ++n;
    ex.Post([&] { ++n; });
  });
  CHECK(ex.RunAll() == 2);
  CHECK(n == 2);
}

TEST_CASE("ThreadPoolExecutor: runs every task posted before destruction", "[executor]") {
  std::atomic<int> n{0};
  {
    ThreadPoolExecutor ex(2);
    for (int i = 0; i < 1000; ++i) ex.Post([&] { n.fetch_add(1); });
  }
  CHECK(n.load() == 1000);
}

TEST_CASE("ThreadPoolExecutor: one thread keeps posting order", "[executor]") {
  std::vector<int> ran;
  {
    ThreadPoolExecutor ex(1);
    for (int i = 0; i < 100; ++i) ex.Post([&ran, i] { ran.push_back(i); });
  }
  REQUIRE(ran.size() == 100);
  for (int i = 0; i < 100; ++i) CHECK(ran[i] == i);
}

}  // namespace
}  // namespace courier
