// courier/clock.h: the source of time for the engine and the stores.
//
// Tests drive a ManualClock; production uses SystemClock().
// Thread-safety: every Clock is safe for concurrent use.
// Blocking: Now never blocks.
#ifndef COURIER_CORE_CLOCK_H_
#define COURIER_CORE_CLOCK_H_

#include <atomic>

#include "courier/export.h"
#include "courier/types.h"

namespace courier {

class COURIER_EXPORT Clock {
 public:
  Clock() = default;
  Clock(const Clock&) = delete;
  Clock& operator=(const Clock&) = delete;
  virtual ~Clock() = default;

  // Unix time in milliseconds. Monotonic enough for rate limits and TTLs.
  virtual TimeMs NowMs() const = 0;
};

// The process-wide wall clock. The result is never destroyed.
COURIER_EXPORT Clock& SystemClock();

// A clock that moves only when told. Starts at `start_ms`.
class COURIER_EXPORT ManualClock final : public Clock {
 public:
  explicit ManualClock(TimeMs start_ms = 1'700'000'000'000) : now_(start_ms) {}
  TimeMs NowMs() const override { return now_.load(std::memory_order_acquire); }
  void Advance(TimeMs ms) { now_.fetch_add(ms, std::memory_order_acq_rel); }
  void Set(TimeMs ms) { now_.store(ms, std::memory_order_release); }

 private:
  std::atomic<TimeMs> now_;
};

}  // namespace courier

#endif  // COURIER_CORE_CLOCK_H_
