// counter.h (internal): a statistics counter of the engine (EngineStats).
//
// Thread-safety: Add and value from any thread. The atomics are relaxed: a
//   count orders nothing, and a reader may see each counter a little behind.
// Blocking: never.
#ifndef COURIER_CORE_SRC_COUNTER_H_
#define COURIER_CORE_SRC_COUNTER_H_

#include <atomic>
#include <cstdint>

namespace courier::internal {

class Counter {
 public:
  void Add(std::uint64_t n = 1) { n_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return n_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> n_{0};
};

}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_COUNTER_H_
