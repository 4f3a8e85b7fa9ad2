// loop_deadlines.h (private): one timer per io loop for all its
// connections' deadlines.
//
// A WebSocket connection always has one deadline running (the guard of its
// opening or closing handshake, the wait for hello, or idleness; see
// link_state.h). Instead of an Asio steady_timer per connection (its 112
// bytes, a timer-queue entry and an operation object in flight per
// connection, a cancel and a new wait at each change), the loop keeps the
// deadlines of all its connections in one binary min-heap and one
// steady_timer waits for the earliest. A connection holds a Deadline: its
// time and its place in the heap (16 bytes).
//
// Firing: when the timer completes, every deadline whose time has come is
// taken out of the heap, in time order, and its OnDeadline runs (which may
// set a new one). The timer waits for the earliest again; it is re-armed
// only when a new deadline is earlier than the one it waits for (a later or
// removed earliest deadline only makes it fire early, and it then waits
// again).
//
// Ownership: IoLoop owns one. A Deadline must be cancelled (or have fired)
//   before it is destroyed; the heap holds raw pointers.
// Thread-safety: none: the loop's thread only (the connections' deadlines
//   are set by their handlers). Shutdown and the destructors of connections
//   whose handlers are destroyed unrun run on the thread that destroys the
//   loop, after the loop's thread ended.
// Blocking: no.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_LOOP_DEADLINES_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_LOOP_DEADLINES_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace courier::websocket::internal {

class LoopDeadlines;

// One deadline of a connection; the connection derives from it.
class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  bool armed() const { return index_ != kNotArmed; }
  Clock::time_point when() const { return when_; }

 protected:
  Deadline() = default;
  // REQUIRES: not armed (cancelled or fired).
  ~Deadline() = default;
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // The time has come. The deadline is no longer armed when this runs.
  virtual void OnDeadline() = 0;

 private:
  friend class LoopDeadlines;
  static constexpr std::uint32_t kNotArmed = ~std::uint32_t{0};

  Clock::time_point when_{};
  std::uint32_t index_ = kNotArmed;  // place in the heap
};

class LoopDeadlines {
 public:
  using Clock = Deadline::Clock;

  explicit LoopDeadlines(boost::asio::io_context& io);
  LoopDeadlines(const LoopDeadlines&) = delete;
  LoopDeadlines& operator=(const LoopDeadlines&) = delete;

  // Sets `d` to fire at `when` (replacing the time it had).
  void Arm(Deadline& d, Clock::time_point when);
  // `d` will not fire (no-op when not armed).
  void Cancel(Deadline& d);
  // One deadline's place in the heap (per connection: with the Deadline
  // inside the connection, all a connection's timing costs).
  struct Slot {
    Clock::time_point when;
    Deadline* who;
  };

  // Deadlines waiting now.
  std::size_t size() const { return heap_.size(); }
  // Bytes of the heap's array (the per-connection part of this class).
  std::size_t heap_capacity_bytes() const { return heap_.capacity() * sizeof(Slot); }

  // Destroys the timer; later Arms only keep the heap. REQUIRES: before the
  // io_context is destroyed.
  void Shutdown();

 private:
  void Place(std::size_t i, Slot slot);
  void SiftUp(std::size_t i, Slot slot);
  void SiftDown(std::size_t i, Slot slot);
  void RemoveAt(std::size_t i);
  // The timer waits for the earliest deadline, unless it already waits for
  // one at least as early.
  void Wake();
  void OnTimer();

  std::vector<Slot> heap_;
  std::optional<boost::asio::steady_timer> timer_;
  bool waiting_ = false;             // a wait of timer_ is in flight
  Clock::time_point waits_until_{};  // ... for this time
};

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_LOOP_DEADLINES_H_
