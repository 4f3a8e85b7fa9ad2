// tests/conformance/store_fixture.h: how a conformance suite gets its store.
//
// A suite asks its factory for one StoreFixture per test case (so every test
// case starts from an empty store) and calls Open() on it. A fixture of a
// durable adapter can be opened again on the same data: that is how the
// durability cases "restart" the store. The suite always destroys the store
// from the previous Open() before calling Open() again. StoreHarness is that
// loop, shared by every suite.
#ifndef COURIER_TESTS_CONFORMANCE_STORE_FIXTURE_H_
#define COURIER_TESTS_CONFORMANCE_STORE_FIXTURE_H_

#include <functional>
#include <memory>
#include <utility>

#include <catch2/catch.hpp>

#include "absl/status/statusor.h"
#include "support/status_matchers.h"
#include "support/temp_dir.h"

namespace courier::conformance {

// The matcher every suite checks statuses with.
using ::courier::testing::StatusIs;

template <class Store>
class StoreFixture {
 public:
  StoreFixture() = default;
  StoreFixture(const StoreFixture&) = delete;
  StoreFixture& operator=(const StoreFixture&) = delete;
  // Removes the fixture's data (temp files, a test database) if it has any.
  virtual ~StoreFixture() = default;

  // Opens the store on this fixture's data: empty on the first call, what
  // the previous store committed on later calls.
  virtual absl::StatusOr<std::unique_ptr<Store>> Open() = 0;
};

// A fixture made of two functions: `open` (called by every Open()) and
// `cleanup` (called once by the destructor, may be empty).
template <class Store>
class FunctionFixture final : public StoreFixture<Store> {
 public:
  FunctionFixture(std::function<absl::StatusOr<std::unique_ptr<Store>>()> open,
                  std::function<void()> cleanup)
      : open_(std::move(open)), cleanup_(std::move(cleanup)) {}
  ~FunctionFixture() override {
    if (cleanup_) cleanup_();
  }
  absl::StatusOr<std::unique_ptr<Store>> Open() override { return open_(); }

 private:
  std::function<absl::StatusOr<std::unique_ptr<Store>>()> open_;
  std::function<void()> cleanup_;
};

template <class Store>
std::unique_ptr<StoreFixture<Store>> MakeFixture(
    std::function<absl::StatusOr<std::unique_ptr<Store>>()> open,
    std::function<void()> cleanup = {}) {
  return std::make_unique<FunctionFixture<Store>>(std::move(open), std::move(cleanup));
}

// The value of `result`; the test stops (REQUIRE) on a status that is not
// OK, printing it. For the suites' one-line helpers (HeadOf, FriendsOf...).
template <class T>
T ValueOf(absl::StatusOr<T> result) {
  COURIER_REQUIRE_OK(result);
  return *std::move(result);
}

// A fixture on a fresh temp dir, removed with the fixture, for a store kept
// in files: every Open() calls `open(options)` with the options that
// `options_in` gives for the dir.
template <class Store, class Options>
std::unique_ptr<StoreFixture<Store>> TempDirFixture(
    absl::StatusOr<std::unique_ptr<Store>> (*open)(const Options&),
    const std::function<Options(const testing::TempDir& dir)>& options_in) {
  auto dir = std::make_shared<testing::TempDir>();
  const Options options = options_in(*dir);
  return MakeFixture<Store>([open, options] { return open(options); },
                            [dir]() mutable { dir.reset(); });
}

// A fixture and its open store, for one test case: `Harness h(factory);`
// then `h->Write(...)` or `Helper(*h, ...)`.
template <class Store>
struct StoreHarness {
  using Factory = std::function<std::unique_ptr<StoreFixture<Store>>()>;

  explicit StoreHarness(const Factory& factory) : fixture(factory()) {
    REQUIRE(fixture != nullptr);
    Reopen();
  }
  // Closes the store and opens it again on the same data.
  void Reopen() {
    store.reset();
    auto opened = fixture->Open();
    COURIER_REQUIRE_OK(opened);
    store = std::move(opened).value();
    REQUIRE(store != nullptr);
  }
  Store& operator*() { return *store; }
  Store* operator->() { return store.get(); }

  std::unique_ptr<StoreFixture<Store>> fixture;
  std::unique_ptr<Store> store;
};

}  // namespace courier::conformance

#endif  // COURIER_TESTS_CONFORMANCE_STORE_FIXTURE_H_
