#include "group_members_cache.h"

#include <algorithm>
#include <utility>

namespace courier::internal {

std::optional<std::vector<UserId>> GroupMembersCache::Find(const GroupId& group,
                                                           TimeMs now) const {
  MutexLock lock(&mu_);
  auto it = entries_.find(group);
  if (it == entries_.end() || now - it->second.put >= ttl_ms_ || now < it->second.put) {
    return std::nullopt;
  }
  return it->second.members;
}

void GroupMembersCache::Put(const GroupId& group, std::vector<UserId> members, TimeMs now) {
  if (capacity_ == 0 || ttl_ms_ <= 0) return;
  std::sort(members.begin(), members.end());
  MutexLock lock(&mu_);
  if (!entries_.contains(group) && entries_.size() >= capacity_) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (now - it->second.put >= ttl_ms_) {
        entries_.erase(it++);
      } else {
        ++it;
      }
    }
    if (entries_.size() >= capacity_) entries_.clear();
  }
  entries_.insert_or_assign(group, Entry{std::move(members), now});
}

}  // namespace courier::internal
