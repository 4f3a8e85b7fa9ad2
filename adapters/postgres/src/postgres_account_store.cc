// courier::postgres AccountStore: accounts, friendships and last seen.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "courier/postgres.h"
#include "courier/status.h"
#include "pg_connection.h"
#include "pg_schema.h"
#include "postgres_common.h"

namespace courier::postgres {
namespace {

// The store's own tables (PgStore): token revocation; the admin API's
// ({p}devices is the message store's: the cursors); push subscriptions.
constexpr char kTokenTables[] =
    "CREATE TABLE IF NOT EXISTS {p}token_generations ("
    "  user_id text PRIMARY KEY, generation bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS {p}revoked_tokens ("
    "  user_id text NOT NULL, token_id text NOT NULL, PRIMARY KEY (user_id, token_id));";
constexpr char kAdminTables[] =
    "CREATE TABLE IF NOT EXISTS {p}disabled_users (user_id text PRIMARY KEY);"
    "CREATE TABLE IF NOT EXISTS {p}user_devices ("
    "  user_id text NOT NULL, device text NOT NULL, seen_ms bigint NOT NULL,"
    "  PRIMARY KEY (user_id, device));";
constexpr char kPushTables[] =
    "CREATE TABLE IF NOT EXISTS {p}push_subscriptions ("
    "  user_id text NOT NULL, device text NOT NULL, subscription bytea NOT NULL,"
    "  PRIMARY KEY (user_id, device));";

std::vector<PgStatement> Statements(absl::string_view p) {
  return {
      {"create_user", WithPrefix("INSERT INTO {p}users (user_id, password_hash, created_ms) "
                                 "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", p)},
      {"password_hash", WithPrefix("SELECT password_hash FROM {p}users WHERE user_id = $1", p)},
      {"set_password_hash",
       WithPrefix("UPDATE {p}users SET password_hash = $2 WHERE user_id = $1", p)},
      {"request_friend", WithPrefix("SELECT {p}request_friend($1, $2)", p)},
      {"accept_friend", WithPrefix("SELECT {p}accept_friend($1, $2)", p)},
      {"are_friends", WithPrefix("SELECT 1 FROM {p}friends "
                                 "WHERE user_id = $1 AND friend_id = $2", p)},
      {"friends", WithPrefix("SELECT friend_id FROM {p}friends WHERE user_id = $1 "
                             "ORDER BY friend_id COLLATE \"C\"", p)},
      {"pending", WithPrefix("SELECT from_user FROM {p}friend_requests WHERE to_user = $1 "
                             "ORDER BY from_user COLLATE \"C\"", p)},
      {"set_last_seen", WithPrefix("INSERT INTO {p}last_seen (user_id, seen_ms) "
                                   "VALUES ($1, $2) ON CONFLICT (user_id) "
                                   "DO UPDATE SET seen_ms = excluded.seen_ms", p)},
      {"last_seen", WithPrefix("SELECT seen_ms FROM {p}last_seen WHERE user_id = $1", p)},
      {"token_generation",
       WithPrefix("SELECT coalesce((SELECT generation FROM {p}token_generations "
                  "WHERE user_id = $1), 0) FROM {p}users WHERE user_id = $1", p)},
      {"revoked_tokens", WithPrefix("SELECT token_id FROM {p}revoked_tokens WHERE user_id = $1 "
                                    "ORDER BY token_id COLLATE \"C\"", p)},
      {"bump_generation",
       WithPrefix("WITH u AS (SELECT user_id FROM {p}users WHERE user_id = $1), "
                  "d AS (DELETE FROM {p}revoked_tokens r USING u WHERE r.user_id = u.user_id) "
                  "INSERT INTO {p}token_generations (user_id, generation) "
                  "SELECT user_id, 1 FROM u ON CONFLICT (user_id) DO UPDATE "
                  "SET generation = {p}token_generations.generation + 1 RETURNING generation", p)},
      {"revoke_token",
       WithPrefix("INSERT INTO {p}revoked_tokens (user_id, token_id) "
                  "SELECT user_id, $2 FROM {p}users WHERE user_id = $1 ON CONFLICT DO NOTHING", p)},
      // --- the admin API
      {"disable_user", WithPrefix("INSERT INTO {p}disabled_users (user_id) "
                                  "SELECT user_id FROM {p}users WHERE user_id = $1 "
                                  "ON CONFLICT DO NOTHING", p)},
      {"enable_user", WithPrefix("DELETE FROM {p}disabled_users WHERE user_id = $1", p)},
      {"user_disabled",
       WithPrefix("SELECT EXISTS (SELECT 1 FROM {p}disabled_users d WHERE d.user_id = $1) "
                  "FROM {p}users WHERE user_id = $1", p)},
      // Data-modifying CTEs all run, once, in one statement (atomic).
      {"delete_user",
       WithPrefix("WITH u AS (DELETE FROM {p}users WHERE user_id = $1 RETURNING user_id), "
                  "f AS (DELETE FROM {p}friends WHERE user_id = $1 OR friend_id = $1), "
                  "r AS (DELETE FROM {p}friend_requests WHERE to_user = $1 OR from_user = $1), "
                  "l AS (DELETE FROM {p}last_seen WHERE user_id = $1), "
                  // The generation stays, one past the last: a later account of
                  // this name starts above every token of this one.
                  "g AS (INSERT INTO {p}token_generations (user_id, generation) "
                  "SELECT user_id, 1 FROM u ON CONFLICT (user_id) DO UPDATE "
                  "SET generation = {p}token_generations.generation + 1), "
                  "t AS (DELETE FROM {p}revoked_tokens WHERE user_id = $1), "
                  "x AS (DELETE FROM {p}disabled_users WHERE user_id = $1), "
                  "d AS (DELETE FROM {p}user_devices WHERE user_id = $1), "
                  "w AS (DELETE FROM {p}push_subscriptions WHERE user_id = $1) "
                  "SELECT count(*) FROM u", p)},
      {"record_device",
       WithPrefix("INSERT INTO {p}user_devices (user_id, device, seen_ms) "
                  "SELECT user_id, $2, $3 FROM {p}users WHERE user_id = $1 "
                  "ON CONFLICT (user_id, device) DO UPDATE "
                  "SET seen_ms = GREATEST({p}user_devices.seen_ms, excluded.seen_ms)", p)},
      {"devices", WithPrefix("SELECT device, seen_ms FROM {p}user_devices WHERE user_id = $1 "
                             "ORDER BY device COLLATE \"C\"", p)},
      // --- push subscriptions (courier/notifier.h)
      {"set_push",
       WithPrefix("INSERT INTO {p}push_subscriptions (user_id, device, subscription) "
                  "SELECT user_id, $2, $3 FROM {p}users WHERE user_id = $1 "
                  "ON CONFLICT (user_id, device) DO UPDATE "
                  "SET subscription = excluded.subscription", p)},
      // $3 NULL: whatever is stored.
      {"delete_push",
       WithPrefix("DELETE FROM {p}push_subscriptions WHERE user_id = $1 AND device = $2 "
                  "AND ($3::bytea IS NULL OR subscription = $3::bytea)", p)},
      {"push_subscriptions",
       WithPrefix("SELECT device, subscription FROM {p}push_subscriptions WHERE user_id = $1 "
                  "ORDER BY device COLLATE \"C\"", p)},
  };
}

std::vector<UserId> Names(const PGresult* r) {
  std::vector<UserId> out;
  for (int i = 0; i < PQntuples(r); ++i) out.push_back(PgBytes(r, i, 0));
  return out;
}

class PostgresAccountStore final : public AccountStore, public PgStore {
 public:
  explicit PostgresAccountStore(const PostgresOptions& options)
      : PgStore(options, Statements(options.table_prefix),
                {kTokenTables, kAdminTables, kPushTables}) {}

