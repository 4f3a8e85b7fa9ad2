// courier/account_store.h: accounts, friendships and last seen.
//
// What a server needs besides inboxes to serve any user from any node: the
// password hash of each account (hashing is the caller's job; the store keeps
// the opaque string), friendships (symmetric, made by a request that the other
// side accepts, or by two crossing requests), and the durable last-seen time.
// For administration (courier-server's admin API): a disabled flag per user,
// deleting a user with everything the store keeps of it, and the devices a
// user connected with (name, last seen). For waking offline devices
// (courier/notifier.h): each device's push subscription.
//
// Ownership: the caller owns the store (std::unique_ptr from a factory).
// Thread-safety: implementations are safe for concurrent use.
// Blocking: every method blocks until the backend answers or times out.
#ifndef COURIER_CORE_ACCOUNT_STORE_H_
#define COURIER_CORE_ACCOUNT_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "courier/export.h"
#include "courier/types.h"

namespace courier {

enum class FriendRequestOutcome {
  kRequested,       // a pending request from `from` to `to` now exists
  kBecameFriends,   // `to` had already asked `from`: they are friends now
  kAlreadyFriends,  // nothing changed
};

// What AccountStore::GetTokenState returns.
struct TokenState {
  std::uint64_t generation = 0;
  std::vector<std::string> revoked;  // token ids, sorted, no duplicates
};

// Token ids are 1-64 bytes of [A-Za-z0-9_-] (no '.': a MongoDB field name).
inline absl::Status ValidateTokenId(std::string_view id) {
  if (id.empty() || id.size() > 64) {
    return absl::InvalidArgumentError("a token id is 1-64 bytes");
  }
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return absl::InvalidArgumentError("a token id is made of [A-Za-z0-9_-]");
  }
  return absl::OkStatus();
}

// Revoked ids a user may have before the caller bumps the generation instead.
inline constexpr std::size_t kMaxRevokedTokenIds = 64;

// What AccountStore::Devices returns: a device name and when it was last
// connected or seen going away (unix ms).
struct DeviceRecord {
  DeviceId device;
  TimeMs last_seen = 0;
  friend bool operator==(const DeviceRecord&, const DeviceRecord&) = default;
};

// One sighting for AccountStore::RecordDevices: `device` of `user` was
// connected at `when` (or seen going away). The views are borrowed for the
// call only.
struct DeviceSighting {
  std::string_view user;
  std::string_view device;
  TimeMs when = 0;
};

// What AccountStore::PushSubscriptions returns: a device and its push
// subscription, an opaque string to the store (courier-server keeps the
// browser's PushSubscription JSON, normalized).
struct PushSubscriptionRecord {
  DeviceId device;
  std::string subscription;
  friend bool operator==(const PushSubscriptionRecord&, const PushSubscriptionRecord&) = default;
};

// The largest subscription a store keeps, in bytes.
inline constexpr std::size_t kMaxPushSubscriptionBytes = 4096;

class COURIER_EXPORT AccountStore {
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
  // Replaces the stored hash (a password change); kNotFound for an unknown
  // user. Tokens are not touched: the caller bumps the token generation.
  virtual absl::Status SetPasswordHash(const UserId& user, const std::string& password_hash) = 0;
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

  // --- Administration (courier-server's admin API).

