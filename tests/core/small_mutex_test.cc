// small_mutex.h: the 4-byte lock of DeviceSession excludes, under
// contention, and publishes what was written under it (TSan checks the
// latter in tests/run.sh's TSan stage).
#include "small_mutex.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

namespace courier::internal {
namespace {

TEST_CASE("SmallMutex: contending threads never hold it at once", "[small_mutex]") {
  SmallMutex mu;
  long counter = 0;     // written under mu only
  int holders = 0;      // threads inside the lock, under mu
  bool overlapped = false;
  constexpr int kThreads = 4;
  constexpr int kRounds = 50'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        SmallMutexLock lock(&mu);
        if (++holders != 1) overlapped = true;
        ++counter;
        if (i % 1024 == 0) std::this_thread::yield();  // hold it a while now and then
        --holders;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  SmallMutexLock lock(&mu);
  CHECK_FALSE(overlapped);
  CHECK(counter == static_cast<long>(kThreads) * kRounds);
}

TEST_CASE("SmallMutex: a waiter gets it once the holder lets go", "[small_mutex]") {
  SmallMutex mu;
  std::atomic<bool> started{false};
  std::atomic<bool> acquired{false};
  int value = 0;
  int seen = 0;  // what the waiter read under the lock (checked after join)
  mu.Lock();
  std::thread waiter([&] {
    started.store(true);
    SmallMutexLock lock(&mu);
    acquired.store(true);
    seen = value;
  });
  while (!started.load()) std::this_thread::yield();
  value = 42;
  CHECK_FALSE(acquired.load());  // still held by this thread
  mu.Unlock();
  waiter.join();
  CHECK(acquired.load());
  CHECK(seen == 42);  // written before the holder's Unlock
}

}  // namespace
}  // namespace courier::internal
