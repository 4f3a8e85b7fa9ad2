// ReadinessSet: one epoll set per io loop for its plain connections'
// readiness (adapters/websocket/src/readiness_set.h), on socket pairs.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <string>
#include <memory>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "readiness_set.h"

namespace courier::websocket::internal {
namespace {

// A connected pair of non-blocking stream sockets: `ours` goes in the set,
// the test writes and closes `peer`.
struct Pair {
  int ours = -1;
  int peer = -1;
  Pair() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    ours = fds[0];
    peer = fds[1];
  }
  Pair(int ours_fd, int peer_fd) : ours(ours_fd), peer(peer_fd) {}
  ~Pair() {
    CloseOurs();
    ClosePeer();
  }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;
  void Send(char c = 'x') const { REQUIRE(::write(peer, &c, 1) == 1); }
  void CloseOurs() {
    if (ours >= 0) ::close(ours);
    ours = -1;
  }
  void ClosePeer() {
    if (peer >= 0) ::close(peer);
    peer = -1;
  }
  // Reads what `ours` holds; returns the bytes (0: end of stream, -1: none).
  int Drain() const {
    char buf[256];
    int total = 0;
    for (;;) {
      const ssize_t n = ::read(ours, buf, sizeof buf);
      if (n > 0) {
        total += static_cast<int>(n);
        continue;
      }
      if (n == 0) return total;
      return total > 0 ? total : -1;
    }
  }
};

// A connection's stand-in: counts its readiness and may act on it.
class Probe final : public Readable, public std::enable_shared_from_this<Probe> {
 public:
  int readable = 0;
  std::function<void(Probe&)> on_readable;
  std::shared_ptr<Readable> self() { return shared_from_this(); }
  void OnReadable() override {
    ++readable;
    if (on_readable) on_readable(*this);
  }
};

TEST_CASE("ReadinessSet: many sockets on one loop each get their readiness once",
          "[websocket]") {
  boost::asio::io_context io{1};
  ReadinessSet set(io);
  constexpr int kSockets = 300;  // more than one epoll_wait batch
  std::vector<std::unique_ptr<Pair>> pairs;
  std::vector<std::shared_ptr<Probe>> probes;
  std::vector<ReadinessSet::Handle> handles;
  for (int i = 0; i < kSockets; ++i) {
    pairs.push_back(std::make_unique<Pair>());
    probes.push_back(std::make_shared<Probe>());
    auto h = set.Add(pairs.back()->ours);
    REQUIRE(h.ok());
    handles.push_back(*h);
    REQUIRE(set.Wait(*h, probes.back()->self()));
  }
  CHECK(set.size() == kSockets);
  for (auto& p : pairs) p->Send();
  io.poll();
  for (int i = 0; i < kSockets; ++i) {
    INFO("socket " << i);
    CHECK(probes[i]->readable == 1);
    CHECK_FALSE(set.waiting(handles[i]));
    CHECK(pairs[i]->Drain() == 1);
  }
  // Waiting again: quiet sockets stay quiet, a second byte wakes only its
  // own connection.
  for (int i = 0; i < kSockets; ++i) REQUIRE(set.Wait(handles[i], probes[i]->self()));
  pairs[7]->Send();
  io.poll();
  for (int i = 0; i < kSockets; ++i) CHECK(probes[i]->readable == (i == 7 ? 2 : 1));
  for (auto& h : handles) set.Remove(h);
  CHECK(set.size() == 0);
  io.poll();  // the waiting references are let go from posted tasks
  for (auto& p : probes) CHECK(p.use_count() == 1);
  set.Shutdown();
}

TEST_CASE("ReadinessSet: readiness that comes while nobody waits is kept for the next Wait",
          "[websocket]") {
  boost::asio::io_context io{1};
  ReadinessSet set(io);
  Pair pair;
  auto probe = std::make_shared<Probe>();
  auto h = set.Add(pair.ours);
  REQUIRE(h.ok());
  // Bytes come while the connection is busy (not waiting): edge-triggered,
  // no second notice will come.
  pair.Send();
  io.poll();
  CHECK(probe->readable == 0);
  CHECK_FALSE(set.Wait(*h, probe->self()));  // read now
  CHECK(probe.use_count() == 1);             // nothing kept
  CHECK(pair.Drain() == 1);
  // Told once: the next Wait waits.
  CHECK(set.Wait(*h, probe->self()));
  io.poll();
  CHECK(probe->readable == 0);
  pair.Send();
  io.poll();
  CHECK(probe->readable == 1);
  CHECK(pair.Drain() == 1);
  // A read that began after the readiness came has taken its bytes.
  pair.Send();
  io.poll();
  set.ClearReady(*h);
  CHECK(pair.Drain() == 1);
  CHECK(set.Wait(*h, probe->self()));
  set.Remove(*h);
  io.poll();
  CHECK(probe.use_count() == 1);
  set.Shutdown();
}

TEST_CASE("ReadinessSet: a peer that hangs up while the connection waits is noticed, for good",
          "[websocket]") {
  boost::asio::io_context io{1};
  ReadinessSet set(io);
  Pair pair;
  auto probe = std::make_shared<Probe>();
  auto h = set.Add(pair.ours);
  REQUIRE(h.ok());
  REQUIRE(set.Wait(*h, probe->self()));
  // The last bytes and the end come together: a read returns the bytes
  // short; the end must still be read.
  pair.Send();
  pair.ClosePeer();
  io.poll();
  CHECK(probe->readable == 1);
  char c;
  CHECK(::read(pair.ours, &c, 1) == 1);
  CHECK_FALSE(set.Wait(*h, probe->self()));  // the hang-up stays known
  set.ClearReady(*h);
  CHECK_FALSE(set.Wait(*h, probe->self()));
  CHECK(pair.Drain() == 0);  // end of stream
  set.Remove(*h);
  CHECK_FALSE(h->valid());
  CHECK(set.size() == 0);
  set.Shutdown();
}

TEST_CASE("ReadinessSet: a connection removed while it waits is let go after Remove returns",
          "[websocket]") {
  boost::asio::io_context io{1};
  ReadinessSet set(io);
  Pair pair;
  std::weak_ptr<Probe> weak;
  ReadinessSet::Handle h;
  {
    auto probe = std::make_shared<Probe>();
    weak = probe;
    auto added = set.Add(pair.ours);
    REQUIRE(added.ok());
    h = *added;
    REQUIRE(set.Wait(h, probe->self()));
  }
  CHECK_FALSE(weak.expired());  // the set keeps a waiting connection
  set.Remove(h);
  CHECK_FALSE(weak.expired());  // not inside Remove (the connection calls it)
  io.poll();
  CHECK(weak.expired());
  set.Shutdown();
}

TEST_CASE("ReadinessSet: a new socket on a just-closed fd number gets no readiness of the old one",
          "[websocket]") {
  boost::asio::io_context io{1};
  ReadinessSet set(io);
  // `first` and `old` are both ready in one batch, `first` before `old`.
  // `first`'s handler removes and closes `old`, then adds a new socket that
  // takes `old`'s fd number (and its slot): the event fetched for `old`
  // must not reach the new one.
  Pair first_pair;
  auto old_pair = std::make_unique<Pair>();
  auto first = std::make_shared<Probe>();
  auto old = std::make_shared<Probe>();
  auto fresh = std::make_shared<Probe>();
  auto h_first = set.Add(first_pair.ours);
  auto h_old = set.Add(old_pair->ours);
  REQUIRE(h_first.ok());
  REQUIRE(h_old.ok());
  ReadinessSet::Handle old_handle = *h_old;
  const std::uint32_t old_index = old_handle.index;
  const int old_fd = old_pair->ours;
  REQUIRE(set.Wait(*h_first, first->self()));
  REQUIRE(set.Wait(old_handle, old->self()));
  std::unique_ptr<Pair> fresh_pair;
  ReadinessSet::Handle fresh_handle;
  first->on_readable = [&](Probe&) {
    set.Remove(old_handle);
    old_pair->CloseOurs();
    int fds[2];  // (the lowest free numbers: fds[0] is old_fd)
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    fresh_pair = std::make_unique<Pair>(fds[0], fds[1]);
    auto added = set.Add(fresh_pair->ours);
    REQUIRE(added.ok());
    fresh_handle = *added;
    REQUIRE(set.Wait(fresh_handle, fresh->self()));
  };
  first_pair.Send();
  old_pair->Send();
  io.poll();
  CHECK(first->readable == 1);
  CHECK(old->readable == 0);
  REQUIRE(fresh_pair != nullptr);
  // The same fd number and the same slot, another generation.
  CHECK(fresh_pair->ours == old_fd);
  CHECK(fresh_handle.index == old_index);
  CHECK(fresh->readable == 0);
  CHECK(set.waiting(fresh_handle));
  // The new socket's own readiness still comes.
  fresh_pair->Send();
  io.poll();
  CHECK(fresh->readable == 1);
  set.Remove(fresh_handle);
  set.Remove(*h_first);
  set.Shutdown();
}

TEST_CASE("ReadinessSet: a socket epoll refuses fails alone; the set goes on", "[websocket]") {
  boost::asio::io_context io{1};
  ReadinessSet set(io);
  // A regular file cannot be watched by epoll (EPERM).
  char path[] = "/tmp/readiness_set_test_XXXXXX";
  const int file = ::mkstemp(path);
  REQUIRE(file >= 0);
  ::unlink(path);
  auto refused = set.Add(file);
  CHECK_FALSE(refused.ok());
  CHECK(refused.status().message().find("epoll_ctl") != std::string::npos);
  ::close(file);
  CHECK(set.Add(-1).status().code() == absl::StatusCode::kUnavailable);
  CHECK(set.size() == 0);
  Pair pair;
  auto probe = std::make_shared<Probe>();
  auto h = set.Add(pair.ours);
  REQUIRE(h.ok());
  REQUIRE(set.Wait(*h, probe->self()));
  pair.Send();
  io.poll();
  CHECK(probe->readable == 1);
  set.Remove(*h);
  set.Shutdown();
}

TEST_CASE("ReadinessSet: Shutdown lets go of the waiting connections, which may Remove themselves",
          "[websocket]") {
  auto io = std::make_unique<boost::asio::io_context>(1);
  ReadinessSet set(*io);
  Pair pair;
  // A connection that leaves the set when it is destroyed (as a session's
  // destructor does).
  struct Leaving final : Readable {
    ReadinessSet* set = nullptr;
    ReadinessSet::Handle handle;
    bool* gone = nullptr;
    void OnReadable() override {}
    ~Leaving() {
      set->Remove(handle);
      *gone = true;
    }
  };
  bool gone = false;
  {
    auto leaving = std::make_shared<Leaving>();
    auto h = set.Add(pair.ours);
    REQUIRE(h.ok());
    leaving->set = &set;
    leaving->handle = *h;
    leaving->gone = &gone;
    REQUIRE(set.Wait(*h, leaving));
  }
  CHECK_FALSE(gone);
  set.Shutdown();
  CHECK(gone);
  CHECK(set.size() == 0);
  set.Shutdown();  // idempotent
  io.reset();      // the watch went before the io_context
}

}  // namespace
}  // namespace courier::websocket::internal
