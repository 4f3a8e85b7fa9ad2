#include "recent_sends.h"

#include <utility>

namespace courier::internal {

const std::string& RecentSends::Key(const UserId& sender, const std::string& cid) {
  thread_local std::string key;
  key.assign(sender).push_back('\0');  // names hold no NUL
  key.append(cid);
  return key;
}

std::optional<SentFrame> RecentSends::Find(const UserId& sender, const std::string& cid) const {
  const std::string& key = Key(sender, cid);
  MutexLock lock(&mu_);
  auto it = answers_.find(absl::string_view(key));
  if (it == answers_.end()) return std::nullopt;
  return SentFrame{cid, it->second.id, it->second.ts, true, {}};
}

void RecentSends::Remember(const UserId& sender, const std::string& cid, const MessageId& id,
                           TimeMs ts) {
  if (capacity_ == 0) return;
  const std::string& key = Key(sender, cid);
  MutexLock lock(&mu_);
  if (auto it = answers_.find(absl::string_view(key)); it != answers_.end()) {
    it->second = Answer{id, ts};
    return;
  }
  order_.push_back(key);
  answers_.emplace(absl::string_view(order_.back()), Answer{id, ts});
  while (order_.size() > capacity_) {
    answers_.erase(absl::string_view(order_.front()));
    order_.pop_front();
  }
}

}  // namespace courier::internal
