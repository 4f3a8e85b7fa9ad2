// tests/support/tsan_absl_mutex.cc: makes absl::Mutex visible to
// ThreadSanitizer when Abseil itself was not built with TSan.
//
// Debian's libabsl is compiled without -fsanitize=thread, so the TSan
// annotations inside absl::Mutex are compiled out and every access guarded by
// an absl::Mutex is reported as a data race. This file, linked into a TSan
// test executable only, interposes the exported locking functions of the
// shared libabsl_synchronization: each wrapper calls the real function (found
// with dlsym(RTLD_NEXT)) and tells TSan about the happens-before edge it makes
// (__tsan_release before giving the mutex up, __tsan_acquire after taking
// it). Real races on data NOT guarded by the mutex are still reported.
//
// Build only with -fsanitize=thread against the SHARED Abseil library; the
// test CMakeLists add it when COURIER_SANITIZE contains "thread".
#if defined(__SANITIZE_THREAD__)

#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace {

// The real function behind `mangled`, looked up once.
template <class Fn>
Fn Real(const char* mangled) {
  void* symbol = dlsym(RTLD_NEXT, mangled);
  if (symbol == nullptr) {
    std::fprintf(stderr, "tsan_absl_mutex: %s not found: %s\n", mangled, dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(symbol);
}

#define COURIER_REAL_(type, mangled)                 \
  static const auto real = Real<type>(mangled);

// __tsan_acquire(mu) on leaving the scope: once the real call has returned.
class AcquireOnExit {
 public:
  explicit AcquireOnExit(void* mu) : mu_(mu) {}
  AcquireOnExit(const AcquireOnExit&) = delete;
  AcquireOnExit& operator=(const AcquireOnExit&) = delete;
  ~AcquireOnExit() { __tsan_acquire(mu_); }

 private:
  void* mu_;
};

// The three edges a wrapper tells TSan about, each around the real call
// `real(args...)` (the arguments passed on as they came), whose result it
// returns. Takes: the call takes `mu`.
template <class Fn, class... Args>
auto Takes(void* mu, Fn real, Args&&... args) {
  AcquireOnExit acquire(mu);
  return real(std::forward<Args>(args)...);
}

// Gives: the call gives `mu` up.
template <class Fn, class... Args>
auto Gives(void* mu, Fn real, Args&&... args) {
  __tsan_release(mu);
  return real(std::forward<Args>(args)...);
}

// WaitsOn: the call gives `mu` up while it waits and takes it back before
// it returns (whether the wait timed out or not).
template <class Fn, class... Args>
auto WaitsOn(void* mu, Fn real, Args&&... args) {
  __tsan_release(mu);
  AcquireOnExit acquire(mu);
  return real(std::forward<Args>(args)...);
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

using MutexFn = void (*)(Mutex*);
using MutexTryFn = bool (*)(Mutex*);
using MutexCondFn = void (*)(Mutex*, const Condition&);
using MutexCondDurationFn = bool (*)(Mutex*, const Condition&, Duration);
using MutexCondTimeFn = bool (*)(Mutex*, const Condition&, Time);
using CondVarFn = void (*)(CondVar*, Mutex*);
using CondVarDurationFn = bool (*)(CondVar*, Mutex*, Duration);
using CondVarTimeFn = bool (*)(CondVar*, Mutex*, Time);

void Mutex::Lock() {
  COURIER_REAL_(MutexFn, "_ZN4absl7debian35Mutex4LockEv");
  Takes(this, real, this);
}

void Mutex::ReaderLock() {
  COURIER_REAL_(MutexFn, "_ZN4absl7debian35Mutex10ReaderLockEv");
  Takes(this, real, this);
}

bool Mutex::TryLock() {
  COURIER_REAL_(MutexTryFn, "_ZN4absl7debian35Mutex7TryLockEv");
  const bool locked = real(this);
  if (locked) __tsan_acquire(this);
  return locked;
}

bool Mutex::ReaderTryLock() {
  COURIER_REAL_(MutexTryFn, "_ZN4absl7debian35Mutex13ReaderTryLockEv");
  const bool locked = real(this);
  if (locked) __tsan_acquire(this);
  return locked;
}

void Mutex::Unlock() {
  COURIER_REAL_(MutexFn, "_ZN4absl7debian35Mutex6UnlockEv");
  Gives(this, real, this);
}

void Mutex::ReaderUnlock() {
  COURIER_REAL_(MutexFn, "_ZN4absl7debian35Mutex12ReaderUnlockEv");
  Gives(this, real, this);
}

void Mutex::LockWhen(const Condition& cond) {
  COURIER_REAL_(MutexCondFn, "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE");
  Takes(this, real, this, cond);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  COURIER_REAL_(MutexCondFn, "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE");
  Takes(this, real, this, cond);
}

// The LockWhen... and ReaderLockWhen... with a timeout or deadline hold the
// mutex on return either way.
bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  COURIER_REAL_(MutexCondDurationFn,
                "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return Takes(this, real, this, cond, timeout);
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  COURIER_REAL_(MutexCondTimeFn,
                "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return Takes(this, real, this, cond, deadline);
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  COURIER_REAL_(
      MutexCondDurationFn,
      "_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return Takes(this, real, this, cond, timeout);
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  COURIER_REAL_(
      MutexCondTimeFn,
      "_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return Takes(this, real, this, cond, deadline);
}

void Mutex::Await(const Condition& cond) {
  COURIER_REAL_(MutexCondFn, "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
  WaitsOn(this, real, this, cond);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  COURIER_REAL_(MutexCondDurationFn,
                "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return WaitsOn(this, real, this, cond, timeout);
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  COURIER_REAL_(MutexCondTimeFn,
                "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return WaitsOn(this, real, this, cond, deadline);
}

void CondVar::Wait(Mutex* mu) {
  COURIER_REAL_(CondVarFn, "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE");
  WaitsOn(mu, real, this, mu);
}

// Returns whether the wait timed out; `mu` is held again either way.
bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  COURIER_REAL_(CondVarDurationFn,
                "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  return WaitsOn(mu, real, this, mu, timeout);
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  COURIER_REAL_(CondVarTimeFn,
                "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  return WaitsOn(mu, real, this, mu, deadline);
}

ABSL_NAMESPACE_END
}  // namespace absl

#endif  // defined(__SANITIZE_THREAD__)
