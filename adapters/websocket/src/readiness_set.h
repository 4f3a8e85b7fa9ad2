// readiness_set.h (private): one epoll set per io loop for the input
// readiness of its plain connections.
//
// Why: a plain connection waits for input, then reads what its socket holds
// without blocking (read_path.h). Waiting through Asio (socket.async_wait)
// costs one epoll_ctl(EPOLL_CTL_MOD) per wait: Asio re-arms the descriptor
// for every non-speculative operation (Boost 1.74, epoll_reactor::start_op).
// Instead, each loop keeps an epoll set of its own: a connection's socket is
// added ONCE (EPOLLIN | EPOLLRDHUP | EPOLLET) and removed when the
// connection ends. The loop watches the set's epoll descriptor through Asio
// (one wait for the whole set: one epoll_ctl per loop turn that had input,
// not one per connection read); when it is readable, one epoll_wait(…, 0)
// hands every ready connection its readiness, then the wait is re-armed.
//
// The handle: an event carries the connection's slot index and the slot's
// generation, never a pointer. A removed slot's generation moves on, so an
// event fetched for a connection that has gone since (removed earlier in
// the same batch, or its slot or its fd number already reused by a new
// connection) matches nothing and is dropped.
//
// Edge-triggered: readiness is told once. A connection that is not waiting
// when its readiness comes (it is reading, has re-posted its reading, or is
// writing its 101 answer) does not lose it: the slot remembers it, and the
// next Wait returns false at once (read now). A hang-up or error
// (EPOLLRDHUP, EPOLLHUP, EPOLLERR) is remembered for good: every later Wait
// returns false, so that the connection reads until it sees the end (a read
// that returns the last bytes short would otherwise never be followed by
// the read that returns 0).
//
// The waiting connection: Wait keeps its shared_ptr in the slot until the
// readiness comes (then OnReadable runs, on the loop's thread, with that
// reference held) or the connection is removed (the reference is then
// released from a posted task, never inside Remove, which the connection
// itself calls). So, as with an Asio wait, a waiting idle connection is
// kept alive by its wait and by nothing else, and holds no buffer.
//
// Ownership: IoLoop owns one, beside its io_context. The epoll descriptor is
//   the set's (closed by its destructor); Shutdown lets go of the waiting
//   connections and of the Asio watch, and must run while the io_context
//   still exists (IoLoop::Destroy, before the io_context goes). Connections
//   destroyed afterwards (with the io_context's handlers) may still call
//   Remove, until the set is destroyed.
// Thread-safety: none: the loop's thread only; Shutdown, and the Removes of
//   connections destroyed with the io_context, on the thread that destroys
//   the loop after the loop's thread ended.
// Blocking: no (epoll_wait with a zero timeout; epoll_ctl).
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_READINESS_SET_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_READINESS_SET_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "absl/status/statusor.h"

namespace courier::websocket::internal {

// What waits for readiness: a plain connection.
class Readable {
 public:
  // The socket is readable, has hung up or failed: read it now (until
  // EAGAIN, a short read or the end). Runs on the loop's thread, from the
  // set's handler, with the reference given to Wait held.
  virtual void OnReadable() = 0;

 protected:
  ~Readable() = default;
};

class ReadinessSet {
 public:
  // A connection's place in the set. Default: none (Remove ignores it).
  struct Handle {
    static constexpr std::uint32_t kNone = 0xffffffffu;
    std::uint32_t index = kNone;
    std::uint32_t generation = 0;
    bool valid() const { return index != kNone; }
  };
  // One slot per connection in the set (the per-connection cost of waiting;
  // tests/websocket/connection_memory_test.cc).
  struct Slot {
    std::shared_ptr<Readable> waiter;  // while waiting
    std::uint32_t generation = 0;      // moves on at each Remove
    int fd = -1;                       // -1: free
    bool ready = false;                // readiness came while not waiting
    bool hung_up = false;              // the peer hung up or the socket failed
  };

  // Creates the epoll descriptor (a failure is kept and returned by Add).
  explicit ReadinessSet(boost::asio::io_context& io);
  // Closes the epoll descriptor. REQUIRES: Shutdown() ran (or nothing was
  // ever added).
  ~ReadinessSet();
  ReadinessSet(const ReadinessSet&) = delete;
  ReadinessSet& operator=(const ReadinessSet&) = delete;

  // Adds `fd` (a connected, non-blocking socket; not in the set). Readiness
  // that comes from now on is remembered until the first Wait. Fails (and
  // `fd` is not in the set) when the epoll set could not be made or
  // epoll_ctl refuses the socket; the caller then fails the connection.
  absl::StatusOr<Handle> Add(int fd);

  // Readiness already known (remembered, or a hang-up): returns false and
  // keeps nothing: the caller reads now. Otherwise keeps `waiter` and
  // returns true: its OnReadable runs once readiness comes.
  // REQUIRES: `h` is in the set; no Wait of `h` is pending.
  bool Wait(Handle h, std::shared_ptr<Readable> waiter);

  // Forgets remembered readiness (not a hang-up): the caller is about to
  // read what the socket holds. REQUIRES: `h` is in the set, not waiting.
  void ClearReady(Handle h);

  // Takes the socket out of the set (EPOLL_CTL_DEL: call before closing
  // it) and frees its slot; a pending Wait's reference is released from a
  // posted task. Sets `h` to none. No effect on a handle of none or one
  // already removed.
  void Remove(Handle& h);

  // Releases the waiting connections and stops watching (idempotent); from
  // then on nothing is dispatched. Connections released here may Remove
  // themselves as they go.
  void Shutdown();

  // Sockets in the set.
  std::size_t size() const { return in_use_; }
  // True while `h` is in the set and waits for readiness.
  bool waiting(Handle h) const;

  // The set's handler (on the loop's thread).
  void OnWatchReady(const boost::system::error_code& ec);

 private:
  using Descriptor =
      boost::asio::posix::basic_stream_descriptor<boost::asio::io_context::executor_type>;
  static constexpr int kBatch = 128;  // events per epoll_wait

  Slot* Find(Handle h);
  absl::Status StartWatching();
  void Watch();
  void Dispatch(std::uint64_t data, std::uint32_t events);

  boost::asio::io_context& io_;
  int epfd_ = -1;
  std::string create_error_;  // why epfd_ is -1
  std::optional<Descriptor> watch_;
  bool shut_down_ = false;
  // A deque: it grows by blocks and never moves a slot, so it leaves no
  // freed array behind at each doubling (a vector of 8,192 slots freed the
  // 4,096, 2,048, ... before it: as much again, held by the allocator) and
  // has no unused half (bench/README.md, W4).
  std::deque<Slot> slots_;
  std::vector<std::uint32_t> free_;  // indexes of free slots
  std::size_t in_use_ = 0;
};

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_READINESS_SET_H_
