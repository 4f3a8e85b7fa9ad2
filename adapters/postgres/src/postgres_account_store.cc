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

std::vector<PgStatement> Statements(absl::string_view p) {
  return {
      {"create_user", WithPrefix("INSERT INTO {p}users (user_id, password_hash, created_ms) "
                                 "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", p)},
      {"password_hash", WithPrefix("SELECT password_hash FROM {p}users WHERE user_id = $1", p)},
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
  };
}

std::vector<UserId> Names(const PGresult* r) {
  std::vector<UserId> out;
  for (int i = 0; i < PQntuples(r); ++i) out.push_back(PgBytes(r, i, 0));
  return out;
}

class PostgresAccountStore final : public AccountStore {
 public:
  explicit PostgresAccountStore(const PostgresOptions& options)
      : options_(options),
        pool_(MakeSettings(options, Statements(options.table_prefix)), options.pool_size,
              options.pool_wait_timeout_ms) {}

  // Creates or upgrades the schema on a connection of its own (pooled ones
  // prepare statements that need the schema), then opens a pooled one.
  absl::Status Init() {
    COURIER_ASSIGN_OR_RETURN(auto setup, PgConnection::Connect(MakeSettings(options_, {})));
    COURIER_RETURN_IF_ERROR(EnsureSchema(*setup, options_.table_prefix));
    return pool_.Acquire().status();
  }

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

 private:
  absl::StatusOr<PgResult> Run(PgQuery query) {
    COURIER_ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
    COURIER_ASSIGN_OR_RETURN(auto results, conn->Run(absl::MakeConstSpan(&query, 1)));
    return std::move(results[0]);
  }

  const PostgresOptions options_;
  PgPool pool_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AccountStore>> OpenAccountStore(const PostgresOptions& options) {
  COURIER_RETURN_IF_ERROR(ValidateOptions(options));
  auto store = std::make_unique<PostgresAccountStore>(options);
  COURIER_RETURN_IF_ERROR(store->Init());
  return store;
}

}  // namespace courier::postgres
