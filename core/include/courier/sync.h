// courier/sync.h: the mutex Courier's code locks with.
//
// A thin wrapper over std::mutex that carries Abseil's thread-safety
// annotations (so Clang's -Wthread-safety checks GUARDED_BY fields) and that
// ThreadSanitizer understands: Debian's prebuilt Abseil is not built with
// TSan, so TSan cannot see absl::Mutex's happens-before edges and would
// report races that are not there.
//
// Thread-safety: a Mutex is what makes other things thread-safe.
// Blocking: Lock and CondVar::Wait block; nothing else does.
#ifndef COURIER_CORE_SYNC_H_
#define COURIER_CORE_SYNC_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"

namespace courier {

// Not copyable or movable (as its std::mutex).
class ABSL_LOCKABLE Mutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `mu` for its scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A condition variable for courier::Mutex.
class CondVar {
 public:
  // REQUIRES: the caller holds `mu`. Returns with it held again.
  void Wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // As Wait, but returns after `timeout` at the latest.
  void WaitFor(Mutex* mu, std::chrono::milliseconds timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait_for(lock, timeout);
    lock.release();
  }
  void SignalAll() { cv_.notify_all(); }
  void Signal() { cv_.notify_one(); }

 private:
  std::condition_variable cv_;
};

}  // namespace courier

#endif  // COURIER_CORE_SYNC_H_
