// recent_sends.h (internal): the answers to recently stored sends.
//
// Remembers, for the last `capacity` sends stored through this engine, the
// `sent` answer of each (sender, cid), so that a repeated cid is answered
// `dup` at once: without a rate-limit token and without a store write. The
// store's (sender, cid) index remains the authority: a repeat that is no
// longer remembered (evicted, or stored before a restart) goes to the store,
// which answers it as a duplicate too.
//
// Shape: a ring of `capacity` slots, filled in send order and then reused
// oldest first (a reused slot's strings keep their heap buffers, so a
// Remember in the steady state allocates nothing), and an index from a
// 64-bit hash of (sender, cid) to its slot. A hit is confirmed against the
// slot's own sender and cid; two pairs of one hash keep only the later one
// (the store answers the other).
// Thread-safety: safe for concurrent use.
// Blocking: never blocks on I/O.
#ifndef COURIER_CORE_SRC_RECENT_SENDS_H_
#define COURIER_CORE_SRC_RECENT_SENDS_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "courier/sync.h"
#include "courier/transport.h"
#include "courier/types.h"

namespace courier::internal {

class RecentSends {
 public:
  // `capacity` above 2^32 - 1 counts as 2^32 - 1.
  explicit RecentSends(std::size_t capacity = 100'000)
      : capacity_(std::min<std::size_t>(capacity, 0xffff'ffffu)) {}

  // The remembered answer (with duplicate = true), if any.
  std::optional<SentFrame> Find(const UserId& sender, const std::string& cid) const;

  // Remembers the answer (id, ts) for (sender, cid); forgets the oldest
  // beyond capacity.
  void Remember(const UserId& sender, const std::string& cid, const MessageId& id, TimeMs ts);

  // How many answers are remembered (at most capacity).
  std::size_t size() const;

 private:
  struct Slot {
    std::uint64_t hash = 0;
    UserId sender;
    std::string cid;
    MessageId id;
    TimeMs ts = 0;
  };
  static std::uint64_t HashOf(const UserId& sender, const std::string& cid);
  // The index in slots_ of (sender, cid), if remembered.
  std::optional<std::uint32_t> FindLocked(std::uint64_t hash, const UserId& sender,
                                          const std::string& cid) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::size_t capacity_;
  mutable Mutex mu_;
  std::vector<Slot> slots_ ABSL_GUARDED_BY(mu_);  // grows to capacity_, then a ring
  std::size_t next_ ABSL_GUARDED_BY(mu_) = 0;     // the slot the next Remember takes
  absl::flat_hash_map<std::uint64_t, std::uint32_t> index_ ABSL_GUARDED_BY(mu_);
};

}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_RECENT_SENDS_H_
