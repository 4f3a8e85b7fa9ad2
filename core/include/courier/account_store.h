// courier/account_store.h: accounts, friendships and last seen.
//
// What a server needs besides inboxes to serve any user from any node: the
// password hash of each account (hashing is the caller's job; the store keeps
// the opaque string), friendships (symmetric, made by a request that the other
// side accepts, or by two crossing requests), and the durable last-seen time.
//
// Ownership: the caller owns the store (std::unique_ptr from a factory).
// Thread-safety: implementations are safe for concurrent use.
// Blocking: every method blocks until the backend answers or times out.
#ifndef COURIER_CORE_ACCOUNT_STORE_H_
#define COURIER_CORE_ACCOUNT_STORE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "courier/types.h"

namespace courier {

enum class FriendRequestOutcome {
  kRequested,       // a pending request from `from` to `to` now exists
  kBecameFriends,   // `to` had already asked `from`: they are friends now
  kAlreadyFriends,  // nothing changed
};

class AccountStore {
 public:
  AccountStore() = default;
  AccountStore(const AccountStore&) = delete;
  AccountStore& operator=(const AccountStore&) = delete;
  virtual ~AccountStore() = default;

  // Creates `user` with `password_hash`. kAlreadyExists if the name is taken.
  virtual absl::Status CreateUser(const UserId& user, const std::string& password_hash,
                                  TimeMs now) = 0;
  // The stored hash; kNotFound for an unknown user.
  virtual absl::StatusOr<std::string> PasswordHash(const UserId& user) = 0;
  // OK(true) when the user exists.
  virtual absl::StatusOr<bool> UserExists(const UserId& user) = 0;

  // `from` asks `to` to be friends. kNotFound if `to` does not exist;
  // kInvalidArgument if from == to.
  virtual absl::StatusOr<FriendRequestOutcome> RequestFriend(const UserId& from,
                                                             const UserId& to) = 0;
  // `user` accepts the pending request of `requester`; kNotFound if there is
  // no such request (an existing friendship is OK).
  virtual absl::Status AcceptFriend(const UserId& user, const UserId& requester) = 0;
  virtual absl::StatusOr<bool> AreFriends(const UserId& a, const UserId& b) = 0;
  // Friends of `user`, sorted by name.
  virtual absl::StatusOr<std::vector<UserId>> Friends(const UserId& user) = 0;
  // Users whose requests to `user` are pending, sorted by name.
  virtual absl::StatusOr<std::vector<UserId>> PendingRequests(const UserId& user) = 0;

  // Durable last seen (unix ms) of `user`; nullopt if never seen.
  virtual absl::Status SetLastSeen(const UserId& user, TimeMs when) = 0;
  virtual absl::StatusOr<std::optional<TimeMs>> LastSeen(const UserId& user) = 0;
};

}  // namespace courier

#endif  // COURIER_CORE_ACCOUNT_STORE_H_
