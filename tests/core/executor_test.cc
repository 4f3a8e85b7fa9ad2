#include "courier/executor.h"

#include <pthread.h>

#include <atomic>
#include <string>
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

TEST_CASE("ThreadPoolExecutor: names its threads, cut to the kernel's 15 bytes", "[executor]") {
  auto name_of_worker = [](const char* name) {
    std::string seen;
    {
      ThreadPoolExecutor ex(1, name);
      ex.Post([&seen] {
        char buf[32] = {};
        if (pthread_getname_np(pthread_self(), buf, sizeof buf) == 0) seen = buf;
      });
    }
    return seen;
  };
  CHECK(name_of_worker("courier-commit") == "courier-commit");
  CHECK(name_of_worker("courier-delivery-pool") == "courier-deliver");
  char own[32] = {};
  REQUIRE(pthread_getname_np(pthread_self(), own, sizeof own) == 0);
  CHECK(name_of_worker("") == std::string(own));  // unnamed: inherits the creator's
}

}  // namespace
}  // namespace courier
