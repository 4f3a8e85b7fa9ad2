// recent_sends.h (internal): the answers to recently stored sends.
//
// Remembers, for the last `capacity` sends stored through this engine, the
// `sent` answer of each (sender, cid), so that a repeated cid is answered
// `dup` at once: without a rate-limit token and without a store write. The
// store's (sender, cid) index remains the authority: a repeat that is no
// longer remembered (evicted, or stored before a restart) goes to the store,
// which answers it as a duplicate too.
// Thread-safety: safe for concurrent use.
// Blocking: never blocks on I/O.
#ifndef COURIER_CORE_SRC_RECENT_SENDS_H_
#define COURIER_CORE_SRC_RECENT_SENDS_H_

#include <cstddef>
#include <deque>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "courier/sync.h"
#include "courier/transport.h"
#include "courier/types.h"

namespace courier::internal {

class RecentSends {
 public:
  explicit RecentSends(std::size_t capacity = 100'000) : capacity_(capacity) {}

  // The remembered answer (with duplicate = true), if any.
  std::optional<SentFrame> Find(const UserId& sender, const std::string& cid) const;

  // Remembers the answer (id, ts) for (sender, cid); forgets the oldest
  // beyond capacity.
  void Remember(const UserId& sender, const std::string& cid, const MessageId& id, TimeMs ts);

 private:
  struct Answer {
    MessageId id;
    TimeMs ts = 0;
  };
  // "sender\0cid" in a reused per-thread buffer (no allocation to look up).
  static const std::string& Key(const UserId& sender, const std::string& cid);

  const std::size_t capacity_;
  mutable Mutex mu_;
  // Each key is stored once, in order_ (a deque never moves its elements);
  // the map's keys view those strings.
  absl::flat_hash_map<absl::string_view, Answer> answers_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> order_ ABSL_GUARDED_BY(mu_);  // oldest first
};

}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_RECENT_SENDS_H_
