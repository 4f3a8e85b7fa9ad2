// courier::mongo AccountStore: accounts, friendships and last seen.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "courier/mongo.h"
#include "courier/status.h"
#include "mongo_client.h"

namespace courier::mongo {
namespace {

constexpr char kUsers[] = "users";
constexpr char kLastSeen[] = "last_seen";
constexpr char kRequests[] = "friend_requests";  // {_id: "from/to", f, t}
constexpr char kFriends[] = "friends";           // {_id: "a/b", u: a, f: b}, both ways

Doc IdFilter(absl::string_view id) {
  Doc d;
  AppendStr(d.get(), "_id", id);
  return d;
}

// Upserts both directions of a friendship.
absl::Status MakeFriends(MongoCall& call, const UserId& a, const UserId& b) {
  for (const auto& [u, f] : {std::pair{a, b}, std::pair{b, a}}) {
    Doc set;
    bson_t s;
    BSON_APPEND_DOCUMENT_BEGIN(set.get(), "$set", &s);
    AppendStr(&s, "u", u);
    AppendStr(&s, "f", f);
    bson_append_document_end(set.get(), &s);
    COURIER_RETURN_IF_ERROR(
        call.UpdateOne(kFriends, *IdFilter(PairId(u, f)).get(), *set.get(), true).status());
  }
  return absl::OkStatus();
}

class MongoAccountStore final : public AccountStore {
 public:
  explicit MongoAccountStore(std::unique_ptr<MongoPool> pool) : pool_(std::move(pool)) {}

  static std::vector<MongoPool::Index> Indexes() {
    auto keys = [](std::initializer_list<const char*> fields) {
      Doc d;
      for (const char* f : fields) BSON_APPEND_INT32(d.get(), f, 1);
      return d;
    };
    return {
        {kRequests, "t_1_f_1", keys({"t", "f"}), false},
        {kFriends, "u_1_f_1", keys({"u", "f"}), false},
    };
  }

  absl::Status CreateUser(const UserId& user, const std::string& password_hash,
                          TimeMs now) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    if (password_hash.size() > 4096) {
      return absl::InvalidArgumentError("password hash longer than 4096 bytes");
    }
    Doc doc = IdFilter(user);
    AppendBin(doc.get(), "h", password_hash);
    BSON_APPEND_INT64(doc.get(), "created", now);
    absl::Status s = pool_->WithClient(
        [&](MongoCall& call) { return call.InsertOne(kUsers, *doc.get()); });
    if (absl::IsAlreadyExists(s)) {
      return absl::AlreadyExistsError(absl::StrCat("user ", user, " already exists"));
    }
    return s;
  }

  absl::StatusOr<std::string> PasswordHash(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_ASSIGN_OR_RETURN(std::optional<Doc> doc, FindOne(kUsers, IdFilter(user)));
    if (!doc) return absl::NotFoundError(absl::StrCat("no user ", user));
    return doc->Str("h");
  }

  absl::StatusOr<bool> UserExists(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_ASSIGN_OR_RETURN(std::optional<Doc> doc, FindOne(kUsers, IdFilter(user)));
    return doc.has_value();
  }

  absl::StatusOr<FriendRequestOutcome> RequestFriend(const UserId& from,
                                                     const UserId& to) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", from));
    COURIER_RETURN_IF_ERROR(ValidateName("friend", to));
    if (from == to) return absl::InvalidArgumentError("cannot befriend oneself");
    FriendRequestOutcome outcome = FriendRequestOutcome::kRequested;
    bool unknown = false;
    COURIER_RETURN_IF_ERROR(pool_->RunAtomic([&](MongoCall& call) -> absl::Status {
      unknown = false;
      COURIER_ASSIGN_OR_RETURN(std::optional<Doc> target, call.FindOne(kUsers, *IdFilter(to).get()));
      if (!target) {
        unknown = true;
        return absl::OkStatus();
      }
      COURIER_ASSIGN_OR_RETURN(std::optional<Doc> friends,
                               call.FindOne(kFriends, *IdFilter(PairId(from, to)).get()));
      if (friends) {
        outcome = FriendRequestOutcome::kAlreadyFriends;
        return absl::OkStatus();
      }
      COURIER_ASSIGN_OR_RETURN(std::int64_t crossing,
                               call.DeleteOne(kRequests, *IdFilter(PairId(to, from)).get()));
      if (crossing > 0) {
        outcome = FriendRequestOutcome::kBecameFriends;
        return MakeFriends(call, from, to);
      }
      Doc set;
      bson_t s;
      BSON_APPEND_DOCUMENT_BEGIN(set.get(), "$set", &s);
      AppendStr(&s, "f", from);
      AppendStr(&s, "t", to);
      bson_append_document_end(set.get(), &s);
      outcome = FriendRequestOutcome::kRequested;
      return call.UpdateOne(kRequests, *IdFilter(PairId(from, to)).get(), *set.get(), true)
          .status();
    }));
    if (unknown) return absl::NotFoundError(absl::StrCat("no user ", to));
    return outcome;
  }

