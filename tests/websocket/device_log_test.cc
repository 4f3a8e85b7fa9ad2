// device_log_test.cc: the server's device log writes every queued device,
// across RecordDevices batches, with its latest time.
#include "device_log.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "courier/account_store.h"
#include "courier/clock.h"
#include "courier/memory.h"

namespace courier::server {
namespace {

TEST_CASE("the device log records more devices than one batch, each with its latest time",
          "[device_log]") {
  std::unique_ptr<AccountStore> store = memory::OpenAccountStore();
  REQUIRE(store->CreateUser("alice", "h", 1).ok());
  REQUIRE(store->CreateUser("bob", "h", 1).ok());
  ManualClock clock(1'000);
  constexpr int kDevices = static_cast<int>(DeviceLog::kBatch) * 2 + 100;
  {
    DeviceLog log(*store, clock);
    for (int i = 0; i < kDevices; ++i) log.Seen("alice", "d" + std::to_string(i));
    clock.Advance(5);
    log.Seen("alice", "d7");  // seen again: its time moves on
    log.Seen("bob", "phone");
    log.Seen("nobody", "phone");  // an unknown user: skipped, not a failure
    CHECK(log.dropped() == 0);
  }  // the destructor writes what is queued
  auto alice = store->Devices("alice");
  REQUIRE(alice.ok());
  REQUIRE(alice->size() == static_cast<std::size_t>(kDevices));
  for (const DeviceRecord& d : *alice) CHECK(d.last_seen == (d.device == "d7" ? 1'005 : 1'000));
  CHECK(*store->Devices("bob") == std::vector<DeviceRecord>{{"phone", 1'005}});
}

TEST_CASE("the device log counts a refused batch as dropped", "[device_log]") {
  std::unique_ptr<AccountStore> store = memory::OpenAccountStore();
  REQUIRE(store->CreateUser("alice", "h", 1).ok());
  ManualClock clock(1'000);
  {
    DeviceLog log(*store, clock);
    log.Seen("alice", "bad name");
    log.Seen("alice", "phone");
    // Written by the log's thread: wait for its round (generously; no timing asserted).
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (log.dropped() == 0 && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    CHECK(log.dropped() == 1);
  }
  CHECK(*store->Devices("alice") == std::vector<DeviceRecord>{{"phone", 1'000}});
}

}  // namespace
}  // namespace courier::server
