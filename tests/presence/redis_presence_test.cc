// The PresenceStore conformance suite against courier::redis: one store per
// node, all on the server named by COURIER_TEST_REDIS_URL, isolated from
// other tests by a key prefix.
#include <map>
#include <memory>

#include "courier/redis.h"
#include "presence/redis_test_support.h"
#include "support/status_matchers.h"

namespace courier::testing {

struct RedisBackend {
  static constexpr const char* kName = "redis";
  RedisBackend(const Clock& clock, TimeMs ttl_ms) : clock_(clock) {
    auto options = redis::RedisOptionsFromUrl(RedisUrlOrSkip());
    COURIER_REQUIRE_OK(options);
    options_ = *options;
    options_.ttl_ms = ttl_ms;
    options_.key_prefix = UniquePrefix();
  }
  PresenceStore& Store(int node) {
    auto& store = stores_[node];
    if (store == nullptr) {
      auto opened = redis::OpenPresenceStore(options_, clock_);
      COURIER_REQUIRE_OK(opened);
      store = std::move(*opened);
    }
    return *store;
  }

  const Clock& clock_;
  redis::RedisPresenceOptions options_;
  std::map<int, std::unique_ptr<PresenceStore>> stores_;
};

}  // namespace courier::testing

#define COURIER_PRESENCE_BACKEND ::courier::testing::RedisBackend
#include "presence/presence_store_suite.h"
