// LazyBuffer: no block until bytes come, the bytes as given, the block
// given back by Reset (the carry and the frame reader's message buffer of
// every connection; connection_memory_test counts its size).
#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include "lazy_buffer.h"

namespace courier::websocket::internal {
namespace {

TEST_CASE("LazyBuffer holds no block until it holds bytes", "[websocket]") {
  LazyBuffer b;
  CHECK_FALSE(b.allocated());
  CHECK(b.empty());
  CHECK(b.size() == 0);
  CHECK(b.data() != nullptr);
  CHECK(b.view().empty());
  b.assign("", 0);
  b.append("x", 0);
  CHECK_FALSE(b.allocated());

  b.assign("abc", 3);
  CHECK(b.allocated());
  CHECK(b.view() == "abc");
  b.append("de", 2);
  CHECK(b.view() == "abcde");
  CHECK(std::memcmp(b.data(), "abcde", 5) == 0);

  b.assign("z", 0);  // an empty assign keeps the block, emptied
  CHECK(b.allocated());
  CHECK(b.empty());
  b.Reset();
  CHECK_FALSE(b.allocated());
  CHECK(b.capacity() == 0);
}

TEST_CASE("LazyBuffer's capacity counts only a heap buffer of its string", "[websocket]") {
  LazyBuffer b;
  b.assign("ab", 2);
  CHECK(b.capacity() == 0);  // inline in the std::string
  const std::string big(5000, 'q');
  b.append(big.data(), big.size());
  CHECK(b.capacity() >= 5002);
  CHECK(b.size() == 5002);
  b.clear();
  CHECK(b.capacity() >= 5002);  // clear keeps it
  b.shrink_to_fit();
  CHECK(b.capacity() == 0);
}

}  // namespace
}  // namespace courier::websocket::internal
