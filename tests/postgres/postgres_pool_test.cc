// PgPool (adapters/postgres/src/pg_connection.h) against a live server: the
// wait for a free connection is bounded, and a released connection goes to
// a caller that waits for it.
#include <chrono>
#include <optional>
#include <thread>

#include <catch2/catch.hpp>

#include "pg_connection.h"
#include "pg_test_database.h"

namespace courier::postgres::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

PgSettings Settings() {
  PgSettings s;
  s.url = TestUrl();
  s.application_name = "courier-pool-test";
  return s;
}

TEST_CASE("PgPool: a full pool answers unavailable after the wait timeout", "[postgres][pool]") {
  PgPool pool(Settings(), 1, 100);
  auto held = pool.Acquire();
  COURIER_REQUIRE_OK(held);
  const auto start = steady_clock::now();
  auto second = pool.Acquire();
  const auto waited = steady_clock::now() - start;
  CHECK(absl::IsUnavailable(second.status()));
  CHECK(second.status().message().find("pool size 1") != absl::string_view::npos);
  CHECK(waited >= milliseconds(100));
  CHECK(waited < milliseconds(2'000));
}

TEST_CASE("PgPool: a released connection goes to the caller waiting for it",
          "[postgres][pool]") {
  PgPool pool(Settings(), 1, 10'000);
  std::optional<PgPool::Lease> held;
  {
    auto lease = pool.Acquire();
    COURIER_REQUIRE_OK(lease);
    held.emplace(std::move(lease).value());
  }
  absl::Status waiter_status = absl::UnknownError("not run");
  std::thread waiter([&] { waiter_status = pool.Acquire().status(); });
  std::this_thread::sleep_for(milliseconds(50));  // let it wait (not needed for correctness)
  const auto start = steady_clock::now();
  held.reset();  // back to the pool: wakes the waiter
  waiter.join();
  CHECK(waiter_status.ok());
  CHECK(steady_clock::now() - start < milliseconds(5'000));
}

}  // namespace
}  // namespace courier::postgres::testing