  absl::Status CreateUser(const UserId& user, const std::string& password_hash,
                          TimeMs now) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    if (password_hash.size() > 4096) {
      return absl::InvalidArgumentError("password hash longer than 4096 bytes");
    }
    COURIER_ASSIGN_OR_RETURN(
        PgResult r, Run({"create_user", "",
                         {TextParam(user), BytesParam(password_hash), IntParam(now)}}));
    if (absl::string_view(PQcmdTuples(r.get())) != "1") {
      return absl::AlreadyExistsError(absl::StrCat("user ", user, " already exists"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> PasswordHash(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_ASSIGN_OR_RETURN(PgResult r, Run({"password_hash", "", {TextParam(user)}}));
    if (PQntuples(r.get()) == 0) return absl::NotFoundError(absl::StrCat("no user ", user));
    return PgBytes(r.get(), 0, 0);
  }

  absl::Status SetPasswordHash(const UserId& user, const std::string& password_hash) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    if (password_hash.size() > 4096) {
      return absl::InvalidArgumentError("password hash longer than 4096 bytes");
    }
    return ChangeOfUser(
        user, {"set_password_hash", "", {TextParam(user), BytesParam(password_hash)}});
  }

  absl::StatusOr<bool> UserExists(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_ASSIGN_OR_RETURN(PgResult r, Run({"password_hash", "", {TextParam(user)}}));
    return PQntuples(r.get()) > 0;
  }

  absl::StatusOr<FriendRequestOutcome> RequestFriend(const UserId& from,
                                                     const UserId& to) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", from));
    COURIER_RETURN_IF_ERROR(ValidateName("friend", to));
    if (from == to) return absl::InvalidArgumentError("cannot befriend oneself");
    COURIER_ASSIGN_OR_RETURN(PgResult r,
                             Run({"request_friend", "", {TextParam(from), TextParam(to)}}));
    switch (PgInt(r.get(), 0, 0)) {
      case -1: return absl::NotFoundError(absl::StrCat("no user ", to));
      case 0: return FriendRequestOutcome::kRequested;
      case 1: return FriendRequestOutcome::kBecameFriends;
      default: return FriendRequestOutcome::kAlreadyFriends;
    }
  }

  absl::Status AcceptFriend(const UserId& user, const UserId& requester) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_RETURN_IF_ERROR(ValidateName("requester", requester));
    COURIER_ASSIGN_OR_RETURN(
        PgResult r, Run({"accept_friend", "", {TextParam(user), TextParam(requester)}}));
    if (!PgBool(r.get(), 0, 0)) {
      return absl::NotFoundError(
          absl::StrCat("no pending friend request from ", requester, " to ", user));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<bool> AreFriends(const UserId& a, const UserId& b) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", a));
    COURIER_RETURN_IF_ERROR(ValidateName("user", b));
    COURIER_ASSIGN_OR_RETURN(PgResult r, Run({"are_friends", "", {TextParam(a), TextParam(b)}}));
    return PQntuples(r.get()) > 0;
  }

  absl::StatusOr<std::vector<UserId>> Friends(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_ASSIGN_OR_RETURN(PgResult r, Run({"friends", "", {TextParam(user)}}));
    return Names(r.get());
  }

  absl::StatusOr<std::vector<UserId>> PendingRequests(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_ASSIGN_OR_RETURN(PgResult r, Run({"pending", "", {TextParam(user)}}));
    return Names(r.get());
  }

  absl::Status SetLastSeen(const UserId& user, TimeMs when) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    return Run({"set_last_seen", "", {TextParam(user), IntParam(when)}}).status();
  }

