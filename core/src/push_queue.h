// push_queue.h (internal): the pending notices of the push notifier.
//
// One notice per recipient user, opened by the user's first message and due
// `hold_ms` later; further messages until the notice is taken only add to
// it (coalescing). At most `max_pending` notices; a message that would open
// one more is refused (the caller counts it as dropped). Notices are taken
// in the order they were opened, which is their due order for a clock that
// does not go back.
// Thread-safety: none; the owner (push_notifier.cc) locks.
// Blocking: never blocks.
#ifndef COURIER_CORE_SRC_PUSH_QUEUE_H_
#define COURIER_CORE_SRC_PUSH_QUEUE_H_

#include <cstddef>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "courier/notifier.h"
#include "courier/types.h"

namespace courier::internal {

class PushQueue {
 public:
  enum class Offer { kOpened, kCoalesced, kDropped };

  // REQUIRES: max_pending >= 1, hold_ms >= 0. `keep_messages`: notices carry
  // the latest kMaxNoticeMessages messages (PushContent::kFull).
  PushQueue(std::size_t max_pending, TimeMs hold_ms, bool keep_messages)
      : max_pending_(max_pending), hold_ms_(hold_ms), keep_messages_(keep_messages) {}

  // Adds `message` (a kMessage event; `message.peer` is the sender) to the
  // notice of `user`, opening one due at now + hold_ms if there is none.
  Offer Add(const UserId& user, const Event& message, TimeMs now);

  // Removes and returns the oldest notice when it is due at `now`.
  std::optional<PushNotice> TakeDue(TimeMs now);

  // When the oldest notice is due; nullopt when there is none.
  std::optional<TimeMs> NextDue() const;

  // Removes every notice (shutdown); returns how many messages they held.
  std::uint64_t Clear();

  std::size_t size() const { return pending_.size(); }

 private:
  const std::size_t max_pending_;
  const TimeMs hold_ms_;
  const bool keep_messages_;
  absl::flat_hash_map<UserId, PushNotice> pending_;
  std::deque<std::pair<TimeMs, UserId>> order_;  // (due, user), opening order
};

}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_PUSH_QUEUE_H_