  // Disables or re-enables `user`. A disabled account keeps its data; the
  // server refuses its logins and closes its sessions. Setting the state it
  // has already is OK. kNotFound for an unknown user.
  virtual absl::Status SetUserDisabled(const UserId& user, bool disabled) = 0;
  // Whether `user` is disabled; kNotFound for an unknown user.
  virtual absl::StatusOr<bool> UserDisabled(const UserId& user) = 0;
  // Deletes `user`: the account, its friendships and pending requests (in
  // both directions), last seen, revoked token ids, devices and push
  // subscriptions. The name can be registered again afterwards. The one
  // thing kept is the name's token generation, moved one on (as by
  // BumpTokenGeneration): a later account of the name starts there, above
  // every generation this account had, so that none of its tokens is ever
  // valid for the new one. kNotFound for an unknown user. (The inbox is the
  // MessageStore's: not touched here.)
  virtual absl::Status DeleteUser(const UserId& user) = 0;
  // Records that `device` of `user` was connected at `when` (or seen going
  // away): adds the device, or raises its last seen to `when` (never
  // lowers it). kNotFound for an unknown user.
  virtual absl::Status RecordDevice(const UserId& user, const DeviceId& device, TimeMs when) = 0;
  // RecordDevice for each of `sightings`, in one write where the backend
  // has one (RocksDB: one batch, one sync; SQLite: one transaction); the
  // default calls RecordDevice for each. A sighting of an unknown user is
  // skipped (its user may be deleted since); one that RecordDevice would
  // refuse otherwise (a bad device name) is skipped too, and the first such
  // error is returned after the others are recorded. The same device twice
  // keeps the later time, as two calls would. A store error may leave any
  // part of the sightings unrecorded.
  virtual absl::Status RecordDevices(absl::Span<const DeviceSighting> sightings);
  // The devices recorded for `user`, sorted by name; kNotFound for an
  // unknown user.
  virtual absl::StatusOr<std::vector<DeviceRecord>> Devices(const UserId& user) = 0;

  // --- Token revocation (courier-server: logout, logout-all, password change).
  // A login token names the user's token generation current when it was
  // issued and carries an id; it is valid while that generation is still the
  // user's and its id is not among the revoked ones. Kept in the store, so
  // every node of a cluster sees a revocation made on any of them.

  // The user's generation and the ids revoked one by one since it last moved.
  // A new user has no revoked id and generation 0, or, when an account of
  // that name was deleted before, the generation DeleteUser left (above all
  // of the deleted account's). kNotFound for an unknown user (a deleted one
  // too).
  virtual absl::StatusOr<TokenState> GetTokenState(const UserId& user) = 0;
  // Adds one to the user's generation (every token issued before is then
  // invalid) and forgets the revoked ids (moot now); returns the new
  // generation. Atomic: N concurrent calls add N. kNotFound for an unknown
  // user.
  virtual absl::StatusOr<std::uint64_t> BumpTokenGeneration(const UserId& user) = 0;
  // Adds `token_id` to the user's revoked ids; revoking an id twice is OK.
  // kInvalidArgument unless ValidateTokenId accepts it; kNotFound for an
  // unknown user. The store does not cap the list: the caller bumps the
  // generation instead once kMaxRevokedTokenIds are revoked.
  virtual absl::Status RevokeToken(const UserId& user, const std::string& token_id) = 0;

  // --- Push subscriptions (courier/notifier.h), one per (user, device),
  // durable. DeleteUser removes the user's.

  // Stores `subscription` for `device` of `user`, replacing the device's
  // previous one. kInvalidArgument for a bad device name or a subscription
  // that is empty or longer than kMaxPushSubscriptionBytes; kNotFound for an
  // unknown user.
  virtual absl::Status SetPushSubscription(const UserId& user, const DeviceId& device,
                                           const std::string& subscription) = 0;
  // Removes the subscription of `device` of `user`. With `only_if`, only
  // when the stored one equals it (a push service's "gone" for an old
  // subscription must not remove the device's new one). OK(true) when one
  // was removed, OK(false) when there was none (or another); kNotFound for
  // an unknown user.
  virtual absl::StatusOr<bool> DeletePushSubscription(
      const UserId& user, const DeviceId& device,
      const std::optional<std::string>& only_if) = 0;
  // The subscriptions of `user`, sorted by device name; kNotFound for an
  // unknown user.
  virtual absl::StatusOr<std::vector<PushSubscriptionRecord>> PushSubscriptions(
      const UserId& user) = 0;
};

// Checks SetPushSubscription's arguments (what every store refuses).
inline absl::Status ValidatePushSubscription(const DeviceId& device,
                                             const std::string& subscription) {
  if (absl::Status s = ValidateName("device", device); !s.ok()) return s;
  if (subscription.empty() || subscription.size() > kMaxPushSubscriptionBytes) {
    return absl::InvalidArgumentError("a push subscription is 1-4096 bytes");
  }
  return absl::OkStatus();
}

}  // namespace courier

#endif  // COURIER_CORE_ACCOUNT_STORE_H_
