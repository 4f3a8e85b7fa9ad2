#include "recent_sends.h"

#include <utility>

namespace courier::internal {

std::string RecentSends::Key(const UserId& sender, const std::string& cid) {
  std::string key;
  key.reserve(sender.size() + 1 + cid.size());
  key.append(sender).push_back('\0');  // names hold no NUL
  key.append(cid);
  return key;
}

std::optional<SentFrame> RecentSends::Find(const UserId& sender, const std::string& cid) const {
  const std::string key = Key(sender, cid);
  MutexLock lock(&mu_);
  auto it = answers_.find(key);
  if (it == answers_.end()) return std::nullopt;
  return it->second;
}

void RecentSends::Remember(const UserId& sender, const std::string& cid, SentFrame answer) {
  if (capacity_ == 0) return;
  std::string key = Key(sender, cid);
  answer.duplicate = true;
  MutexLock lock(&mu_);
  auto [it, fresh] = answers_.insert_or_assign(key, std::move(answer));
  if (!fresh) return;
  order_.push_back(std::move(key));
  while (order_.size() > capacity_) {
    answers_.erase(order_.front());
    order_.pop_front();
  }
}

}  // namespace courier::internal
