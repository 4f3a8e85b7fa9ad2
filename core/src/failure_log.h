// failure_log.h: counts the failures the engine cannot answer to anyone
// (a presence heartbeat, a prune, a signal to another node, ...) and logs
// them through the core's log sink (courier/log.h), rate-limited.
//
// Each kind of failure has its own counter and its own log budget: the first
// failure of a kind is logged at once; later ones at most once per
// `interval_ms` of the engine's clock, in one line that says how many were
// not logged since. A store that fails on every call therefore costs one
// line per kind per interval, however busy the engine.
//
// Thread-safety: safe for concurrent use.
// Blocking: Record calls the log sink (which blocks as long as it does),
//   never under the FailureLog's own lock (but under whatever lock its
//   caller holds).
#ifndef COURIER_CORE_SRC_FAILURE_LOG_H_
#define COURIER_CORE_SRC_FAILURE_LOG_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "counter.h"
#include "courier/sync.h"
#include "courier/types.h"

namespace courier::internal {

// What failed. Each has a counter in EngineStats (courier/engine.h).
enum class Failure : std::uint8_t {
  kHeartbeat,  // PresenceStore::Heartbeat
  kPrune,      // MessageStore::Prune
  kSignal,     // PresenceStore::Publish (kick, presence, wake)
  kPresence,   // PresenceStore Connect/Disconnect/Lookup, ContactPolicy::Contacts
  kLastSeen,   // AccountStore::SetLastSeen / LastSeen
};
inline constexpr std::size_t kFailureKinds = 5;

class FailureLog {
 public:
  explicit FailureLog(TimeMs interval_ms) : interval_ms_(interval_ms) {}
  FailureLog(const FailureLog&) = delete;
  FailureLog& operator=(const FailureLog&) = delete;

  // Counts `status` (REQUIRES: !status.ok()) as a failure of `kind` while
  // doing `what`, and logs it unless this kind was logged less than the
  // interval ago.
  void Record(Failure kind, absl::string_view what, const absl::Status& status, TimeMs now);

  // How many failures of `kind` were recorded.
  std::uint64_t count(Failure kind) const {
    return slots_[static_cast<std::size_t>(kind)].count.value();
  }

 private:
  struct Slot {
    Counter count;
    Mutex mu;
    bool logged ABSL_GUARDED_BY(mu) = false;
    TimeMs last_logged ABSL_GUARDED_BY(mu) = 0;
    std::uint64_t suppressed ABSL_GUARDED_BY(mu) = 0;
  };

  const TimeMs interval_ms_;
  std::array<Slot, kFailureKinds> slots_;
};

}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_FAILURE_LOG_H_
