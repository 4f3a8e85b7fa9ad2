#include "courier/store_url.h"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

namespace courier {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

TEST_CASE("SplitStoreUrl: courier_ parameters are Courier's, the rest the driver's",
          "[store_url]") {
  StoreUrlParts parts =
      SplitStoreUrl("scheme://host/db?sslmode=require&courier_a=1&&courier_b&x=y=z&courier_c=");
  CHECK(parts.driver_url == "scheme://host/db?sslmode=require&x=y=z");
  CHECK(parts.courier_params == Params{{"courier_a", "1"}, {"courier_b", ""}, {"courier_c", ""}});
}

TEST_CASE("SplitStoreUrl: no '?' is left when no driver parameter is", "[store_url]") {
  CHECK(SplitStoreUrl("scheme://host/db").driver_url == "scheme://host/db");
  CHECK(SplitStoreUrl("scheme://host/db").courier_params.empty());
  StoreUrlParts parts = SplitStoreUrl("scheme://host/db?courier_a=1");
  CHECK(parts.driver_url == "scheme://host/db");
  CHECK(parts.courier_params == Params{{"courier_a", "1"}});
  CHECK(SplitStoreUrl("scheme://host/db?").driver_url == "scheme://host/db");
}

}  // namespace
}  // namespace courier
