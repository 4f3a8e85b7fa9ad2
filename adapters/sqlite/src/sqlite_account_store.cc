// courier/account_store.h on SQLite: accounts, friendships, requests and
// last seen, each in its own table. A friendship is stored in both
// directions so that Friends() is one index range in name order.

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "courier/sync.h"
#include "connection.h"
#include "courier/account_store.h"
#include "courier/sqlite.h"
#include "courier/status.h"
#include "courier/types.h"
#include "schema.h"

namespace courier::sqlite {
namespace {

constexpr Migration kAccountMigrations[] = {
    {1, R"sql(
CREATE TABLE users (
  name TEXT PRIMARY KEY,
  password_hash BLOB NOT NULL,
  created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE friends (
  name TEXT NOT NULL,
  friend TEXT NOT NULL,
  PRIMARY KEY (name, friend)
) WITHOUT ROWID;
CREATE TABLE friend_requests (
  to_name TEXT NOT NULL,
  from_name TEXT NOT NULL,
  PRIMARY KEY (to_name, from_name)
) WITHOUT ROWID;
CREATE TABLE last_seen (
  name TEXT PRIMARY KEY,
  seen_ms INTEGER NOT NULL
) WITHOUT ROWID;
)sql"},
    {2, R"sql(
CREATE TABLE token_generations (
  name TEXT PRIMARY KEY,
  generation INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE revoked_tokens (
  name TEXT NOT NULL,
  token_id TEXT NOT NULL,
  PRIMARY KEY (name, token_id)
) WITHOUT ROWID;
)sql"},
    // The admin API: disabled accounts, devices seen (DeleteUser removes a
    // user's rows from every table).
    {3, R"sql(
CREATE TABLE disabled_users (
  name TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE user_devices (
  name TEXT NOT NULL,
  device TEXT NOT NULL,
  seen_ms INTEGER NOT NULL,
  PRIMARY KEY (name, device)
) WITHOUT ROWID;
)sql"},
    // Push subscriptions (courier/notifier.h), one per device.
    {4, R"sql(
CREATE TABLE push_subscriptions (
  name TEXT NOT NULL,
  device TEXT NOT NULL,
  subscription BLOB NOT NULL,
  PRIMARY KEY (name, device)
) WITHOUT ROWID;
)sql"},
};

// The per-device rows. Upserts: ?1 the user, ?2 the device, ?3 the value (a
// device's last seen only moves forward; a push subscription is replaced).
// Reads: ?1 the user; (device, value) rows in device order.
constexpr const char* kRecordDevice =
    "INSERT INTO user_devices (name, device, seen_ms) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (name, device) DO UPDATE SET seen_ms = MAX(seen_ms, excluded.seen_ms)";
constexpr const char* kSetPushSubscription =
    "INSERT INTO push_subscriptions (name, device, subscription) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (name, device) DO UPDATE SET subscription = excluded.subscription";
constexpr const char* kDevices =
    "SELECT device, seen_ms FROM user_devices WHERE name = ?1 ORDER BY device";
constexpr const char* kPushSubscriptions =
    "SELECT device, subscription FROM push_subscriptions WHERE name = ?1 ORDER BY device";

absl::Status UnknownUser(const UserId& user) {
  return absl::NotFoundError(absl::StrCat("unknown user ", user));
}

// Every row `q` returns (stepping it to its end), each made by row_of(q).
template <class T, class RowOf>
absl::StatusOr<std::vector<T>> AllRows(Query& q, RowOf row_of) {
  std::vector<T> rows;
  while (true) {
    COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return rows;
    rows.push_back(row_of(q));
  }
}

class SqliteAccountStore final : public AccountStore {
 public:
  explicit SqliteAccountStore(std::unique_ptr<Connection> db) : db_(std::move(db)) {}

  absl::Status CreateUser(const UserId& user, const std::string& password_hash,
                          TimeMs now) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    MutexLock lock(&mu_);
    COURIER_RETURN_IF_ERROR(db_->Begin());
    return Finish(CreateUserLocked(user, password_hash, now));
  }

  absl::StatusOr<std::string> PasswordHash(const UserId& user) override {
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(Query q,
                             db_->Prepare("SELECT password_hash FROM users WHERE name = ?1"));
    q.BindText(1, user);
    COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return UnknownUser(user);
    return q.Text(0);
  }

  absl::Status SetPasswordHash(const UserId& user, const std::string& password_hash) override {
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(
        Query q, db_->Prepare("UPDATE users SET password_hash = ?2 WHERE name = ?1 RETURNING 1"));
    q.BindText(1, user).BindBlob(2, password_hash);
    COURIER_ASSIGN_OR_RETURN(bool updated, q.Step());
    COURIER_RETURN_IF_ERROR(q.Run());
    if (!updated) return UnknownUser(user);
    return absl::OkStatus();
  }

  absl::StatusOr<bool> UserExists(const UserId& user) override {
    MutexLock lock(&mu_);
    return Exists(user);
  }

  absl::StatusOr<FriendRequestOutcome> RequestFriend(const UserId& from,
                                                     const UserId& to) override {
    if (from == to) return absl::InvalidArgumentError("cannot befriend oneself");
    MutexLock lock(&mu_);
    COURIER_RETURN_IF_ERROR(db_->Begin());
    absl::StatusOr<FriendRequestOutcome> outcome = RequestFriendLocked(from, to);
    COURIER_RETURN_IF_ERROR(Finish(outcome.status()));
    return outcome;
  }

  absl::Status AcceptFriend(const UserId& user, const UserId& requester) override {
    MutexLock lock(&mu_);
    COURIER_RETURN_IF_ERROR(db_->Begin());
    return Finish(AcceptFriendLocked(user, requester));
  }

  absl::StatusOr<bool> AreFriends(const UserId& a, const UserId& b) override {
    MutexLock lock(&mu_);
    return AreFriendsLocked(a, b);
  }

  absl::StatusOr<std::vector<UserId>> Friends(const UserId& user) override {
    MutexLock lock(&mu_);
    return Names("SELECT friend FROM friends WHERE name = ?1 ORDER BY friend", user);
  }

  absl::StatusOr<std::vector<UserId>> PendingRequests(const UserId& user) override {
    MutexLock lock(&mu_);
    return Names("SELECT from_name FROM friend_requests WHERE to_name = ?1 ORDER BY from_name",
                 user);
  }

  absl::Status SetLastSeen(const UserId& user, TimeMs when) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(
        Query q, db_->Prepare("INSERT INTO last_seen (name, seen_ms) VALUES (?1, ?2) "
                              "ON CONFLICT (name) DO UPDATE SET seen_ms = excluded.seen_ms"));
    q.BindText(1, user).Bind(2, when);
    return q.Run();
  }

  absl::StatusOr<std::optional<TimeMs>> LastSeen(const UserId& user) override {
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(Query q,
                             db_->Prepare("SELECT seen_ms FROM last_seen WHERE name = ?1"));
    q.BindText(1, user);
    COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return std::optional<TimeMs>();
    return std::optional<TimeMs>(q.Int(0));
  }

  absl::Status SetUserDisabled(const UserId& user, bool disabled) override {
    MutexLock lock(&mu_);
    COURIER_RETURN_IF_ERROR(RequireUser(user));
    return RunWithUser(disabled ? "INSERT INTO disabled_users (name) VALUES (?1) "
                                  "ON CONFLICT DO NOTHING"
                                : "DELETE FROM disabled_users WHERE name = ?1",
                       user);
  }

  absl::StatusOr<bool> UserDisabled(const UserId& user) override {
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(Query q,
                             UserQuery(user, "SELECT 1 FROM disabled_users WHERE name = ?1"));
    return q.Step();
  }

  absl::Status DeleteUser(const UserId& user) override {
    MutexLock lock(&mu_);
    COURIER_RETURN_IF_ERROR(db_->Begin());
    return Finish(DeleteUserLocked(user));
  }

  absl::Status RecordDevice(const UserId& user, const DeviceId& device, TimeMs when) override {
    COURIER_RETURN_IF_ERROR(ValidateName("device", device));
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(Query q, UserQuery(user, kRecordDevice));
    return q.BindText(2, device).Bind(3, when).Run();
  }

  // One transaction (one commit, one sync) for them all.
  absl::Status RecordDevices(absl::Span<const DeviceSighting> sightings) override {
    MutexLock lock(&mu_);
    COURIER_RETURN_IF_ERROR(db_->Begin());
    absl::Status first;  // the first sighting refused
    auto record = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
      for (const DeviceSighting& s : sightings) {
        if (absl::Status valid = ValidateName("device", s.device); !valid.ok()) {
          if (first.ok()) first = std::move(valid);
          continue;
        }
        const UserId user(s.user);
        COURIER_ASSIGN_OR_RETURN(bool exists, Exists(user));
        if (!exists) continue;
        COURIER_ASSIGN_OR_RETURN(Query q, db_->Prepare(kRecordDevice));
        q.BindText(1, user).BindText(2, absl::string_view(s.device.data(), s.device.size()));
        q.Bind(3, s.when);
        COURIER_RETURN_IF_ERROR(q.Run());
      }
      return absl::OkStatus();
    };
    COURIER_RETURN_IF_ERROR(Finish(record()));
    return first;
  }

  absl::StatusOr<std::vector<DeviceRecord>> Devices(const UserId& user) override {
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(Query q, UserQuery(user, kDevices));
    return AllRows<DeviceRecord>(
        q, [](const Query& row) { return DeviceRecord{row.Text(0), row.Int(1)}; });
  }

  absl::StatusOr<TokenState> GetTokenState(const UserId& user) override {
    MutexLock lock(&mu_);
    COURIER_RETURN_IF_ERROR(RequireUser(user));
    TokenState state;
    COURIER_ASSIGN_OR_RETURN(state.generation, GenerationLocked(user));
    COURIER_ASSIGN_OR_RETURN(
        state.revoked,
        Names("SELECT token_id FROM revoked_tokens WHERE name = ?1 ORDER BY token_id", user));
    return state;
  }

  absl::StatusOr<std::uint64_t> BumpTokenGeneration(const UserId& user) override {
    MutexLock lock(&mu_);
    COURIER_RETURN_IF_ERROR(db_->Begin());
    absl::StatusOr<std::uint64_t> generation = BumpLocked(user);
    COURIER_RETURN_IF_ERROR(Finish(generation.status()));
    return generation;
  }

  absl::Status RevokeToken(const UserId& user, const std::string& token_id) override {
    COURIER_RETURN_IF_ERROR(ValidateTokenId(token_id));
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(
        Query q, UserQuery(user, "INSERT INTO revoked_tokens (name, token_id) VALUES (?1, ?2) "
                                 "ON CONFLICT DO NOTHING"));
    q.BindText(2, token_id);
    return q.Run();
  }

  absl::Status SetPushSubscription(const UserId& user, const DeviceId& device,
                                   const std::string& subscription) override {
    COURIER_RETURN_IF_ERROR(ValidatePushSubscription(device, subscription));
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(Query q, UserQuery(user, kSetPushSubscription));
    return q.BindText(2, device).BindBlob(3, subscription).Run();
  }

  absl::StatusOr<bool> DeletePushSubscription(const UserId& user, const DeviceId& device,
                                              const std::optional<std::string>& only_if) override {
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(
        Query q, UserQuery(user, "DELETE FROM push_subscriptions WHERE name = ?1 AND device = ?2 "
                                 "AND (?3 IS NULL OR subscription = ?3) RETURNING 1"));
    q.BindText(2, device);
    if (only_if.has_value()) q.BindBlob(3, *only_if);
    COURIER_ASSIGN_OR_RETURN(bool deleted, q.Step());
    COURIER_RETURN_IF_ERROR(q.Run());
    return deleted;
  }

  absl::StatusOr<std::vector<PushSubscriptionRecord>> PushSubscriptions(
      const UserId& user) override {
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(Query q, UserQuery(user, kPushSubscriptions));
    return AllRows<PushSubscriptionRecord>(
        q, [](const Query& row) { return PushSubscriptionRecord{row.Text(0), row.Text(1)}; });
  }

 private:
  // Runs `sql`, whose ?1 is `user`, to its end.
  absl::Status RunWithUser(absl::string_view sql, const UserId& user)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    COURIER_ASSIGN_OR_RETURN(Query q, db_->Prepare(sql));
    q.BindText(1, user);
    return q.Run();
  }

