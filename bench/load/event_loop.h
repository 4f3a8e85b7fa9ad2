// event_loop.h: courier-load's own event loop, one thread, one epoll set.
//
// A turn of the loop is: one epoll_wait; every ready socket's handler (which
// reads until a short read and queues what it wants to send); the functions
// posted from other threads; then every socket that queued bytes during the
// turn writes them (one write system call per such socket and turn). Sockets
// are registered edge-triggered for input and output once, for their whole
// life: no epoll_ctl per read or write, no read that only learns EAGAIN.
//
// Ownership: the loop keeps a registered handler alive (a shared_ptr) until
//   Unregister, and until the end of that turn, so that a handler whose
//   socket ends inside a turn is not destroyed under the turn's other events.
// Thread-safety: Post may be called from any thread; everything else only on
//   the loop's thread (inside handlers or posted functions).
// Blocking: Run blocks until Stop; nothing else blocks.
#ifndef COURIER_BENCH_LOAD_EVENT_LOOP_H_
#define COURIER_BENCH_LOAD_EVENT_LOOP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"

namespace courier::load {

// A socket's owner on the loop.
class LoopHandler {
 public:
  virtual ~LoopHandler() = default;
  // The socket is ready: `events` is epoll's mask (EPOLLIN, EPOLLOUT,
  // EPOLLRDHUP, EPOLLHUP, EPOLLERR). Edge-triggered: read until a short read
  // or EAGAIN, write until done or EAGAIN.
  virtual void OnReady(std::uint32_t events) = 0;
  // The end of a turn in which the handler asked for it (Loop::WantFlush):
  // write what was queued.
  virtual void OnFlush() = 0;

 private:
  friend class EventLoop;
  bool flush_queued_ = false;  // the loop's: in this turn's flush list
};

class EventLoop {
 public:
  // Creates the epoll set and the wake-up eventfd; on failure, Run returns
  // the error at once (status()).
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  absl::Status status() const { return status_; }

  // Runs turns until Stop. Called once, by the loop's thread.
  void Run();
  // Ends Run after the current turn (any thread). Pending posts are dropped.
  void Stop();
  // Runs `fn` on the loop's thread, in a later turn (any thread; FIFO).
  void Post(std::function<void()> fn);

  // Loop thread only. Adds `fd` to the epoll set, edge-triggered for input
  // and output, and keeps `handler` alive until Unregister.
  absl::Status Register(int fd, std::shared_ptr<LoopHandler> handler);
  // Forgets `handler` (its fd must be closed by the caller right after; a
  // closed fd leaves the epoll set by itself). It is destroyed after the turn
  // at the earliest.
  void Unregister(LoopHandler* handler);
  // Calls handler->OnFlush() at the end of this turn (once however often it
  // is asked). REQUIRES: the handler is registered.
  void WantFlush(LoopHandler* handler);

 private:
  void RunPosted();

  absl::Status status_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  bool stop_ = false;  // loop thread
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;  // guarded by mu_
  bool stop_asked_ = false;                    // guarded by mu_
  std::vector<std::function<void()>> running_;  // loop thread: the posts being run
  absl::flat_hash_map<LoopHandler*, std::shared_ptr<LoopHandler>> live_;
  std::vector<LoopHandler*> flush_;               // this turn's, in order asked
  std::vector<std::shared_ptr<LoopHandler>> ended_;  // unregistered this turn
};

}  // namespace courier::load

#endif  // COURIER_BENCH_LOAD_EVENT_LOOP_H_
