#include "push_queue.h"

#include <algorithm>

namespace courier::internal {

PushQueue::Offer PushQueue::Add(const UserId& user, const Event& message, TimeMs now) {
  auto it = pending_.find(user);
  Offer offer = Offer::kCoalesced;
  if (it == pending_.end()) {
    if (pending_.size() >= max_pending_) return Offer::kDropped;
    it = pending_.emplace(user, PushNotice{}).first;
    it->second.user = user;
    order_.emplace_back(now + hold_ms_, user);
    offer = Offer::kOpened;
  }
  PushNotice& notice = it->second;
  ++notice.count;
  if (notice.senders.size() < kMaxNoticeSenders &&
      std::find(notice.senders.begin(), notice.senders.end(), message.peer) ==
          notice.senders.end()) {
    notice.senders.push_back(message.peer);
  }
  if (keep_messages_) {
    if (notice.messages.size() == kMaxNoticeMessages) notice.messages.erase(notice.messages.begin());
    notice.messages.push_back(message);
  }
  return offer;
}

std::optional<PushNotice> PushQueue::TakeDue(TimeMs now) {
  if (order_.empty() || order_.front().first > now) return std::nullopt;
  auto it = pending_.find(order_.front().second);
  order_.pop_front();
  PushNotice notice = std::move(it->second);
  pending_.erase(it);
  return notice;
}

std::optional<TimeMs> PushQueue::NextDue() const {
  if (order_.empty()) return std::nullopt;
  return order_.front().first;
}

std::uint64_t PushQueue::Clear() {
  std::uint64_t messages = 0;
  for (const auto& [user, notice] : pending_) messages += notice.count;
  pending_.clear();
  order_.clear();
  return messages;
}

}  // namespace courier::internal