  absl::StatusOr<std::optional<TimeMs>> LastSeen(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_ASSIGN_OR_RETURN(PgResult r, Run({"last_seen", "", {TextParam(user)}}));
    if (PQntuples(r.get()) == 0) return std::optional<TimeMs>();
    return std::optional<TimeMs>(PgInt(r.get(), 0, 0));
  }

  absl::StatusOr<TokenState> GetTokenState(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_ASSIGN_OR_RETURN(PgResult g, Run({"token_generation", "", {TextParam(user)}}));
    if (PQntuples(g.get()) == 0) return absl::NotFoundError(absl::StrCat("no user ", user));
    TokenState state;
    state.generation = static_cast<std::uint64_t>(PgInt(g.get(), 0, 0));
    COURIER_ASSIGN_OR_RETURN(PgResult r, Run({"revoked_tokens", "", {TextParam(user)}}));
    state.revoked = Names(r.get());
    return state;
  }

  absl::StatusOr<std::uint64_t> BumpTokenGeneration(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_ASSIGN_OR_RETURN(PgResult r, Run({"bump_generation", "", {TextParam(user)}}));
    if (PQntuples(r.get()) == 0) return absl::NotFoundError(absl::StrCat("no user ", user));
    return static_cast<std::uint64_t>(PgInt(r.get(), 0, 0));
  }

  absl::Status RevokeToken(const UserId& user, const std::string& token_id) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_RETURN_IF_ERROR(ValidateTokenId(token_id));
    COURIER_ASSIGN_OR_RETURN(PgResult r,
                             Run({"revoke_token", "", {TextParam(user), TextParam(token_id)}}));
    if (absl::string_view(PQcmdTuples(r.get())) == "1") return absl::OkStatus();
    COURIER_ASSIGN_OR_RETURN(bool exists, UserExists(user));  // 0 rows: known id or no user
    if (!exists) return absl::NotFoundError(absl::StrCat("no user ", user));
    return absl::OkStatus();
  }