  // The user's token_generations row stays, one past the last, so that a
  // later account of this name starts above every token of this one.
  absl::Status DeleteUserLocked(const UserId& user) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    COURIER_RETURN_IF_ERROR(BumpLocked(user).status());  // kNotFound for an unknown user
    for (const char* sql : {
             "DELETE FROM users WHERE name = ?1",
             "DELETE FROM friends WHERE name = ?1 OR friend = ?1",
             "DELETE FROM friend_requests WHERE to_name = ?1 OR from_name = ?1",
             "DELETE FROM last_seen WHERE name = ?1",
             "DELETE FROM revoked_tokens WHERE name = ?1",
             "DELETE FROM disabled_users WHERE name = ?1",
             "DELETE FROM user_devices WHERE name = ?1",
             "DELETE FROM push_subscriptions WHERE name = ?1",
         }) {
      COURIER_RETURN_IF_ERROR(RunWithUser(sql, user));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::uint64_t> GenerationLocked(const UserId& user)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    COURIER_ASSIGN_OR_RETURN(
        Query q, db_->Prepare("SELECT generation FROM token_generations WHERE name = ?1"));
    q.BindText(1, user);
    COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return std::uint64_t{0};
    return static_cast<std::uint64_t>(q.Int(0));
  }

  absl::StatusOr<std::uint64_t> BumpLocked(const UserId& user) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    COURIER_RETURN_IF_ERROR(RequireUser(user));
    COURIER_ASSIGN_OR_RETURN(std::uint64_t generation, GenerationLocked(user));
    {
      COURIER_ASSIGN_OR_RETURN(
          Query q, db_->Prepare("INSERT INTO token_generations (name, generation) VALUES (?1, ?2) "
                                "ON CONFLICT (name) DO UPDATE SET generation = excluded.generation"));
      q.BindText(1, user).Bind(2, static_cast<std::int64_t>(generation + 1));
      COURIER_RETURN_IF_ERROR(q.Run());
    }
    COURIER_ASSIGN_OR_RETURN(Query d, db_->Prepare("DELETE FROM revoked_tokens WHERE name = ?1"));
    d.BindText(1, user);
    COURIER_RETURN_IF_ERROR(d.Run());
    return generation + 1;
  }

