// The PresenceStore conformance suite against courier::memory: one
// in-process store shared by every node of the cluster.
#include "courier/memory.h"

#include <memory>

#include <catch2/catch.hpp>

#include "courier/clock.h"
#include "presence/presence_store_suite.h"
#include "support/status_matchers.h"

namespace {

std::unique_ptr<courier::testing::PresenceCluster> OpenMemoryCluster(const courier::Clock& clock,
                                                                     courier::TimeMs ttl_ms) {
  return courier::testing::OneStoreCluster(courier::memory::OpenPresenceStore(clock, ttl_ms));
}

}  // namespace

COURIER_PRESENCE_STORE_CONFORMANCE("memory", OpenMemoryCluster)

TEST_CASE("memory presence: a node alone in the store is told no other node holds devices",
          "[presence][memory]") {
  courier::ManualClock clock;
  auto store = courier::memory::OpenPresenceStore(clock, 60'000);
  CHECK_FALSE(store->MayHaveOtherNodes("n1"));  // nobody registered yet
  COURIER_REQUIRE_OK(store->Connect("alice", "phone", "n1", clock.NowMs()));
  COURIER_REQUIRE_OK(store->Heartbeat("n1", {{"bob", "phone"}}, clock.NowMs()));
  CHECK_FALSE(store->MayHaveOtherNodes("n1"));
  CHECK(store->MayHaveOtherNodes("n2"));  // n2 would wake n1's devices
  COURIER_REQUIRE_OK(store->Heartbeat("n2", {{"carol", "phone"}}, clock.NowMs()));
  CHECK(store->MayHaveOtherNodes("n1"));
}
