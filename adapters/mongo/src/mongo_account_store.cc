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
// Token revocation: {_id: user, g: generation, r: {token_id: true, ...}}; no
// document = generation 0, nothing revoked. DeleteUser keeps the document,
// one generation on. Token ids have no '.' or '$', so
// each is a field name of `r`.
constexpr char kTokens[] = "token_state";
// The admin API: {_id: "user/device", u: user, dev: device, t: last seen};
// a disabled user's document in kUsers has d: true.
constexpr char kDevices[] = "user_devices";
// Push subscriptions: {_id: "user/device", u: user, dev: device, s: the
// subscription} (a UTF-8 string: courier-server keeps JSON).
constexpr char kPush[] = "push_subscriptions";

// The update that moves a kTokens document to the next generation. A new
// generation revokes no token yet: r becomes {}.
Doc BumpUpdate() {
  Doc update;
  AppendDoc(update.get(), "$inc", [](bson_t* inc) { BSON_APPEND_INT64(inc, "g", 1); });
  AppendDoc(update.get(), "$set", [](bson_t* set) { AppendDoc(set, "r", [](bson_t*) {}); });
  return update;
}

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

class MongoAccountStore final : public AccountStore, public PooledStore {
 public:
  using PooledStore::PooledStore;

  static std::vector<MongoPool::Index> Indexes() {
    auto keys = [](const char* field) {
      Doc d;
      BSON_APPEND_INT32(d.get(), field, 1);
      return d;
    };
    return {
        {kPairs, "lo_1", keys("lo"), false},
        {kPairs, "hi_1", keys("hi"), false},
        {kDevices, "u_1", keys("u"), false},
        {kPush, "u_1", keys("u"), false},
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

  absl::Status SetPasswordHash(const UserId& user, const std::string& password_hash) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    if (password_hash.size() > 4096) {
      return absl::InvalidArgumentError("password hash longer than 4096 bytes");
    }
    Doc update;
    AppendDoc(update.get(), "$set", [&](bson_t* set) { AppendBin(set, "h", password_hash); });
    std::int64_t matched = 0;
    COURIER_RETURN_IF_ERROR(pool_->WithClient([&](MongoCall& call) -> absl::Status {
      COURIER_ASSIGN_OR_RETURN(matched, call.UpdateOne(kUsers, *IdFilter(user).get(),
                                                       *update.get(), /*upsert=*/false));
      return absl::OkStatus();
    }));
    if (matched == 0) {
      // UpdateOne counts modified documents: the same hash again modifies none.
      COURIER_ASSIGN_OR_RETURN(std::optional<Doc> doc, FindOne(kUsers, IdFilter(user)));
      if (!doc) return absl::NotFoundError(absl::StrCat("no user ", user));
    }
    return absl::OkStatus();
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
    Doc update;
    AppendDoc(update.get(), "$set", [&](bson_t* set) { BSON_APPEND_INT64(set, "t", when); });
    return UpdateById(kLastSeen, user, update, /*upsert=*/true);
  }

  absl::StatusOr<std::optional<TimeMs>> LastSeen(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_ASSIGN_OR_RETURN(std::optional<Doc> doc, FindOne(kLastSeen, IdFilter(user)));
    if (!doc) return std::optional<TimeMs>();
    return std::optional<TimeMs>(doc->Int("t"));
  }

  absl::Status SetUserDisabled(const UserId& user, bool disabled) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_RETURN_IF_ERROR(Account(user).status());
    Doc update;
    AppendDoc(update.get(), "$set", [&](bson_t* set) { BSON_APPEND_BOOL(set, "d", disabled); });
    return UpdateById(kUsers, user, update, /*upsert=*/false);
  }

  absl::StatusOr<bool> UserDisabled(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_ASSIGN_OR_RETURN(Doc account, Account(user));
    return Flag(account, "d");
  }

