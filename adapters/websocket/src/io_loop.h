// io_loop.h (private): one io thread's event loop and its mailbox.
//
// The server runs io_threads loops, each an io_context run by exactly one
// thread (concurrency hint 1). A connection lives on one loop for its whole
// life: its handlers run on that thread only, so a connection needs no
// strand and no lock, and nothing on the hot path is shared between loops.
//
// Two ways in from other threads, both batched:
//  * executor(): the courier::Executor the engine is given for the loop's
//    connections (Transport::executor()): the engine's commit stage hands
//    back all the results of one batch for this loop, and the batch's
//    events for the loop's sessions, in ONE task.
//  * Deliver(): frames for a connection of this loop sent from another
//    thread (a page fetched, a presence or typing frame sent on the
//    delivery pool). They wait in the mailbox; the first one of a burst
//    posts one drain task, which hands every waiting delivery to its
//    connection.
//
// Ownership: shared (the server, and the transports and engine lanes of its
//   connections, which may outlive the server when a library user stops the
//   server before the engine). The server calls Close() before its threads
//   stop, and Destroy() before the rest of its context goes: Destroy
//   destroys the io_context and with it the connections' pending handlers,
//   after the readiness set let go of the connections waiting for input.
//   (The connections' deadlines and readiness set outlive the io_context: a
//   connection destroyed with it cancels its deadline and leaves the set.)
//   After Close, Posts and Deliveries are destroyed unrun (a lane task
//   destroyed unrun goes back to the engine, see courier/transport.h).
// Thread-safety: executor(), Deliver, OnThisThread and Close from any
//   thread; Run on the loop's one thread; Destroy after that thread ended.
// Blocking: Run blocks until the io_context stops.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_IO_LOOP_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_IO_LOOP_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "courier/executor.h"
#include "loop_deadlines.h"
#include "outbox.h"
#include "readiness_set.h"

namespace courier::websocket::internal {

struct ServerContext;

class IoLoop : public std::enable_shared_from_this<IoLoop> {
 public:
  // `context`: the server whose connections the loop runs (context()); it
  // outlives the loop.
  explicit IoLoop(ServerContext& context);
  // Destroys the io_context first (as Destroy), while deadlines() lives.
  ~IoLoop();
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  // The server's context, for the loop's connections (they keep no
  // pointer of their own to it: a WebSocket session's 8 bytes).
  ServerContext& context() const { return context_; }
  // REQUIRES: before Destroy().
  boost::asio::io_context& io() { return *io_; }
  // The deadlines of the loop's connections (one timer for all of them).
  // REQUIRES: on the loop's thread (or, after it ended, the destroying one).
  LoopDeadlines& deadlines() { return deadlines_; }
  // The readiness of the loop's plain connections (one epoll set for all
  // of them). REQUIRES: as deadlines().
  ReadinessSet& readiness() { return readiness_; }
  // Runs the loop on the calling thread until the io_context stops.
  void Run();
  // True when called by the thread running this loop.
  bool OnThisThread() const;

  const std::shared_ptr<Executor>& executor() const { return executor_; }

  // Hands `frames` to `outbox` (a connection of this loop) on the loop's
  // thread, in order with its other deliveries.
  void Deliver(std::weak_ptr<Outbox> outbox, EncodedFrames frames);
  // Then closes it with `code` (after the frames delivered before).
  void DeliverClose(std::weak_ptr<Outbox> outbox, std::uint16_t code, std::string reason);

  // On the loop's thread, before anything is queued to a connection
  // directly: hands over what waits in the mailbox first, so that a
  // connection's frames keep the order in which they were sent whatever
  // thread sent them. Cheap when the mailbox is empty (one atomic load).
  void DeliverWaiting() {
    if (has_mail_.load(std::memory_order_acquire)) DrainMailbox();
  }

  // Stops taking work (see above). Idempotent.
  void Close();
  // REQUIRES: Close() was called and Run() returned (or never ran).
  void Destroy();

  // The task Deliver posts (on the loop's thread).
  void OnDrainTask();

 private:
  class LoopExecutor;
  struct Delivery {
    std::weak_ptr<Outbox> outbox;
    EncodedFrames frames;
    std::optional<std::pair<std::uint16_t, std::string>> close;  // after the frames
  };
  void Add(Delivery d);
  void DrainMailbox();

  ServerContext& context_;
  std::unique_ptr<boost::asio::io_context> io_;
  LoopDeadlines deadlines_;  // outlives io_'s handlers (see ~IoLoop)
  ReadinessSet readiness_;   // likewise
  std::shared_ptr<LoopExecutor> impl_;
  std::shared_ptr<Executor> executor_;  // impl_, as a courier::Executor

  absl::Mutex mu_;
  std::vector<Delivery> mailbox_ ABSL_GUARDED_BY(mu_);
  bool drain_posted_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> has_mail_{false};  // mailbox_ is not empty
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_IO_LOOP_H_
