// group_members_cache.h (internal): the members of recently seen groups, for
// typing indicators.
//
// Typing (Session::Typing in a group, and kTyping signals from other nodes)
// needs a group's members on every keystroke burst; reading the store each
// time would cost a read per typing op. This cache keeps the member list of
// a group for `ttl_ms` after it was read (or after this node committed a
// change of it), so a membership change made on another node reaches typing
// within ttl_ms. Sends and changes never use it: the store decides those.
// At most `capacity` groups are kept; beyond that expired entries go first,
// then everything (a burst of distinct groups costs a re-read, never memory).
// Thread-safety: safe for concurrent use.
// Blocking: never blocks on I/O.
#ifndef COURIER_CORE_SRC_GROUP_MEMBERS_CACHE_H_
#define COURIER_CORE_SRC_GROUP_MEMBERS_CACHE_H_

#include <cstddef>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "courier/sync.h"
#include "courier/types.h"

namespace courier::internal {

class GroupMembersCache {
 public:
  GroupMembersCache(std::size_t capacity, TimeMs ttl_ms) : capacity_(capacity), ttl_ms_(ttl_ms) {}

  // The members of `group` put at most ttl_ms before `now`, sorted; an empty
  // list means the group is known to be gone. nullopt: not cached.
  std::optional<std::vector<UserId>> Find(const GroupId& group, TimeMs now) const;

  // Remembers `members` (any order; empty: the group is gone) as of `now`.
  void Put(const GroupId& group, std::vector<UserId> members, TimeMs now);

 private:
  struct Entry {
    std::vector<UserId> members;
    TimeMs put = 0;
  };
  const std::size_t capacity_;
  const TimeMs ttl_ms_;
  mutable Mutex mu_;
  absl::flat_hash_map<GroupId, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_GROUP_MEMBERS_CACHE_H_
