// SyscallCounter: socket calls that /proc/PID/io does not count are counted.
#include "syscall_counter.h"

#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

namespace courier::load {
namespace {

TEST_CASE("SyscallCounter counts sendto/recvfrom on sockets, of threads started later too",
          "[bench]") {
  auto counter = SyscallCounter::Open(getpid());
  if (absl::IsUnavailable(counter.status()) || absl::IsPermissionDenied(counter.status())) {
    // No tracefs or no right to trace here: courier-load then falls back to
    // /proc/PID/io and says so. Nothing of the counter can be checked.
    WARN("syscall tracepoints not usable here: " << counter.status().ToString());
    return;
  }
  REQUIRE(counter.ok());
  auto before = (*counter)->Read();
  REQUIRE(before.ok());
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  std::thread later([&] {  // started after Open: counted through inherit
    for (int i = 0; i < 7; ++i) REQUIRE(::sendto(sv[0], "x", 1, 0, nullptr, 0) == 1);
  });
  later.join();
  char buf[16];
  std::size_t got = 0;
  while (got < 7) {
    const ssize_t n = ::recvfrom(sv[1], buf, sizeof buf, 0, nullptr, nullptr);
    REQUIRE(n > 0);
    got += static_cast<std::size_t>(n);
  }
  ::close(sv[0]);
  ::close(sv[1]);
  auto after = (*counter)->Read();
  REQUIRE(after.ok());
  CHECK(after->writes >= before->writes + 7);
  CHECK(after->reads >= before->reads + 1);
  CHECK(SyscallCounter::Open(2147483600).status().code() == absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace courier::load
