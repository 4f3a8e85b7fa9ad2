// courier/name_key.h: a name inline up to 23 bytes, on the heap beyond, and
// a map that finds it by std::string or string_view.
#include "courier/name_key.h"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

namespace courier {
namespace {

TEST_CASE("NameKey keeps names of every length at the inline boundary", "[name_key]") {
  for (std::size_t n : {0u, 1u, 15u, 16u, 22u, 23u, 24u, 25u, 64u, 300u}) {
    std::string name;
    for (std::size_t i = 0; i < n; ++i) name.push_back(static_cast<char>('a' + i % 26));
    const NameKey key(name);
    CHECK(key.view() == name);
    CHECK(key.str() == name);
    CHECK(key.empty() == name.empty());
    // The bytes are the key's own, not a view of the source.
    if (n > 0) {
      CHECK(key.view().data() != name.data());
    }
    NameKey copy(key);
    CHECK(copy == key);
    CHECK(copy.view() == name);
    NameKey moved(std::move(copy));
    CHECK(moved.view() == name);
    CHECK(copy.empty());  // NOLINT(bugprone-use-after-move): a moved-from key is empty
    NameKey assigned("x");
    assigned = key;
    CHECK(assigned.view() == name);
    assigned = NameKey("short");
    CHECK(assigned.view() == "short");
    assigned = std::move(moved);
    CHECK(assigned.view() == name);
    const NameKey& self = assigned;
    assigned = self;  // self-assignment keeps the name
    CHECK(assigned.view() == name);
  }
}

TEST_CASE("NameKey names that differ only past the inline bytes are different", "[name_key]") {
  const std::string a(30, 'a');
  std::string b = a;
  b.back() = 'b';
  CHECK(NameKey(a) != NameKey(b));
  CHECK(NameKey(std::string(23, 'a')) != NameKey(std::string(24, 'a')));
  CHECK(NameKey("ab") != NameKey("abc"));
}

TEST_CASE("NameMap finds, inserts and erases by std::string and string_view", "[name_key]") {
  NameMap<int> map;
  std::vector<std::string> names;
  for (int i = 0; i < 200; ++i) {
    names.push_back("user_" + std::string(static_cast<std::size_t>(i % 40), 'x') + std::to_string(i));
  }
  for (int i = 0; i < 200; ++i) map[names[static_cast<std::size_t>(i)]] = i;
  REQUIRE(map.size() == 200);
  for (int i = 0; i < 200; ++i) {
    const std::string& name = names[static_cast<std::size_t>(i)];
    auto it = map.find(name);
    REQUIRE(it != map.end());
    CHECK(it->first.view() == name);
    CHECK(it->second == i);
    CHECK(map.contains(std::string_view(name)));
  }
  CHECK(map.find(std::string("nobody")) == map.end());
  CHECK(map.erase(names[7]) == 1);
  CHECK(map.erase(names[7]) == 0);
  CHECK_FALSE(map.contains(names[7]));
  auto [it, added] = map.try_emplace(names[8], 0);
  CHECK_FALSE(added);
  CHECK(it->second == 8);
  CHECK(map.size() == 199);
}

}  // namespace
}  // namespace courier