  absl::Status SetUserDisabled(const UserId& user, bool disabled) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_ASSIGN_OR_RETURN(bool exists, UserExists(user));
    if (!exists) return absl::NotFoundError(absl::StrCat("no user ", user));
    return Run({disabled ? "disable_user" : "enable_user", "", {TextParam(user)}}).status();
  }

  absl::StatusOr<bool> UserDisabled(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_ASSIGN_OR_RETURN(PgResult r, Run({"user_disabled", "", {TextParam(user)}}));
    if (PQntuples(r.get()) == 0) return absl::NotFoundError(absl::StrCat("no user ", user));
    return PgBool(r.get(), 0, 0);
  }

  absl::Status DeleteUser(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_ASSIGN_OR_RETURN(PgResult r, Run({"delete_user", "", {TextParam(user)}}));
    if (PgInt(r.get(), 0, 0) == 0) return absl::NotFoundError(absl::StrCat("no user ", user));
    return absl::OkStatus();
  }

  absl::Status RecordDevice(const UserId& user, const DeviceId& device, TimeMs when) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_RETURN_IF_ERROR(ValidateName("device", device));
    return ChangeOfUser(
        user, {"record_device", "", {TextParam(user), TextParam(device), IntParam(when)}});
  }

  absl::StatusOr<std::vector<DeviceRecord>> Devices(const UserId& user) override {
    return RowsOfUser<DeviceRecord>("devices", user, [](const PGresult* r, int i) {
      return DeviceRecord{PgBytes(r, i, 0), PgInt(r, i, 1)};
    });
  }

  absl::Status SetPushSubscription(const UserId& user, const DeviceId& device,
                                   const std::string& subscription) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_RETURN_IF_ERROR(ValidatePushSubscription(device, subscription));
    return ChangeOfUser(
        user, {"set_push", "", {TextParam(user), TextParam(device), BytesParam(subscription)}});
  }

  absl::StatusOr<bool> DeletePushSubscription(const UserId& user, const DeviceId& device,
                                              const std::optional<std::string>& only_if) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_ASSIGN_OR_RETURN(bool exists, UserExists(user));
    if (!exists) return absl::NotFoundError(absl::StrCat("no user ", user));
    PgParam expected = BytesParam(only_if.value_or(""));
    expected.null = !only_if.has_value();
    COURIER_ASSIGN_OR_RETURN(
        PgResult r,
        Run({"delete_push", "", {TextParam(user), TextParam(device), std::move(expected)}}));
    return absl::string_view(PQcmdTuples(r.get())) != "0";
  }

  absl::StatusOr<std::vector<PushSubscriptionRecord>> PushSubscriptions(
      const UserId& user) override {
    return RowsOfUser<PushSubscriptionRecord>(
        "push_subscriptions", user, [](const PGresult* r, int i) {
          return PushSubscriptionRecord{PgBytes(r, i, 0), PgBytes(r, i, 1)};
        });
  }

 private:
  absl::StatusOr<PgResult> Run(PgQuery query) { return pool_.RunOne(std::move(query)); }

  // Runs `query`, which changes a row of `user`'s; kNotFound when it
  // changed none (no such user).
  absl::Status ChangeOfUser(const UserId& user, PgQuery query) {
    COURIER_ASSIGN_OR_RETURN(PgResult r, Run(std::move(query)));
    if (absl::string_view(PQcmdTuples(r.get())) == "0") {
      return absl::NotFoundError(absl::StrCat("no user ", user));
    }
    return absl::OkStatus();
  }

  // The rows of `statement` for `user`, each made by `row(result, i)`; an
  // unknown user (no rows, and no account) is kNotFound.
  template <typename T>
  absl::StatusOr<std::vector<T>> RowsOfUser(const char* statement, const UserId& user,
                                            T (*row)(const PGresult*, int)) {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_ASSIGN_OR_RETURN(PgResult r, pool_.RunOne({statement, "", {TextParam(user)}}));
    std::vector<T> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(row(r.get(), i));
    if (out.empty()) {
      COURIER_ASSIGN_OR_RETURN(bool exists, UserExists(user));
      if (!exists) return absl::NotFoundError(absl::StrCat("no user ", user));
    }
    return out;
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<AccountStore>> OpenAccountStore(const PostgresOptions& options) {
  return OpenStore<AccountStore, PostgresAccountStore>(options);
}

}  // namespace courier::postgres
