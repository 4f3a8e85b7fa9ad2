// courier-load's event loop: posts in order on the loop's thread, reads
// until a short read on an edge, one flush per turn, handlers kept alive
// through the turn that unregisters them.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "event_loop.h"

namespace courier::load {
namespace {

TEST_CASE("EventLoop: posts run in order on the loop's thread; Stop ends Run", "[load]") {
  EventLoop loop;
  REQUIRE(loop.status().ok());
  std::thread t([&] { loop.Run(); });
  std::vector<int> seen;  // written by the loop's thread only
  std::promise<std::thread::id> where;
  for (int i = 0; i < 100; ++i) loop.Post([&seen, i] { seen.push_back(i); });
  loop.Post([&] { where.set_value(std::this_thread::get_id()); });
  const std::thread::id loop_thread = where.get_future().get();
  const std::thread::id runner = t.get_id();
  loop.Stop();
  t.join();
  CHECK(loop_thread == runner);
  REQUIRE(seen.size() == 100);
  for (int i = 0; i < 100; ++i) CHECK(seen[i] == i);
}

// What a Reader saw; outlives it.
struct ReaderLog {
  std::string got;
  int reads = 0;
  int flushes = 0;
  bool flushed_after_unregister = false;  // OnFlush ran on it after Unregister
  std::atomic<int> destroyed{0};
  std::promise<void> done;
};

// Reads everything on each edge; asks for a flush three times per event;
// unregisters itself once it has 10 bytes.
class Reader final : public LoopHandler {
 public:
  Reader(EventLoop& loop, int fd, ReaderLog& log) : loop_(loop), fd_(fd), log_(log) {}
  ~Reader() override { log_.destroyed.fetch_add(1); }
  void OnReady(std::uint32_t) override {
    for (;;) {
      char buf[4];
      const ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n <= 0) break;
      ++log_.reads;
      log_.got.append(buf, static_cast<std::size_t>(n));
      if (static_cast<std::size_t>(n) < sizeof(buf)) break;  // short: empty
    }
    for (int i = 0; i < 3; ++i) loop_.WantFlush(this);
    if (log_.got.size() >= 10) {
      loop_.Unregister(this);  // still alive until the turn ends
      unregistered_ = true;
    }
  }
  void OnFlush() override {
    ++log_.flushes;
    if (unregistered_) {
      log_.flushed_after_unregister = log_.destroyed.load() == 0;
      log_.done.set_value();
    }
  }

 private:
  EventLoop& loop_;
  int fd_;
  ReaderLog& log_;
  bool unregistered_ = false;
};

TEST_CASE("EventLoop: an edge reads until a short read; one flush per turn", "[load]") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
  ReaderLog log;
  EventLoop loop;
  auto reader = std::make_shared<Reader>(loop, fds[0], log);
  std::future<void> done = log.done.get_future();
  // Ten bytes before the loop runs: one edge, three reads (4 + 4 + 2).
  REQUIRE(::write(fds[1], "0123456789", 10) == 10);
  std::promise<void> registered;
  loop.Post([&] {
    REQUIRE(loop.Register(fds[0], std::move(reader)).ok());
    registered.set_value();
  });
  std::thread t([&] { loop.Run(); });
  registered.get_future().get();
  done.get();
  loop.Stop();
  t.join();
  CHECK(log.got == "0123456789");
  CHECK(log.reads == 3);
  CHECK(log.flushes == 1);       // asked three times in the turn
  CHECK(log.flushed_after_unregister);
  CHECK(log.destroyed.load() == 1);  // gone at the end of that turn
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace courier::load