  // The token document moves one generation on and stays, so that a later
  // account of this name starts above every token of this one; it moves
  // before the account document goes, so that no account of the name ever
  // reads the deleted one's last generation. Then the account document goes
  // (all in one transaction on a replica set; on a standalone server, a
  // failure after it leaves only rows that a later DeleteUser of a
  // re-created name, or nothing, would see).
  absl::Status DeleteUser(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    std::int64_t deleted = 0;
    COURIER_RETURN_IF_ERROR(pool_->RunAtomic([&](MongoCall& call) -> absl::Status {
      COURIER_ASSIGN_OR_RETURN(std::optional<Doc> account,
                               call.FindOne(kUsers, *IdFilter(user).get()));
      if (!account) return absl::OkStatus();
      COURIER_RETURN_IF_ERROR(
          call.UpdateOne(kTokens, *IdFilter(user).get(), *BumpUpdate().get(), /*upsert=*/true)
              .status());
      COURIER_ASSIGN_OR_RETURN(deleted, call.DeleteOne(kUsers, *IdFilter(user).get()));
      if (deleted == 0) return absl::OkStatus();
      Doc pairs;
      bson_t arr, lo, hi;
      BSON_APPEND_ARRAY_BEGIN(pairs.get(), "$or", &arr);
      BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &lo);
      AppendStr(&lo, "lo", user);
      bson_append_document_end(&arr, &lo);
      BSON_APPEND_DOCUMENT_BEGIN(&arr, "1", &hi);
      AppendStr(&hi, "hi", user);
      bson_append_document_end(&arr, &hi);
      bson_append_array_end(pairs.get(), &arr);
      COURIER_RETURN_IF_ERROR(call.DeleteMany(kPairs, *pairs.get()).status());
      COURIER_RETURN_IF_ERROR(call.DeleteMany(kLastSeen, *IdFilter(user).get()).status());
      Doc devices;
      AppendStr(devices.get(), "u", user);
      COURIER_RETURN_IF_ERROR(call.DeleteMany(kDevices, *devices.get()).status());
      return call.DeleteMany(kPush, *devices.get()).status();
    }));
    if (deleted == 0) return absl::NotFoundError(absl::StrCat("no user ", user));
    return absl::OkStatus();
  }

  absl::Status RecordDevice(const UserId& user, const DeviceId& device, TimeMs when) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_RETURN_IF_ERROR(ValidateName("device", device));
    COURIER_RETURN_IF_ERROR(Account(user).status());
    Doc update;
    AppendDoc(update.get(), "$set", [&](bson_t* set) {
      AppendStr(set, "u", user);
      AppendStr(set, "dev", device);
    });
    AppendDoc(update.get(), "$max", [&](bson_t* max) { BSON_APPEND_INT64(max, "t", when); });
    return UpdateById(kDevices, PairId(user, device), update, /*upsert=*/true);
  }

  absl::StatusOr<std::vector<DeviceRecord>> Devices(const UserId& user) override {
    return PerDevice<DeviceRecord>(kDevices, user, [](const Doc& d) {
      return DeviceRecord{d.Str("dev"), d.Int("t")};
    });
  }

  absl::StatusOr<TokenState> GetTokenState(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_RETURN_IF_ERROR(Account(user).status());
    COURIER_ASSIGN_OR_RETURN(std::optional<Doc> doc, FindOne(kTokens, IdFilter(user)));
    TokenState state;
    if (!doc) return state;
    state.generation = static_cast<std::uint64_t>(doc->Int("g"));
    bson_iter_t it, child;
    if (bson_iter_init_find(&it, doc->get(), "r") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
        bson_iter_recurse(&it, &child)) {
      while (bson_iter_next(&child)) state.revoked.emplace_back(bson_iter_key(&child));
    }
    std::sort(state.revoked.begin(), state.revoked.end());
    return state;
  }

  absl::StatusOr<std::uint64_t> BumpTokenGeneration(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_RETURN_IF_ERROR(Account(user).status());
    std::optional<Doc> after;
    COURIER_RETURN_IF_ERROR(pool_->WithClient([&](MongoCall& call) -> absl::Status {
      COURIER_ASSIGN_OR_RETURN(after, call.FindAndModify(kTokens, *IdFilter(user).get(),
                                                         *BumpUpdate().get(), /*upsert=*/true));
      return absl::OkStatus();
    }));
    if (!after) return absl::InternalError("mongo: findAndModify upsert returned no document");
    return static_cast<std::uint64_t>(after->Int("g"));
  }

  absl::Status RevokeToken(const UserId& user, const std::string& token_id) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_RETURN_IF_ERROR(ValidateTokenId(token_id));
    COURIER_RETURN_IF_ERROR(Account(user).status());
    Doc update;
    const std::string field = absl::StrCat("r.", token_id);
    AppendDoc(update.get(), "$set",
              [&](bson_t* set) { BSON_APPEND_BOOL(set, field.c_str(), true); });
    return UpdateById(kTokens, user, update, /*upsert=*/true);
  }

  absl::Status SetPushSubscription(const UserId& user, const DeviceId& device,
                                   const std::string& subscription) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_RETURN_IF_ERROR(ValidatePushSubscription(device, subscription));
    COURIER_RETURN_IF_ERROR(Account(user).status());
    Doc update;
    AppendDoc(update.get(), "$set", [&](bson_t* set) {
      AppendStr(set, "u", user);
      AppendStr(set, "dev", device);
      AppendStr(set, "s", subscription);
    });
    return UpdateById(kPush, PairId(user, device), update, /*upsert=*/true);
  }

  absl::StatusOr<bool> DeletePushSubscription(const UserId& user, const DeviceId& device,
                                              const std::optional<std::string>& only_if) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_RETURN_IF_ERROR(Account(user).status());
    Doc filter = IdFilter(PairId(user, device));
    if (only_if.has_value()) AppendStr(filter.get(), "s", *only_if);
    std::int64_t deleted = 0;
    COURIER_RETURN_IF_ERROR(pool_->WithClient([&](MongoCall& call) -> absl::Status {
      COURIER_ASSIGN_OR_RETURN(deleted, call.DeleteOne(kPush, *filter.get()));
      return absl::OkStatus();
    }));
    return deleted > 0;
  }

  absl::StatusOr<std::vector<PushSubscriptionRecord>> PushSubscriptions(
      const UserId& user) override {
    return PerDevice<PushSubscriptionRecord>(kPush, user, [](const Doc& d) {
      return PushSubscriptionRecord{d.Str("dev"), d.Str("s")};
    });
  }

 private:
  // The documents {u: user, dev, ...} of `coll`, each made by `of`, sorted
  // by device; kNotFound for an unknown user.
  template <typename T>
  absl::StatusOr<std::vector<T>> PerDevice(const char* coll, const UserId& user,
                                           T (*of)(const Doc&)) {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_RETURN_IF_ERROR(Account(user).status());
    Doc filter;
    AppendStr(filter.get(), "u", user);
    std::vector<T> out;
    COURIER_RETURN_IF_ERROR(pool_->WithClient([&](MongoCall& call) {
      return call.Find(coll, *filter.get(), nullptr,
                       [&](const Doc& d) { out.push_back(of(d)); });
    }));
    std::sort(out.begin(), out.end(),
              [](const T& a, const T& b) { return a.device < b.device; });
    return out;
  }

  absl::StatusOr<std::optional<Doc>> FindOne(const char* coll, const Doc& filter) {
    std::optional<Doc> out;
    COURIER_RETURN_IF_ERROR(pool_->WithClient([&](MongoCall& call) -> absl::Status {
      COURIER_ASSIGN_OR_RETURN(out, call.FindOne(coll, *filter.get()));
      return absl::OkStatus();
    }));
    return out;
  }

  // The account document of `user`; kNotFound when there is none.
  absl::StatusOr<Doc> Account(const UserId& user) {
    COURIER_ASSIGN_OR_RETURN(std::optional<Doc> account, FindOne(kUsers, IdFilter(user)));
    if (!account) return absl::NotFoundError(absl::StrCat("no user ", user));
    return std::move(*account);
  }

  // Applies `update` to the document of `coll` whose _id is `id` (creating
  // it first when `upsert`).
  absl::Status UpdateById(const char* coll, absl::string_view id, const Doc& update,
                          bool upsert) {
    return pool_->WithClient([&](MongoCall& call) {
      return call.UpdateOne(coll, *IdFilter(id).get(), *update.get(), upsert).status();
    });
  }

  // Compare-and-set of a pair document: true when this call changed it.
  absl::StatusOr<bool> SetPair(const Doc& pair, bool friends, bool rlo, bool rhi) {
    Doc filter = IdFilter(pair.Str("_id"));
    BSON_APPEND_INT64(filter.get(), "v", pair.Int("v"));
    Doc update;
    AppendDoc(update.get(), "$set", [&](bson_t* set) {
      BSON_APPEND_BOOL(set, "f", friends);
      BSON_APPEND_BOOL(set, "rlo", rlo);
      BSON_APPEND_BOOL(set, "rhi", rhi);
    });
    AppendDoc(update.get(), "$inc", [](bson_t* inc) { BSON_APPEND_INT64(inc, "v", 1); });
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
};

}  // namespace

absl::StatusOr<std::unique_ptr<AccountStore>> OpenAccountStore(const MongoOptions& options) {
  return OpenStore<AccountStore, MongoAccountStore>(options);
}

}  // namespace courier::mongo
