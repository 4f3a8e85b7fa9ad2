// loop_deadlines.cc: see loop_deadlines.h.
#include "loop_deadlines.h"

#include <utility>

namespace courier::websocket::internal {

LoopDeadlines::LoopDeadlines(boost::asio::io_context& io) { timer_.emplace(io); }

void LoopDeadlines::Place(std::size_t i, Slot slot) {
  heap_[i] = slot;
  slot.who->index_ = static_cast<std::uint32_t>(i);
}

void LoopDeadlines::SiftUp(std::size_t i, Slot slot) {
  while (i > 0) {
    const std::size_t parent = (i - 1) / 2;
    if (!(slot.when < heap_[parent].when)) break;
    Place(i, heap_[parent]);
    i = parent;
  }
  Place(i, slot);
}

void LoopDeadlines::SiftDown(std::size_t i, Slot slot) {
  const std::size_t n = heap_.size();
  for (;;) {
    std::size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_[child + 1].when < heap_[child].when) ++child;
    if (!(heap_[child].when < slot.when)) break;
    Place(i, heap_[child]);
    i = child;
  }
  Place(i, slot);
}

void LoopDeadlines::RemoveAt(std::size_t i) {
  Deadline* gone = heap_[i].who;
  const Slot last = heap_.back();
  heap_.pop_back();
  gone->index_ = Deadline::kNotArmed;
  if (i < heap_.size()) {
    // The last slot takes the hole, then moves up or down.
    if (i > 0 && last.when < heap_[(i - 1) / 2].when) {
      SiftUp(i, last);
    } else {
      SiftDown(i, last);
    }
  }
  // An empty heap gives its array back (an idle server holds none).
  if (heap_.empty()) std::vector<Slot>().swap(heap_);
}

void LoopDeadlines::Arm(Deadline& d, Clock::time_point when) {
  d.when_ = when;
  if (d.armed()) {
    const std::size_t i = d.index_;
    const Slot slot{when, &d};
    if (i > 0 && when < heap_[(i - 1) / 2].when) {
      SiftUp(i, slot);
    } else {
      SiftDown(i, slot);
    }
  } else {
    if (heap_.size() >= Deadline::kNotArmed) return;  // (never: 4 billion connections)
    heap_.push_back(Slot{when, &d});
    SiftUp(heap_.size() - 1, Slot{when, &d});
  }
  Wake();
}

void LoopDeadlines::Cancel(Deadline& d) {
  if (d.armed()) RemoveAt(d.index_);
}

void LoopDeadlines::Wake() {
  if (heap_.empty() || !timer_.has_value()) return;
  const Clock::time_point earliest = heap_.front().when;
  if (waiting_ && !(earliest < waits_until_)) return;
  waits_until_ = earliest;
  waiting_ = true;
  timer_->expires_at(earliest);  // cancels a wait in flight (it completes aborted)
  timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // replaced by a wait for an earlier deadline, or shut down
    OnTimer();
  });
}

void LoopDeadlines::OnTimer() {
  waiting_ = false;
  const Clock::time_point now = Clock::now();
  // Only deadlines due now: one that fires may set another, already due,
  // which then runs on the next wait (never in a loop here).
  std::size_t budget = heap_.size();
  while (!heap_.empty() && !(now < heap_.front().when) && budget-- > 0) {
    Deadline* d = heap_.front().who;
    RemoveAt(0);
    d->OnDeadline();
  }
  Wake();
}

void LoopDeadlines::Shutdown() {
  timer_.reset();
  waiting_ = false;
}

}  // namespace courier::websocket::internal
