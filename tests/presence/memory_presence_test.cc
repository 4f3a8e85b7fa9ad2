// The PresenceStore conformance suite against courier::memory: one
// in-process store shared by every node of the cluster.
#include "courier/memory.h"

#include <memory>

#include "presence/presence_store_suite.h"

namespace {

using ::courier::Clock;
using ::courier::PresenceStore;
using ::courier::TimeMs;
using ::courier::testing::PresenceCluster;

class MemoryCluster final : public PresenceCluster {
 public:
  MemoryCluster(const Clock& clock, TimeMs ttl_ms)
      : store_(courier::memory::OpenPresenceStore(clock, ttl_ms)) {}
  PresenceStore& Store(int) override { return *store_; }

 private:
  std::unique_ptr<PresenceStore> store_;
};

std::unique_ptr<PresenceCluster> OpenMemoryCluster(const Clock& clock, TimeMs ttl_ms) {
  return std::make_unique<MemoryCluster>(clock, ttl_ms);
}

}  // namespace

COURIER_PRESENCE_STORE_CONFORMANCE("memory", OpenMemoryCluster)
