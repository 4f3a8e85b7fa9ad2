#include "recent_sends.h"

#include <string_view>
#include <utility>

#include "absl/hash/hash.h"

namespace courier::internal {

std::uint64_t RecentSends::HashOf(const UserId& sender, const std::string& cid) {
  return absl::Hash<std::pair<std::string_view, std::string_view>>()(
      std::pair<std::string_view, std::string_view>(sender, cid));
}

std::optional<std::uint32_t> RecentSends::FindLocked(std::uint64_t hash, const UserId& sender,
                                                     const std::string& cid) const {
  auto it = index_.find(hash);
  if (it == index_.end()) return std::nullopt;
  const Slot& slot = slots_[it->second];
  if (slot.sender != sender || slot.cid != cid) return std::nullopt;  // another pair, same hash
  return it->second;
}

std::optional<SentFrame> RecentSends::Find(const UserId& sender, const std::string& cid) const {
  const std::uint64_t hash = HashOf(sender, cid);
  MutexLock lock(&mu_);
  const std::optional<std::uint32_t> at = FindLocked(hash, sender, cid);
  if (!at.has_value()) return std::nullopt;
  const Slot& slot = slots_[*at];
  return SentFrame{cid, slot.id, slot.ts, true, {}};
}

void RecentSends::Remember(const UserId& sender, const std::string& cid, const MessageId& id,
                           TimeMs ts) {
  if (capacity_ == 0) return;
  const std::uint64_t hash = HashOf(sender, cid);
  MutexLock lock(&mu_);
  if (const std::optional<std::uint32_t> known = FindLocked(hash, sender, cid)) {
    Slot& slot = slots_[*known];  // found once: no second index lookup
    slot.id = id;
    slot.ts = ts;
    return;
  }
  const std::size_t at = next_;
  next_ = next_ + 1 == capacity_ ? 0 : next_ + 1;
  if (at == slots_.size()) {
    slots_.emplace_back();
  } else if (auto old = index_.find(slots_[at].hash); old != index_.end() && old->second == at) {
    index_.erase(old);  // the oldest answer goes
  }
  Slot& slot = slots_[at];
  slot.hash = hash;
  slot.sender.assign(sender);  // reuses the slot's buffers
  slot.cid.assign(cid);
  slot.id.assign(id);
  slot.ts = ts;
  index_[hash] = static_cast<std::uint32_t>(at);
}

std::size_t RecentSends::size() const {
  MutexLock lock(&mu_);
  return index_.size();
}

}  // namespace courier::internal
