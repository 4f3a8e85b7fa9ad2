// small_mutex.h (internal): a mutex of 4 bytes, for objects there is one of
// per connected device.
//
// std::mutex (courier::Mutex) is 40 bytes on glibc; a DeviceSession has one
// per connection, so an idle server paid 40 bytes per connection for a lock
// that is rarely contended (the io thread, the delivery executor and a
// commit's completion meet on it now and then). SmallMutex is the classic
// three-state futex lock (0 free, 1 held, 2 held and maybe waited for; as
// in Drepper, "Futexes Are Tricky", mutex2) on one std::atomic<uint32_t>,
// parking waiters with C++20 atomic wait/notify (a futex on Linux). Not
// fair, not recursive, no timed lock, no condition variable; ThreadSanitizer
// sees its atomics, so the happens-before of Lock/Unlock is checked.
//
// Thread-safety: what makes other things thread-safe.
// Blocking: Lock blocks while another thread holds it.
#ifndef COURIER_CORE_SRC_SMALL_MUTEX_H_
#define COURIER_CORE_SRC_SMALL_MUTEX_H_

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"

namespace courier::internal {

// Not copyable or movable.
class ABSL_LOCKABLE SmallMutex {
 public:
  SmallMutex() = default;
  SmallMutex(const SmallMutex&) = delete;
  SmallMutex& operator=(const SmallMutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    std::uint32_t seen = kFree;
    if (state_.compare_exchange_strong(seen, kHeld, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
      return;
    }
    // Contended: mark it waited for, and park until it is free.
    if (seen != kWaited) seen = state_.exchange(kWaited, std::memory_order_acquire);
    while (seen != kFree) {
      state_.wait(kWaited, std::memory_order_relaxed);
      seen = state_.exchange(kWaited, std::memory_order_acquire);
    }
  }

  void Unlock() ABSL_UNLOCK_FUNCTION() {
    if (state_.exchange(kFree, std::memory_order_release) == kWaited) state_.notify_one();
  }

 private:
  static constexpr std::uint32_t kFree = 0;
  static constexpr std::uint32_t kHeld = 1;    // no thread waits
  static constexpr std::uint32_t kWaited = 2;  // a thread may wait
  std::atomic<std::uint32_t> state_{kFree};
};
static_assert(sizeof(SmallMutex) == 4);

// Holds `mu` for its scope.
class ABSL_SCOPED_LOCKABLE SmallMutexLock {
 public:
  explicit SmallMutexLock(SmallMutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
  }
  ~SmallMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  SmallMutexLock(const SmallMutexLock&) = delete;
  SmallMutexLock& operator=(const SmallMutexLock&) = delete;

 private:
  SmallMutex* const mu_;
};

}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_SMALL_MUTEX_H_
