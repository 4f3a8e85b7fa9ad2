// FrontQueue: a first-in first-out queue in one vector, for the store's
// per-inbox list of messages waiting for a delivered receipt.
//
// Why not std::deque: libstdc++'s deque allocates its map and a 512-byte
// node as soon as it exists, even empty: 576 bytes for every cached inbox,
// most of them idle (W4's idle connections, bench/README "Thirteenth
// session"). An empty FrontQueue holds no heap block; one that emptied and had
// grown past kKeepCapacity gives its block back.
//
// Elements live in items_[first_, items_.size()); pop_front() advances
// first_ and moves the live elements to the front once the dead ones are
// at least half the vector (amortized O(1) per element). The elements are
// contiguous, so a binary search over [begin(), end()) works.
//
// Thread-safety: none (a value type; the store uses it under its writer's
//   lock).
// Blocking: never.
#ifndef COURIER_ADAPTERS_ROCKSDB_SRC_FRONT_QUEUE_H_
#define COURIER_ADAPTERS_ROCKSDB_SRC_FRONT_QUEUE_H_

#include <cstddef>
#include <utility>
#include <vector>

namespace courier::rocksdb::internal {

template <typename T>
class FrontQueue {
 public:
  // An emptied queue with at most this many places keeps its block (a busy
  // inbox that drains one message at a time allocates nothing per message).
  static constexpr std::size_t kKeepCapacity = 16;

  using iterator = typename std::vector<T>::iterator;

  bool empty() const { return first_ == items_.size(); }
  std::size_t size() const { return items_.size() - first_; }
  // The heap block's places (0 while the queue has never held anything).
  std::size_t capacity() const { return items_.capacity(); }

  // REQUIRES: !empty().
  T& front() { return items_[first_]; }

  void push_back(T value) { items_.push_back(std::move(value)); }

  // REQUIRES: !empty().
  void pop_front() {
    items_[first_] = T();  // what the element owns goes now, not at compaction
    ++first_;
    if (first_ == items_.size()) {
      first_ = 0;
      if (items_.capacity() > kKeepCapacity) {
        std::vector<T>().swap(items_);
      } else {
        items_.clear();
      }
    } else if (2 * first_ >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(first_));
      first_ = 0;
    }
  }

  iterator begin() { return items_.begin() + static_cast<std::ptrdiff_t>(first_); }
  iterator end() { return items_.end(); }

 private:
  std::vector<T> items_;
  std::size_t first_ = 0;  // items_[0, first_) are popped
};

}  // namespace courier::rocksdb::internal

#endif  // COURIER_ADAPTERS_ROCKSDB_SRC_FRONT_QUEUE_H_
