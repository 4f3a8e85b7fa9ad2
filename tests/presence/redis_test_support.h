// Shared by the Redis tests: the server under test comes from the
// environment; without it each test reports itself skipped (exit 77).
#ifndef COURIER_TESTS_PRESENCE_REDIS_TEST_SUPPORT_H_
#define COURIER_TESTS_PRESENCE_REDIS_TEST_SUPPORT_H_

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "courier/redis.h"

namespace courier::testing {

// The url in COURIER_TEST_REDIS_URL; exits the process with 77 when unset.
inline std::string RedisUrlOrSkip() {
  const char* url = std::getenv("COURIER_TEST_REDIS_URL");
  if (url == nullptr || *url == '\0') {
    std::printf("SKIPPED: redis: COURIER_TEST_REDIS_URL not set\n");
    std::fflush(stdout);
    std::_Exit(77);
  }
  return url;
}

// A key prefix no other test (or test process) uses, so tests may share one
// server and run in parallel.
inline std::string UniquePrefix() {
  static std::atomic<int> counter{0};
  return "courier-test:" + std::to_string(getpid()) + ":" + std::to_string(counter++) + ":";
}

}  // namespace courier::testing

#endif  // COURIER_TESTS_PRESENCE_REDIS_TEST_SUPPORT_H_