  // Ends the transaction begun by the caller: COMMIT when `status` is OK
  // (returning the commit's status), ROLLBACK otherwise.
  absl::Status Finish(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (status.ok()) status = db_->Commit();
    if (!status.ok()) db_->Rollback();
    return status;
  }

  absl::Status CreateUserLocked(const UserId& user, const std::string& password_hash,
                                TimeMs now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    COURIER_ASSIGN_OR_RETURN(bool exists, Exists(user));
    if (exists) return absl::AlreadyExistsError(absl::StrCat("user ", user, " exists"));
    COURIER_ASSIGN_OR_RETURN(
        Query q, db_->Prepare("INSERT INTO users (name, password_hash, created_ms) "
                              "VALUES (?1, ?2, ?3)"));
    q.BindText(1, user).BindBlob(2, password_hash).Bind(3, now);
    return q.Run();
  }

  absl::StatusOr<FriendRequestOutcome> RequestFriendLocked(const UserId& from, const UserId& to)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    COURIER_RETURN_IF_ERROR(RequireUser(from));
    COURIER_RETURN_IF_ERROR(RequireUser(to));
    COURIER_ASSIGN_OR_RETURN(bool friends, AreFriendsLocked(from, to));
    if (friends) return FriendRequestOutcome::kAlreadyFriends;
    COURIER_ASSIGN_OR_RETURN(bool crossing, DeleteRequest(/*to=*/from, /*from=*/to));
    if (crossing) {
      COURIER_RETURN_IF_ERROR(MakeFriends(from, to));
      return FriendRequestOutcome::kBecameFriends;
    }
    COURIER_ASSIGN_OR_RETURN(
        Query q, db_->Prepare("INSERT INTO friend_requests (to_name, from_name) "
                              "VALUES (?1, ?2) ON CONFLICT DO NOTHING"));
    q.BindText(1, to).BindText(2, from);
    COURIER_RETURN_IF_ERROR(q.Run());
    return FriendRequestOutcome::kRequested;
  }

  absl::Status AcceptFriendLocked(const UserId& user, const UserId& requester)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    COURIER_RETURN_IF_ERROR(RequireUser(user));
    COURIER_ASSIGN_OR_RETURN(bool friends, AreFriendsLocked(user, requester));
    if (friends) return absl::OkStatus();
    COURIER_ASSIGN_OR_RETURN(bool requested, DeleteRequest(user, requester));
    if (!requested) {
      return absl::NotFoundError(
          absl::StrCat("no pending friend request from ", requester, " to ", user));
    }
    return MakeFriends(user, requester);
  }

  absl::StatusOr<bool> Exists(const UserId& user) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    COURIER_ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT 1 FROM users WHERE name = ?1"));
    q.BindText(1, user);
    return q.Step();
  }

  // OK when `user` exists; kNotFound (UnknownUser) otherwise.
  absl::Status RequireUser(const UserId& user) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    COURIER_ASSIGN_OR_RETURN(bool exists, Exists(user));
    if (!exists) return UnknownUser(user);
    return absl::OkStatus();
  }

  // The statement `sql` about `user`, who is bound as ?1; kNotFound
  // (UnknownUser) when the user does not exist.
  absl::StatusOr<Query> UserQuery(const UserId& user, absl::string_view sql)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    COURIER_RETURN_IF_ERROR(RequireUser(user));
    COURIER_ASSIGN_OR_RETURN(Query q, db_->Prepare(sql));
    q.BindText(1, user);
    return q;
  }

  absl::StatusOr<bool> AreFriendsLocked(const UserId& a, const UserId& b)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    COURIER_ASSIGN_OR_RETURN(
        Query q, db_->Prepare("SELECT 1 FROM friends WHERE name = ?1 AND friend = ?2"));
    q.BindText(1, a).BindText(2, b);
    return q.Step();
  }

  // Removes the request from `from` to `to`; true when there was one.
  absl::StatusOr<bool> DeleteRequest(const UserId& to, const UserId& from)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    COURIER_ASSIGN_OR_RETURN(
        Query q, db_->Prepare("DELETE FROM friend_requests WHERE to_name = ?1 AND from_name = ?2 "
                              "RETURNING 1"));
    q.BindText(1, to).BindText(2, from);
    COURIER_ASSIGN_OR_RETURN(bool deleted, q.Step());
    COURIER_RETURN_IF_ERROR(q.Run());
    return deleted;
  }

  absl::Status MakeFriends(const UserId& a, const UserId& b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    COURIER_ASSIGN_OR_RETURN(
        Query q, db_->Prepare("INSERT INTO friends (name, friend) VALUES (?1, ?2), (?2, ?1) "
                              "ON CONFLICT DO NOTHING"));
    q.BindText(1, a).BindText(2, b);
    return q.Run();
  }

  absl::StatusOr<std::vector<UserId>> Names(absl::string_view sql, const UserId& user)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    COURIER_ASSIGN_OR_RETURN(Query q, db_->Prepare(sql));
    q.BindText(1, user);
    return AllRows<UserId>(q, [](const Query& row) { return row.Text(0); });
  }

  Mutex mu_;
  const std::unique_ptr<Connection> db_ ABSL_PT_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<AccountStore>> OpenAccountStore(const SqliteOptions& options) {
  COURIER_ASSIGN_OR_RETURN(std::unique_ptr<Connection> db,
                           OpenMigrated(options, "accounts", kAccountMigrations));
  return std::unique_ptr<AccountStore>(std::make_unique<SqliteAccountStore>(std::move(db)));
}

}  // namespace courier::sqlite