  absl::Status AcceptFriend(const UserId& user, const UserId& requester) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_RETURN_IF_ERROR(ValidateName("requester", requester));
    bool missing = false;
    COURIER_RETURN_IF_ERROR(pool_->RunAtomic([&](MongoCall& call) -> absl::Status {
      missing = false;
      COURIER_ASSIGN_OR_RETURN(std::optional<Doc> friends,
                               call.FindOne(kFriends, *IdFilter(PairId(user, requester)).get()));
      if (friends) return absl::OkStatus();
      COURIER_ASSIGN_OR_RETURN(std::int64_t n,
                               call.DeleteOne(kRequests, *IdFilter(PairId(requester, user)).get()));
      if (n == 0) {
        missing = true;
        return absl::OkStatus();
      }
      return MakeFriends(call, user, requester);
    }));
    if (missing) {
      return absl::NotFoundError(
          absl::StrCat("no pending friend request from ", requester, " to ", user));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<bool> AreFriends(const UserId& a, const UserId& b) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", a));
    COURIER_RETURN_IF_ERROR(ValidateName("user", b));
    COURIER_ASSIGN_OR_RETURN(std::optional<Doc> doc, FindOne(kFriends, IdFilter(PairId(a, b))));
    return doc.has_value();
  }

  absl::StatusOr<std::vector<UserId>> Friends(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    return Names(kFriends, "u", user, "f");
  }

  absl::StatusOr<std::vector<UserId>> PendingRequests(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    return Names(kRequests, "t", user, "f");
  }

  absl::Status SetLastSeen(const UserId& user, TimeMs when) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    Doc set;
    bson_t s;
    BSON_APPEND_DOCUMENT_BEGIN(set.get(), "$set", &s);
    BSON_APPEND_INT64(&s, "t", when);
    bson_append_document_end(set.get(), &s);
    return pool_->WithClient([&](MongoCall& call) {
      return call.UpdateOne(kLastSeen, *IdFilter(user).get(), *set.get(), true).status();
    });
  }

  absl::StatusOr<std::optional<TimeMs>> LastSeen(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_ASSIGN_OR_RETURN(std::optional<Doc> doc, FindOne(kLastSeen, IdFilter(user)));
    if (!doc) return std::optional<TimeMs>();
    return std::optional<TimeMs>(doc->Int("t"));
  }

 private:
  absl::StatusOr<std::optional<Doc>> FindOne(const char* coll, const Doc& filter) {
    std::optional<Doc> out;
    COURIER_RETURN_IF_ERROR(pool_->WithClient([&](MongoCall& call) -> absl::Status {
      COURIER_ASSIGN_OR_RETURN(out, call.FindOne(coll, *filter.get()));
      return absl::OkStatus();
    }));
    return out;
  }

  // Values of `field` in the documents of `coll` whose `key` is `value`,
  // sorted (MongoDB's default binary order).
  absl::StatusOr<std::vector<UserId>> Names(const char* coll, const char* key,
                                            const UserId& value, const char* field) {
    Doc filter, opts;
    AppendStr(filter.get(), key, value);
    bson_t sort;
    BSON_APPEND_DOCUMENT_BEGIN(opts.get(), "sort", &sort);
    BSON_APPEND_INT32(&sort, field, 1);
    bson_append_document_end(opts.get(), &sort);
    std::vector<UserId> out;
    COURIER_RETURN_IF_ERROR(pool_->WithClient([&](MongoCall& call) {
      return call.Find(coll, *filter.get(), opts.get(),
                       [&](const Doc& raw) { out.push_back(raw.Str(field)); });
    }));
    return out;
  }

  std::unique_ptr<MongoPool> pool_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AccountStore>> OpenAccountStore(const MongoOptions& options) {
  COURIER_ASSIGN_OR_RETURN(auto pool, MongoPool::Open(options, MongoAccountStore::Indexes()));
  return std::make_unique<MongoAccountStore>(std::move(pool));
}

}  // namespace courier::mongo
