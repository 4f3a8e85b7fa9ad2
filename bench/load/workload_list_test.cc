// --workloads: which workloads run, each once.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "workload_common.h"

namespace courier::load {
namespace {

using Names = std::vector<std::string>;

TEST_CASE("ExpandWorkloads: W3 is W3 then W3paced", "[load]") {
  absl::StatusOr<WorkloadList> l = ExpandWorkloads("W1,W3,W4");
  REQUIRE(l.ok());
  CHECK(l->names == Names{"W1", "W3", "W3paced", "W4"});
  CHECK(l->repeated.empty());
}

// The bug: "W3,W3paced" ran W3paced twice on the same accounts (the set-up
// then failed: "user ... exists" on a store, HTTP 409 over the API).
TEST_CASE("ExpandWorkloads: a workload named twice runs once", "[load]") {
  absl::StatusOr<WorkloadList> l = ExpandWorkloads("W3,W3paced");
  REQUIRE(l.ok());
  CHECK(l->names == Names{"W3", "W3paced"});
  CHECK(l->repeated == Names{"W3paced"});

  l = ExpandWorkloads("W3paced,W2,W3,W2");
  REQUIRE(l.ok());
  CHECK(l->names == Names{"W3paced", "W2", "W3"});
  CHECK(l->repeated == Names{"W3paced", "W2"});
}

TEST_CASE("ExpandWorkloads: an unknown name is an error, empty items are skipped", "[load]") {
  CHECK(ExpandWorkloads("W1,W6").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ExpandWorkloads("w1").status().code() == absl::StatusCode::kInvalidArgument);
  absl::StatusOr<WorkloadList> l = ExpandWorkloads(",W2,,W5,");
  REQUIRE(l.ok());
  CHECK(l->names == Names{"W2", "W5"});
}

}  // namespace
}  // namespace courier::load
