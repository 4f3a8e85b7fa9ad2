// courier::mongo AccountStore: accounts, friendships and last seen.
#include <algorithm>
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

constexpr char kUsers[] = "users";        // {_id: user, h: hash, created}
constexpr char kLastSeen[] = "last_seen";  // {_id: user, t}
// One document per pair of users, changed only by compare-and-set on its
// version `v`, so that concurrent requests need no transaction:
// {_id: "lo/hi", lo, hi, rlo: lo asked hi, rhi: hi asked lo, f: friends, v}.
constexpr char kPairs[] = "friend_pairs";
constexpr int kMaxCasAttempts = 50;

Doc IdFilter(absl::string_view id) {
  Doc d;
  AppendStr(d.get(), "_id", id);
  return d;
}

bool Flag(const Doc& d, const char* key) {
  bson_iter_t it;
  return bson_iter_init_find(&it, d.get(), key) && BSON_ITER_HOLDS_BOOL(&it) &&
         bson_iter_bool(&it);
}

class MongoAccountStore final : public AccountStore {
 public:
  explicit MongoAccountStore(std::unique_ptr<MongoPool> pool) : pool_(std::move(pool)) {}

  static std::vector<MongoPool::Index> Indexes() {
    auto keys = [](const char* field) {
      Doc d;
      BSON_APPEND_INT32(d.get(), field, 1);
      return d;
    };
    return {
        {kPairs, "lo_1", keys("lo"), false},
        {kPairs, "hi_1", keys("hi"), false},
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
    COURIER_ASSIGN_OR_RETURN(std::optional<Doc> target, FindOne(kUsers, IdFilter(to)));
    if (!target) return absl::NotFoundError(absl::StrCat("no user ", to));
    const bool from_is_lo = from < to;
    const std::string id = from_is_lo ? PairId(from, to) : PairId(to, from);
    for (int attempt = 0; attempt < kMaxCasAttempts; ++attempt) {
      COURIER_ASSIGN_OR_RETURN(std::optional<Doc> pair, FindOne(kPairs, IdFilter(id)));
      if (!pair) {
        Doc doc = IdFilter(id);
        AppendStr(doc.get(), "lo", from_is_lo ? from : to);
        AppendStr(doc.get(), "hi", from_is_lo ? to : from);
        BSON_APPEND_BOOL(doc.get(), "rlo", from_is_lo);
        BSON_APPEND_BOOL(doc.get(), "rhi", !from_is_lo);
        BSON_APPEND_BOOL(doc.get(), "f", false);
        BSON_APPEND_INT64(doc.get(), "v", 1);
        absl::Status s = pool_->WithClient(
            [&](MongoCall& call) { return call.InsertOne(kPairs, *doc.get()); });
        if (s.ok()) return FriendRequestOutcome::kRequested;
        if (!absl::IsAlreadyExists(s)) return s;
        continue;  // the other side created it meanwhile: look again
      }
      if (Flag(*pair, "f")) return FriendRequestOutcome::kAlreadyFriends;
      const bool other_asked = Flag(*pair, from_is_lo ? "rhi" : "rlo");
      const bool i_asked = Flag(*pair, from_is_lo ? "rlo" : "rhi");
      if (!other_asked && i_asked) return FriendRequestOutcome::kRequested;
      COURIER_ASSIGN_OR_RETURN(bool won, SetPair(*pair, /*friends=*/other_asked,
                                                 from_is_lo && !other_asked,
                                                 !from_is_lo && !other_asked));
      if (won) {
        return other_asked ? FriendRequestOutcome::kBecameFriends
                           : FriendRequestOutcome::kRequested;
      }
    }
    return absl::AbortedError("mongo: the friend request kept conflicting; retry");
  }

  absl::Status AcceptFriend(const UserId& user, const UserId& requester) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_RETURN_IF_ERROR(ValidateName("requester", requester));
    const bool requester_is_lo = requester < user;
    const std::string id = requester_is_lo ? PairId(requester, user) : PairId(user, requester);
    for (int attempt = 0; attempt < kMaxCasAttempts; ++attempt) {
      COURIER_ASSIGN_OR_RETURN(std::optional<Doc> pair, FindOne(kPairs, IdFilter(id)));
      if (pair && Flag(*pair, "f")) return absl::OkStatus();
      if (!pair || !Flag(*pair, requester_is_lo ? "rlo" : "rhi")) {
        return absl::NotFoundError(
            absl::StrCat("no pending friend request from ", requester, " to ", user));
      }
      COURIER_ASSIGN_OR_RETURN(bool won, SetPair(*pair, true, false, false));
      if (won) return absl::OkStatus();
    }
    return absl::AbortedError("mongo: accepting the friend request kept conflicting; retry");
  }

