// RecentSends: the engine's memory of recent (sender, cid) answers, a ring of
// slots with a hash index: found while remembered, the oldest forgotten first,
// a hit confirmed against the pair itself.
#include "recent_sends.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"

namespace courier::internal {
namespace {

TEST_CASE("RecentSends: a remembered pair is answered dup with its id and ts", "[recent]") {
  RecentSends recent(4);
  CHECK_FALSE(recent.Find("alice", "c1").has_value());
  recent.Remember("alice", "c1", "m1", 10);
  auto found = recent.Find("alice", "c1");
  REQUIRE(found.has_value());
  CHECK(found->cid == "c1");
  CHECK(found->id == "m1");
  CHECK(found->ts == 10);
  CHECK(found->duplicate);
  // Neither half alone, nor the halves moved across the separator, matches.
  CHECK_FALSE(recent.Find("alice", "c2").has_value());
  CHECK_FALSE(recent.Find("bob", "c1").has_value());
  CHECK_FALSE(recent.Find("alicec", "1").has_value());
  // Remembering the pair again replaces its answer and takes no new slot.
  recent.Remember("alice", "c1", "m9", 90);
  CHECK(recent.Find("alice", "c1")->id == "m9");
  CHECK(recent.size() == 1);
}

TEST_CASE("RecentSends: beyond capacity the oldest answers go first, slots reused",
          "[recent]") {
  constexpr int kCapacity = 100;
  RecentSends recent(kCapacity);
  auto cid = [](int i) { return absl::StrCat("a-long-client-message-id-", i); };
  auto sender = [](int i) { return absl::StrCat("sender-", i % 7); };
  for (int i = 0; i < 3 * kCapacity + 7; ++i) {
    recent.Remember(sender(i), cid(i), absl::StrCat("id-", i), i);
    CHECK(recent.size() == static_cast<std::size_t>(std::min(i + 1, kCapacity)));
  }
  const int last = 3 * kCapacity + 6;
  for (int i = 0; i <= last; ++i) {
    auto found = recent.Find(sender(i), cid(i));
    if (i > last - kCapacity) {
      REQUIRE(found.has_value());
      CHECK(found->id == absl::StrCat("id-", i));
      CHECK(found->ts == i);
    } else {
      CHECK_FALSE(found.has_value());
    }
  }
}

TEST_CASE("RecentSends: capacity 0 remembers nothing", "[recent]") {
  RecentSends recent(0);
  recent.Remember("alice", "c1", "m1", 1);
  CHECK_FALSE(recent.Find("alice", "c1").has_value());
  CHECK(recent.size() == 0);
}

}  // namespace
}  // namespace courier::internal
