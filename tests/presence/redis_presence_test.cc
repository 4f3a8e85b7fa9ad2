// The PresenceStore conformance suite against courier::redis: one store per
// node, all on the server named by COURIER_TEST_REDIS_URL, isolated from
// other tests by a key prefix.
#include "courier/redis.h"

#include <map>
#include <memory>

#include "presence/presence_store_suite.h"
#include "presence/redis_test_support.h"
#include "support/status_matchers.h"

namespace {

using ::courier::Clock;
using ::courier::PresenceStore;
using ::courier::TimeMs;
using ::courier::testing::PresenceCluster;

class RedisCluster final : public PresenceCluster {
 public:
  RedisCluster(const Clock& clock, TimeMs ttl_ms) : clock_(clock) {
    auto options = courier::redis::RedisOptionsFromUrl(courier::testing::RedisUrlOrSkip());
    COURIER_REQUIRE_OK(options);
    options_ = *options;
    options_.ttl_ms = ttl_ms;
    options_.key_prefix = courier::testing::UniquePrefix();
  }
  // Opens node `node`'s store on first use.
  PresenceStore& Store(int node) override {
    auto& store = stores_[node];
    if (store == nullptr) {
      auto opened = courier::redis::OpenPresenceStore(options_, clock_);
      COURIER_REQUIRE_OK(opened);
      store = std::move(*opened);
    }
    return *store;
  }

 private:
  const Clock& clock_;
  courier::redis::RedisPresenceOptions options_;
  std::map<int, std::unique_ptr<PresenceStore>> stores_;
};

std::unique_ptr<PresenceCluster> OpenRedisCluster(const Clock& clock, TimeMs ttl_ms) {
  return std::make_unique<RedisCluster>(clock, ttl_ms);
}

}  // namespace

COURIER_PRESENCE_STORE_CONFORMANCE("redis", OpenRedisCluster)
