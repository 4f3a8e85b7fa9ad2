// frame_queue.h (private): the write queue of one WebSocket connection.
//
// Thread-safety: none; used on the connection's strand.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_FRAME_QUEUE_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_FRAME_QUEUE_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace courier::websocket::internal {

// The write queue of one connection: FIFO of encoded frames. Unlike
// std::deque (which allocates a 512-byte block even when empty), it holds
// no memory once it empties.
class FrameQueue {
 public:
  bool empty() const { return head_ == items_.size(); }
  std::size_t size() const { return items_.size() - head_; }
  std::string& front() { return items_[head_]; }
  std::string& back() { return items_.back(); }
  void push_back(std::string frame) {
    if (items_.capacity() == 0) items_.reserve(4);
    items_.push_back(std::move(frame));
  }
  void pop_front() {
    std::string().swap(items_[head_]);
    if (++head_ == items_.size()) {
      clear();
    } else if (head_ >= 64 && head_ * 2 >= items_.size()) {
      // Never empty for long: drop the moved-from prefix now and then.
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void pop_back() {
    items_.pop_back();
    if (head_ == items_.size()) clear();
  }
  void clear() {
    std::vector<std::string>().swap(items_);
    head_ = 0;
  }

 private:
  std::vector<std::string> items_;
  std::size_t head_ = 0;  // items_[0, head_) are written and moved from
};

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_FRAME_QUEUE_H_
