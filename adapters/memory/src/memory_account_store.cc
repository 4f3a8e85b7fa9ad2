// courier/account_store.h in memory: accounts, friendships, last seen, under
// one mutex. The reference for tests/conformance/account_store_suite.h.

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "courier/sync.h"
#include "courier/account_store.h"
#include "courier/memory.h"
#include "courier/types.h"

namespace courier::memory {
namespace {

struct Account {
  std::string password_hash;
  TimeMs created = 0;
  std::set<UserId> friends;   // sorted by name
  std::set<UserId> incoming;  // pending requests to this user, sorted
  bool disabled = false;
  std::map<DeviceId, TimeMs> devices;  // last seen, sorted by name
  std::uint64_t token_generation = 0;
  std::set<std::string> revoked_tokens;  // since the generation last moved
  std::map<DeviceId, std::string> push;  // subscriptions, sorted by device
};

class MemoryAccountStore final : public AccountStore {
 public:
  absl::Status CreateUser(const UserId& user, const std::string& password_hash,
                          TimeMs now) override {
    if (auto s = ValidateName("user", user); !s.ok()) return s;
    MutexLock lock(&mu_);
    auto [it, inserted] = accounts_.try_emplace(user);
    if (!inserted) return absl::AlreadyExistsError(absl::StrCat("user ", user, " exists"));
    it->second.password_hash = password_hash;
    it->second.created = now;
    if (auto kept = deleted_generations_.find(user); kept != deleted_generations_.end()) {
      it->second.token_generation = kept->second;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> PasswordHash(const UserId& user) override {
    MutexLock lock(&mu_);
    auto it = accounts_.find(user);
    if (it == accounts_.end()) return UnknownUser(user);
    return it->second.password_hash;
  }

  absl::Status SetPasswordHash(const UserId& user, const std::string& password_hash) override {
    return ChangeAccount(user, [&](Account& account) { account.password_hash = password_hash; });
  }

  absl::StatusOr<bool> UserExists(const UserId& user) override {
    MutexLock lock(&mu_);
    return accounts_.contains(user);
  }

  absl::StatusOr<FriendRequestOutcome> RequestFriend(const UserId& from,
                                                     const UserId& to) override {
    if (from == to) return absl::InvalidArgumentError("cannot befriend oneself");
    MutexLock lock(&mu_);
    auto f = accounts_.find(from);
    if (f == accounts_.end()) return UnknownUser(from);
    auto t = accounts_.find(to);
    if (t == accounts_.end()) return UnknownUser(to);
    if (f->second.friends.contains(to)) return FriendRequestOutcome::kAlreadyFriends;
    if (f->second.incoming.erase(to) > 0) {  // crossing requests
      f->second.friends.insert(to);
      t->second.friends.insert(from);
      return FriendRequestOutcome::kBecameFriends;
    }
    t->second.incoming.insert(from);
    return FriendRequestOutcome::kRequested;
  }

  absl::Status AcceptFriend(const UserId& user, const UserId& requester) override {
    MutexLock lock(&mu_);
    auto u = accounts_.find(user);
    if (u == accounts_.end()) return UnknownUser(user);
    if (u->second.friends.contains(requester)) return absl::OkStatus();
    if (u->second.incoming.erase(requester) == 0) {
      return absl::NotFoundError(
          absl::StrCat("no pending friend request from ", requester, " to ", user));
    }
    auto r = accounts_.find(requester);
    u->second.friends.insert(requester);
    if (r != accounts_.end()) r->second.friends.insert(user);
    return absl::OkStatus();
  }

  absl::StatusOr<bool> AreFriends(const UserId& a, const UserId& b) override {
    MutexLock lock(&mu_);
    auto it = accounts_.find(a);
    return it != accounts_.end() && it->second.friends.contains(b);
  }

  absl::StatusOr<std::vector<UserId>> Friends(const UserId& user) override {
    MutexLock lock(&mu_);
    auto it = accounts_.find(user);
    if (it == accounts_.end()) return std::vector<UserId>{};
    return std::vector<UserId>(it->second.friends.begin(), it->second.friends.end());
  }

  absl::StatusOr<std::vector<UserId>> PendingRequests(const UserId& user) override {
    MutexLock lock(&mu_);
    auto it = accounts_.find(user);
    if (it == accounts_.end()) return std::vector<UserId>{};
    return std::vector<UserId>(it->second.incoming.begin(), it->second.incoming.end());
  }

  // Last seen is kept for any valid name, account or not: presence records
  // it for whoever connected, and the account may be created elsewhere.
  absl::Status SetLastSeen(const UserId& user, TimeMs when) override {
    if (auto s = ValidateName("user", user); !s.ok()) return s;
    MutexLock lock(&mu_);
    last_seen_[user] = when;
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<TimeMs>> LastSeen(const UserId& user) override {
    MutexLock lock(&mu_);
    auto it = last_seen_.find(user);
    if (it == last_seen_.end()) return std::optional<TimeMs>();
    return it->second;
  }

  absl::Status SetUserDisabled(const UserId& user, bool disabled) override {
    return ChangeAccount(user, [&](Account& account) { account.disabled = disabled; });
  }

  absl::StatusOr<bool> UserDisabled(const UserId& user) override {
    MutexLock lock(&mu_);
    auto it = accounts_.find(user);
    if (it == accounts_.end()) return UnknownUser(user);
    return it->second.disabled;
  }

  absl::Status DeleteUser(const UserId& user) override {
    MutexLock lock(&mu_);
    auto it = accounts_.find(user);
    if (it == accounts_.end()) return UnknownUser(user);
    for (auto& [name, account] : accounts_) {
      account.friends.erase(user);
      account.incoming.erase(user);
    }
    // Kept, one past the last, for a later account of this name.
    deleted_generations_[user] = it->second.token_generation + 1;
    accounts_.erase(it);
    last_seen_.erase(user);
    return absl::OkStatus();
  }

  absl::Status RecordDevice(const UserId& user, const DeviceId& device, TimeMs when) override {
    if (auto s = ValidateName("device", device); !s.ok()) return s;
    MutexLock lock(&mu_);
    auto it = accounts_.find(user);
    if (it == accounts_.end()) return UnknownUser(user);
    auto [d, fresh] = it->second.devices.try_emplace(device, when);
    if (!fresh && d->second < when) d->second = when;
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<DeviceRecord>> Devices(const UserId& user) override {
    MutexLock lock(&mu_);
    auto it = accounts_.find(user);
    if (it == accounts_.end()) return UnknownUser(user);
    std::vector<DeviceRecord> out;
    for (const auto& [device, seen] : it->second.devices) out.push_back(DeviceRecord{device, seen});
    return out;
  }

  absl::StatusOr<TokenState> GetTokenState(const UserId& user) override {
    MutexLock lock(&mu_);
    auto it = accounts_.find(user);
    if (it == accounts_.end()) return UnknownUser(user);
    return TokenState{it->second.token_generation,
                      std::vector<std::string>(it->second.revoked_tokens.begin(),
                                               it->second.revoked_tokens.end())};
  }

  absl::StatusOr<std::uint64_t> BumpTokenGeneration(const UserId& user) override {
    MutexLock lock(&mu_);
    auto it = accounts_.find(user);
    if (it == accounts_.end()) return UnknownUser(user);
    it->second.revoked_tokens.clear();
    return ++it->second.token_generation;
  }

  absl::Status RevokeToken(const UserId& user, const std::string& token_id) override {
    if (auto s = ValidateTokenId(token_id); !s.ok()) return s;
    MutexLock lock(&mu_);
    auto it = accounts_.find(user);
    if (it == accounts_.end()) return UnknownUser(user);
    it->second.revoked_tokens.insert(token_id);
    return absl::OkStatus();
  }

  absl::Status SetPushSubscription(const UserId& user, const DeviceId& device,
                                   const std::string& subscription) override {
    if (auto s = ValidatePushSubscription(device, subscription); !s.ok()) return s;
    MutexLock lock(&mu_);
    auto it = accounts_.find(user);
    if (it == accounts_.end()) return UnknownUser(user);
    it->second.push[device] = subscription;
    return absl::OkStatus();
  }

  absl::StatusOr<bool> DeletePushSubscription(const UserId& user, const DeviceId& device,
                                              const std::optional<std::string>& only_if) override {
    MutexLock lock(&mu_);
    auto it = accounts_.find(user);
    if (it == accounts_.end()) return UnknownUser(user);
    auto sub = it->second.push.find(device);
    if (sub == it->second.push.end()) return false;
    if (only_if.has_value() && sub->second != *only_if) return false;
    it->second.push.erase(sub);
    return true;
  }

  absl::StatusOr<std::vector<PushSubscriptionRecord>> PushSubscriptions(
      const UserId& user) override {
    MutexLock lock(&mu_);
    auto it = accounts_.find(user);
    if (it == accounts_.end()) return UnknownUser(user);
    std::vector<PushSubscriptionRecord> out;
    for (const auto& [device, sub] : it->second.push) out.push_back({device, sub});
    return out;
  }

 private:
  static absl::Status UnknownUser(const UserId& user) {
    return absl::NotFoundError(absl::StrCat("unknown user ", user));
  }

  // Applies `change` to `user`'s account under the lock; kNotFound for an
  // unknown user.
  absl::Status ChangeAccount(const UserId& user, absl::FunctionRef<void(Account&)> change) {
    MutexLock lock(&mu_);
    auto it = accounts_.find(user);
    if (it == accounts_.end()) return UnknownUser(user);
    change(it->second);
    return absl::OkStatus();
  }

  Mutex mu_;
  std::map<UserId, Account> accounts_ ABSL_GUARDED_BY(mu_);
  std::map<UserId, TimeMs> last_seen_ ABSL_GUARDED_BY(mu_);
  // The token generation a re-created name starts at (DeleteUser).
  std::map<UserId, std::uint64_t> deleted_generations_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<AccountStore> OpenAccountStore() {
  return std::make_unique<MemoryAccountStore>();
}

}  // namespace courier::memory
