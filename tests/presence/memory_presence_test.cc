// The PresenceStore conformance suite against courier::memory: one
// in-process store shared by every node of the cluster.
#include <memory>

#include "courier/memory.h"

namespace courier::testing {

struct MemoryBackend {
  static constexpr const char* kName = "memory";
  MemoryBackend(const Clock& clock, TimeMs ttl_ms)
      : store(memory::OpenPresenceStore(clock, ttl_ms)) {}
  PresenceStore& Store(int) { return *store; }
  std::unique_ptr<PresenceStore> store;
};

}  // namespace courier::testing

#define COURIER_PRESENCE_BACKEND ::courier::testing::MemoryBackend
#include "presence/presence_store_suite.h"
