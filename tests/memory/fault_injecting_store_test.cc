// FaultInjectingStore: fails exactly the calls it is told to, forwards the rest.
#include "courier/memory.h"

#include <catch2/catch.hpp>

#include "conformance/message_store_suite.h"
#include "support/status_matchers.h"

namespace courier::memory {
namespace {

using ::courier::conformance::message_store_cases::CreateGroup;
using ::courier::conformance::message_store_cases::Message;
using ::courier::testing::StatusIs;

// A batch of one message from alice to bob.
std::vector<WriteOp> OneAppend(const std::string& cid) { return {Message("alice", cid, "bob")}; }

// A FaultInjectingStore over a fresh memory store, with no fault set.
struct FaultRig {
  std::unique_ptr<MessageStore> inner = OpenMessageStore();
  FaultInjectingStore store{*inner};
};

TEST_CASE_METHOD(FaultRig, "FaultInjectingStore: forwards when no fault is set",
                 "[memory][fault]") {
  auto results = store.Write(OneAppend("1"));
  REQUIRE(results.size() == 1);
  COURIER_REQUIRE_OK(results[0]);
  REQUIRE(*store.Head("bob") == 1);
  REQUIRE(*inner->Head("bob") == 1);
  COURIER_REQUIRE_OK(store.Ping());
  REQUIRE(store.calls() == 3);
  REQUIRE(store.failures() == 0);
}

TEST_CASE_METHOD(FaultRig, "FaultInjectingStore: FailAfter skips then fails n calls",
                 "[memory][fault]") {
  store.FailAfter(1, 2);
  auto skipped = store.Write(OneAppend("1"));
  COURIER_REQUIRE_OK(skipped.at(0));
  auto failed = store.Write(OneAppend("2"));
  REQUIRE_THAT(failed.at(0).status(), StatusIs(absl::StatusCode::kUnavailable));
  REQUIRE_THAT(store.Head("bob").status(), StatusIs(absl::StatusCode::kUnavailable));
  REQUIRE(*store.Head("bob") == 1);  // the failed write did not reach the store
  REQUIRE(store.failures() == 2);
  REQUIRE(store.calls() == 4);
}

TEST_CASE_METHOD(FaultRig, "FaultInjectingStore: a failed batch fails every op",
                 "[memory][fault]") {
  store.FailAfter(0, 1);
  std::vector<WriteOp> ops = OneAppend("1");
  ops.push_back(AttachOp{"bob", "phone"});
  auto results = store.Write(ops);
  REQUIRE(results.size() == 2);
  for (const auto& r : results) REQUIRE_THAT(r.status(), StatusIs(absl::StatusCode::kUnavailable));
  REQUIRE(*inner->Head("bob") == 0);
}

TEST_CASE_METHOD(FaultRig, "FaultInjectingStore: SetDown fails every method until up",
                 "[memory][fault]") {
  store.SetDown(true);
  REQUIRE_THAT(store.Ping(), StatusIs(absl::StatusCode::kUnavailable));
  REQUIRE_THAT(store.Fetch("bob", 0, 10).status(), StatusIs(absl::StatusCode::kUnavailable));
  REQUIRE_THAT(store.Cursor("bob", "d").status(), StatusIs(absl::StatusCode::kUnavailable));
  REQUIRE_THAT(store.Status("bob", "x").status(), StatusIs(absl::StatusCode::kUnavailable));
  REQUIRE_THAT(store.Prune({}).status(), StatusIs(absl::StatusCode::kUnavailable));
  REQUIRE(store.failures() == 5);
  store.SetDown(false);
  COURIER_REQUIRE_OK(store.Ping());
  REQUIRE_THAT(store.Status("bob", "x").status(), StatusIs(absl::StatusCode::kNotFound));
}

TEST_CASE_METHOD(FaultRig, "FaultInjectingStore: group reads forward and fail on command",
                 "[memory][fault]") {
  auto results = store.Write({WriteOp(CreateGroup("alice", "g1", {"bob"}))});
  COURIER_REQUIRE_OK(results.at(0));
  REQUIRE(store.Group("g1")->members.size() == 2);
  REQUIRE(store.GroupsOf("bob")->size() == 1);
  store.SetDown(true);
  REQUIRE_THAT(store.Group("g1").status(), StatusIs(absl::StatusCode::kUnavailable));
  REQUIRE_THAT(store.GroupsOf("bob").status(), StatusIs(absl::StatusCode::kUnavailable));
  REQUIRE(store.failures() == 2);
  store.SetDown(false);
  REQUIRE_THAT(store.Group("nope").status(), StatusIs(absl::StatusCode::kNotFound));
}

TEST_CASE("FaultInjectingStore: the failure point loops over every call", "[memory][fault]") {
  // The doFailLoop pattern: fail call k for k = 0, 1, ... until a scenario of
  // three writes runs through; each failure leaves a consistent store.
  for (std::uint64_t k = 0;; ++k) {
    FaultRig rig;
    rig.store.FailAfter(k, 1);
    int ok = 0;
    for (int i = 0; i < 3; ++i) {
      if (rig.store.Write(OneAppend(std::to_string(i))).at(0).ok()) ++ok;
    }
    REQUIRE(*rig.inner->Head("bob") == static_cast<Seq>(ok));
    if (rig.store.failures() == 0) {
      REQUIRE(k == 3);
      break;
    }
    REQUIRE(ok == 2);
  }
}

}  // namespace
}  // namespace courier::memory
