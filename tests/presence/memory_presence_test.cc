// The PresenceStore conformance suite against courier::memory: one
// in-process store shared by every node of the cluster.
#include "courier/memory.h"

#include <memory>

#include "presence/presence_store_suite.h"

namespace {

std::unique_ptr<courier::testing::PresenceCluster> OpenMemoryCluster(const courier::Clock& clock,
                                                                     courier::TimeMs ttl_ms) {
  return courier::testing::OneStoreCluster(courier::memory::OpenPresenceStore(clock, ttl_ms));
}

}  // namespace

COURIER_PRESENCE_STORE_CONFORMANCE("memory", OpenMemoryCluster)