  absl::StatusOr<bool> AreFriends(const UserId& a, const UserId& b) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", a));
    COURIER_RETURN_IF_ERROR(ValidateName("user", b));
    if (a == b) return false;
    COURIER_ASSIGN_OR_RETURN(std::optional<Doc> pair,
                             FindOne(kPairs, IdFilter(a < b ? PairId(a, b) : PairId(b, a))));
    return pair && Flag(*pair, "f");
  }

  absl::StatusOr<std::vector<UserId>> Friends(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    return Others(user, /*friends=*/true);
  }

  absl::StatusOr<std::vector<UserId>> PendingRequests(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    return Others(user, /*friends=*/false);
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

  // Compare-and-set of a pair document: true when this call changed it.
  absl::StatusOr<bool> SetPair(const Doc& pair, bool friends, bool rlo, bool rhi) {
    Doc filter = IdFilter(pair.Str("_id"));
    BSON_APPEND_INT64(filter.get(), "v", pair.Int("v"));
    Doc update;
    bson_t set, inc;
    BSON_APPEND_DOCUMENT_BEGIN(update.get(), "$set", &set);
    BSON_APPEND_BOOL(&set, "f", friends);
    BSON_APPEND_BOOL(&set, "rlo", rlo);
    BSON_APPEND_BOOL(&set, "rhi", rhi);
    bson_append_document_end(update.get(), &set);
    BSON_APPEND_DOCUMENT_BEGIN(update.get(), "$inc", &inc);
    BSON_APPEND_INT64(&inc, "v", 1);
    bson_append_document_end(update.get(), &inc);
    std::int64_t changed = 0;
    COURIER_RETURN_IF_ERROR(pool_->WithClient([&](MongoCall& call) -> absl::Status {
      COURIER_ASSIGN_OR_RETURN(changed,
                               call.UpdateOne(kPairs, *filter.get(), *update.get(), false));
      return absl::OkStatus();
    }));
    return changed == 1;
  }

  // The friends of `user` (friends = true), or the users whose requests to
  // `user` are pending, sorted by name (byte order).
  absl::StatusOr<std::vector<UserId>> Others(const UserId& user, bool friends) {
    Doc filter;
    bson_t arr, lo, hi;
    BSON_APPEND_ARRAY_BEGIN(filter.get(), "$or", &arr);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &lo);
    AppendStr(&lo, "lo", user);
    if (!friends) BSON_APPEND_BOOL(&lo, "rhi", true);
    bson_append_document_end(&arr, &lo);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, "1", &hi);
    AppendStr(&hi, "hi", user);
    if (!friends) BSON_APPEND_BOOL(&hi, "rlo", true);
    bson_append_document_end(&arr, &hi);
    bson_append_array_end(filter.get(), &arr);
    BSON_APPEND_BOOL(filter.get(), "f", friends);
    std::vector<UserId> out;
    COURIER_RETURN_IF_ERROR(pool_->WithClient([&](MongoCall& call) {
      return call.Find(kPairs, *filter.get(), nullptr, [&](const Doc& d) {
        const std::string lo_name = d.Str("lo");
        out.push_back(lo_name == user ? d.Str("hi") : lo_name);
      });
    }));
    std::sort(out.begin(), out.end());
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
