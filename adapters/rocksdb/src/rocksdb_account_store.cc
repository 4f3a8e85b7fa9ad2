// courier/account_store.h on RocksDB, in the "accounts" column family:
//
//   'U' user            created (8 bytes) + the password hash
//   'Q' to \0 from      a pending friend request from `from` to `to`
//   'P' a \0 b          a friendship, stored in both directions so that
//                       Friends() is one ordered prefix scan
//   'L' user            last seen (8 bytes)
//   'G' user            token generation (8 bytes); absent = 0; kept when the
//                       user is deleted (one past the last)
//   'T' user \0 id      a token id revoked since the generation last moved
//   'X' user            the user is disabled (empty value)
//   'D' user \0 device  a device of the user: last seen (8 bytes)
//   'W' user \0 device  the device's push subscription (the opaque string)
//
// A change that reads before it writes (create, request, accept) runs under
// the store's mutex and writes one WriteBatch.

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "courier/account_store.h"
#include "courier/rocksdb.h"
#include "courier/status.h"
#include "courier/sync.h"
#include "courier/types.h"
#include "database.h"
#include "keys.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "rocksdb_error.h"

namespace courier::rocksdb {
namespace {

constexpr char kUser = 'U';
constexpr char kRequest = 'Q';
constexpr char kFriend = 'P';
constexpr char kLastSeen = 'L';
constexpr char kGeneration = 'G';
constexpr char kRevoked = 'T';
constexpr char kDisabled = 'X';
constexpr char kDevice = 'D';
constexpr char kPush = 'W';

absl::Status UnknownUser(const UserId& user) {
  return absl::NotFoundError(absl::StrCat("unknown user ", user));
}

class RocksdbAccountStore final : public AccountStore {
 public:
  explicit RocksdbAccountStore(std::shared_ptr<Database> db)
      : db_(std::move(db)), cf_(db_->accounts()) {}

  absl::Status CreateUser(const UserId& user, const std::string& password_hash,
                          TimeMs now) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(bool exists, Has(keys::NameKey(kUser, user)));
    if (exists) return absl::AlreadyExistsError(absl::StrCat("user ", user, " exists"));
    ::rocksdb::WriteBatch batch;
    COURIER_RETURN_IF_ERROR(ToStatus(
        batch.Put(cf_, keys::NameKey(kUser, user),
                  keys::EncodeU64(static_cast<std::uint64_t>(now)) + password_hash),
        "batch put"));
    return db_->Write(&batch);
  }

  absl::StatusOr<std::string> PasswordHash(const UserId& user) override {
    COURIER_ASSIGN_OR_RETURN(std::optional<std::string> value, Get(keys::NameKey(kUser, user)));
    if (!value.has_value()) return UnknownUser(user);
    if (value->size() < 8) return absl::DataLossError("rocksdb: stored user value is malformed");
    return value->substr(8);
  }

  absl::Status SetPasswordHash(const UserId& user, const std::string& password_hash) override {
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(std::optional<std::string> value, Get(keys::NameKey(kUser, user)));
    if (!value.has_value()) return UnknownUser(user);
    if (value->size() < 8) return absl::DataLossError("rocksdb: stored user value is malformed");
    ::rocksdb::WriteBatch batch;
    COURIER_RETURN_IF_ERROR(ToStatus(
        batch.Put(cf_, keys::NameKey(kUser, user), value->substr(0, 8) + password_hash),
        "batch put"));
    return db_->Write(&batch);
  }

  absl::StatusOr<bool> UserExists(const UserId& user) override {
    return Has(keys::NameKey(kUser, user));
  }

  absl::StatusOr<FriendRequestOutcome> RequestFriend(const UserId& from,
                                                     const UserId& to) override {
    if (from == to) return absl::InvalidArgumentError("cannot befriend oneself");
    MutexLock lock(&mu_);
    for (const UserId* u : {&from, &to}) {
      COURIER_ASSIGN_OR_RETURN(bool exists, Has(keys::NameKey(kUser, *u)));
      if (!exists) return UnknownUser(*u);
    }
    COURIER_ASSIGN_OR_RETURN(bool friends, Has(keys::PairKey(kFriend, from, to)));
    if (friends) return FriendRequestOutcome::kAlreadyFriends;
    ::rocksdb::WriteBatch batch;
    const std::string crossing = keys::PairKey(kRequest, from, to);  // `to` asked `from`
    COURIER_ASSIGN_OR_RETURN(bool crossed, Has(crossing));
    if (crossed) {
      COURIER_RETURN_IF_ERROR(ToStatus(batch.Delete(cf_, crossing), "batch delete"));
      COURIER_RETURN_IF_ERROR(MakeFriends(batch, from, to));
      COURIER_RETURN_IF_ERROR(db_->Write(&batch));
      return FriendRequestOutcome::kBecameFriends;
    }
    COURIER_RETURN_IF_ERROR(
        ToStatus(batch.Put(cf_, keys::PairKey(kRequest, to, from), ""), "batch put"));
    COURIER_RETURN_IF_ERROR(db_->Write(&batch));
    return FriendRequestOutcome::kRequested;
  }

  absl::Status AcceptFriend(const UserId& user, const UserId& requester) override {
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(bool exists, Has(keys::NameKey(kUser, user)));
    if (!exists) return UnknownUser(user);
    COURIER_ASSIGN_OR_RETURN(bool friends, Has(keys::PairKey(kFriend, user, requester)));
    if (friends) return absl::OkStatus();
    const std::string request = keys::PairKey(kRequest, user, requester);
    COURIER_ASSIGN_OR_RETURN(bool requested, Has(request));
    if (!requested) {
      return absl::NotFoundError(
          absl::StrCat("no pending friend request from ", requester, " to ", user));
    }
    ::rocksdb::WriteBatch batch;
    COURIER_RETURN_IF_ERROR(ToStatus(batch.Delete(cf_, request), "batch delete"));
    COURIER_RETURN_IF_ERROR(MakeFriends(batch, user, requester));
    return db_->Write(&batch);
  }

  absl::StatusOr<bool> AreFriends(const UserId& a, const UserId& b) override {
    return Has(keys::PairKey(kFriend, a, b));
  }

  absl::StatusOr<std::vector<UserId>> Friends(const UserId& user) override {
    return Seconds(kFriend, user);
  }

  absl::StatusOr<std::vector<UserId>> PendingRequests(const UserId& user) override {
    return Seconds(kRequest, user);
  }

  absl::Status SetLastSeen(const UserId& user, TimeMs when) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    ::rocksdb::WriteBatch batch;
    COURIER_RETURN_IF_ERROR(ToStatus(batch.Put(cf_, keys::NameKey(kLastSeen, user),
                                               keys::EncodeU64(static_cast<std::uint64_t>(when))),
                                     "batch put"));
    return db_->Write(&batch);
  }

  absl::StatusOr<std::optional<TimeMs>> LastSeen(const UserId& user) override {
    COURIER_ASSIGN_OR_RETURN(std::optional<std::string> value, Get(keys::NameKey(kLastSeen, user)));
    if (!value.has_value()) return std::optional<TimeMs>();
    COURIER_ASSIGN_OR_RETURN(std::uint64_t when, keys::DecodeU64(*value, "last seen"));
    return std::optional<TimeMs>(static_cast<TimeMs>(when));
  }

  absl::Status SetUserDisabled(const UserId& user, bool disabled) override {
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(bool exists, Has(keys::NameKey(kUser, user)));
    if (!exists) return UnknownUser(user);
    ::rocksdb::WriteBatch batch;
    const std::string key = keys::NameKey(kDisabled, user);
    COURIER_RETURN_IF_ERROR(
        ToStatus(disabled ? batch.Put(cf_, key, "") : batch.Delete(cf_, key), "batch write"));
    return db_->Write(&batch);
  }

  absl::StatusOr<bool> UserDisabled(const UserId& user) override {
    COURIER_ASSIGN_OR_RETURN(bool exists, Has(keys::NameKey(kUser, user)));
    if (!exists) return UnknownUser(user);
    return Has(keys::NameKey(kDisabled, user));
  }

  // Friendships are stored both ways, so the user's own 'P' range names the
  // mirrored keys; requests the user sent are found by a scan of every 'Q'
  // key (an admin operation, rare).
  absl::Status DeleteUser(const UserId& user) override {
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(bool exists, Has(keys::NameKey(kUser, user)));
    if (!exists) return UnknownUser(user);
    ::rocksdb::WriteBatch batch;
    auto del = [&](const std::string& key) {
      return ToStatus(batch.Delete(cf_, key), "batch delete");
    };
    for (char space : {kUser, kLastSeen, kDisabled}) {
      COURIER_RETURN_IF_ERROR(del(keys::NameKey(space, user)));
    }
    // The generation stays, one past the last, so that a later account of
    // this name starts above every token of this one.
    COURIER_ASSIGN_OR_RETURN(std::uint64_t generation, Generation(user));
    COURIER_RETURN_IF_ERROR(ToStatus(
        batch.Put(cf_, keys::NameKey(kGeneration, user), keys::EncodeU64(generation + 1)),
        "batch put"));
    COURIER_ASSIGN_OR_RETURN(std::vector<UserId> friends, Seconds(kFriend, user));
    for (const UserId& f : friends) {
      COURIER_RETURN_IF_ERROR(del(keys::PairKey(kFriend, user, f)));
      COURIER_RETURN_IF_ERROR(del(keys::PairKey(kFriend, f, user)));
    }
    for (char space : {kRequest, kRevoked, kDevice, kPush}) {
      COURIER_ASSIGN_OR_RETURN(std::vector<std::string> seconds, Seconds(space, user));
      for (const std::string& second : seconds) {
        COURIER_RETURN_IF_ERROR(del(keys::PairKey(space, user, second)));
      }
    }
    {
      // Requests from `user`: 'Q' to \0 user, for any `to`.
      const std::string begin(1, kRequest);
      const std::string end(1, static_cast<char>(kRequest + 1));
      ::rocksdb::Slice upper(end);
      ::rocksdb::ReadOptions ro;
      ro.iterate_upper_bound = &upper;
      std::unique_ptr<::rocksdb::Iterator> it(db_->db()->NewIterator(ro, cf_));
      const std::string suffix = std::string(1, '\0') + user;
      for (it->Seek(begin); it->Valid(); it->Next()) {
        std::string_view key(it->key().data(), it->key().size());
        if (key.size() > suffix.size() && key.substr(key.size() - suffix.size()) == suffix &&
            key.find('\0') == key.size() - suffix.size()) {
          COURIER_RETURN_IF_ERROR(del(std::string(key)));
        }
      }
      COURIER_RETURN_IF_ERROR(ToStatus(it->status(), "list friend requests"));
    }
    return db_->Write(&batch);
  }

  absl::Status RecordDevice(const UserId& user, const DeviceId& device, TimeMs when) override {
    COURIER_RETURN_IF_ERROR(ValidateName("device", device));
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(bool exists, Has(keys::NameKey(kUser, user)));
    if (!exists) return UnknownUser(user);
    const std::string key = keys::PairKey(kDevice, user, device);
    COURIER_ASSIGN_OR_RETURN(std::optional<std::string> value, Get(key));
    if (value.has_value()) {
      COURIER_ASSIGN_OR_RETURN(std::uint64_t stored, keys::DecodeU64(*value, "device last seen"));
      if (static_cast<TimeMs>(stored) >= when) return absl::OkStatus();
    }
    ::rocksdb::WriteBatch batch;
    COURIER_RETURN_IF_ERROR(ToStatus(
        batch.Put(cf_, key, keys::EncodeU64(static_cast<std::uint64_t>(when))), "batch put"));
    return db_->Write(&batch);
  }

  // One batch (one sync) for them all: the device log's round after a burst
  // of connects is thousands of devices. Keys go in sorted, the same key
  // once with its latest time, so the memtable takes each from the last.
  absl::Status RecordDevices(absl::Span<const DeviceSighting> sightings) override {
    absl::Status first;
    std::vector<std::pair<std::string, TimeMs>> puts;
    puts.reserve(sightings.size());
    MutexLock lock(&mu_);
    for (const DeviceSighting& s : sightings) {
      if (absl::Status valid = ValidateName("device", s.device); !valid.ok()) {
        if (first.ok()) first = std::move(valid);
        continue;
      }
      COURIER_ASSIGN_OR_RETURN(bool exists, Has(keys::NameKey(kUser, s.user)));
      if (!exists) continue;
      puts.emplace_back(keys::PairKey(kDevice, s.user, s.device), s.when);
    }
    std::sort(puts.begin(), puts.end());  // a key's latest time last
    ::rocksdb::WriteBatch batch;
    for (std::size_t i = 0; i < puts.size(); ++i) {
      if (i + 1 < puts.size() && puts[i + 1].first == puts[i].first) continue;
      const auto& [key, when] = puts[i];
      COURIER_ASSIGN_OR_RETURN(std::optional<std::string> value, Get(key));
      if (value.has_value()) {
        COURIER_ASSIGN_OR_RETURN(std::uint64_t stored, keys::DecodeU64(*value, "device last seen"));
        if (static_cast<TimeMs>(stored) >= when) continue;
      }
      COURIER_RETURN_IF_ERROR(ToStatus(
          batch.Put(cf_, key, keys::EncodeU64(static_cast<std::uint64_t>(when))), "batch put"));
    }
    if (batch.Count() > 0) COURIER_RETURN_IF_ERROR(db_->Write(&batch));
    return first;
  }

  absl::StatusOr<std::vector<DeviceRecord>> Devices(const UserId& user) override {
    COURIER_ASSIGN_OR_RETURN(bool exists, Has(keys::NameKey(kUser, user)));
    if (!exists) return UnknownUser(user);
    std::vector<DeviceRecord> out;
    COURIER_RETURN_IF_ERROR(db_->ScanPairs(
        cf_, ::rocksdb::ReadOptions(), kDevice, user, "list devices",
        [&](std::string_view device, std::string_view value) -> absl::Status {
          COURIER_ASSIGN_OR_RETURN(std::uint64_t seen, keys::DecodeU64(value, "device last seen"));
          out.push_back(DeviceRecord{DeviceId(device), static_cast<TimeMs>(seen)});
          return absl::OkStatus();
        }));
    return out;
  }

  absl::StatusOr<TokenState> GetTokenState(const UserId& user) override {
    COURIER_ASSIGN_OR_RETURN(bool exists, Has(keys::NameKey(kUser, user)));
    if (!exists) return UnknownUser(user);
    TokenState state;
    COURIER_ASSIGN_OR_RETURN(state.generation, Generation(user));
    COURIER_ASSIGN_OR_RETURN(state.revoked, Seconds(kRevoked, user));
    return state;
  }

  absl::StatusOr<std::uint64_t> BumpTokenGeneration(const UserId& user) override {
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(bool exists, Has(keys::NameKey(kUser, user)));
    if (!exists) return UnknownUser(user);
    COURIER_ASSIGN_OR_RETURN(std::uint64_t generation, Generation(user));
    COURIER_ASSIGN_OR_RETURN(std::vector<std::string> revoked, Seconds(kRevoked, user));
    ::rocksdb::WriteBatch batch;
    for (const std::string& id : revoked) {
      COURIER_RETURN_IF_ERROR(
          ToStatus(batch.Delete(cf_, keys::PairKey(kRevoked, user, id)), "batch delete"));
    }
    COURIER_RETURN_IF_ERROR(ToStatus(
        batch.Put(cf_, keys::NameKey(kGeneration, user), keys::EncodeU64(generation + 1)),
        "batch put"));
    COURIER_RETURN_IF_ERROR(db_->Write(&batch));
    return generation + 1;
  }

  absl::Status RevokeToken(const UserId& user, const std::string& token_id) override {
    COURIER_RETURN_IF_ERROR(ValidateTokenId(token_id));
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(bool exists, Has(keys::NameKey(kUser, user)));
    if (!exists) return UnknownUser(user);
    ::rocksdb::WriteBatch batch;
    COURIER_RETURN_IF_ERROR(
        ToStatus(batch.Put(cf_, keys::PairKey(kRevoked, user, token_id), ""), "batch put"));
    return db_->Write(&batch);
  }

  absl::Status SetPushSubscription(const UserId& user, const DeviceId& device,
                                   const std::string& subscription) override {
    COURIER_RETURN_IF_ERROR(ValidatePushSubscription(device, subscription));
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(bool exists, Has(keys::NameKey(kUser, user)));
    if (!exists) return UnknownUser(user);
    ::rocksdb::WriteBatch batch;
    COURIER_RETURN_IF_ERROR(ToStatus(
        batch.Put(cf_, keys::PairKey(kPush, user, device), subscription), "batch put"));
    return db_->Write(&batch);
  }

  absl::StatusOr<bool> DeletePushSubscription(const UserId& user, const DeviceId& device,
                                              const std::optional<std::string>& only_if) override {
    MutexLock lock(&mu_);
    COURIER_ASSIGN_OR_RETURN(bool exists, Has(keys::NameKey(kUser, user)));
    if (!exists) return UnknownUser(user);
    const std::string key = keys::PairKey(kPush, user, device);
    COURIER_ASSIGN_OR_RETURN(std::optional<std::string> value, Get(key));
    if (!value.has_value() || (only_if.has_value() && *value != *only_if)) return false;
    ::rocksdb::WriteBatch batch;
    COURIER_RETURN_IF_ERROR(ToStatus(batch.Delete(cf_, key), "batch delete"));
    COURIER_RETURN_IF_ERROR(db_->Write(&batch));
    return true;
  }

  absl::StatusOr<std::vector<PushSubscriptionRecord>> PushSubscriptions(
      const UserId& user) override {
    COURIER_ASSIGN_OR_RETURN(bool exists, Has(keys::NameKey(kUser, user)));
    if (!exists) return UnknownUser(user);
    std::vector<PushSubscriptionRecord> out;
    COURIER_RETURN_IF_ERROR(db_->ScanPairs(
        cf_, ::rocksdb::ReadOptions(), kPush, user, "list push subscriptions",
        [&](std::string_view device, std::string_view value) {
          out.push_back(PushSubscriptionRecord{DeviceId(device), std::string(value)});
          return absl::OkStatus();
        }));
    return out;
  }

 private:
  absl::StatusOr<std::uint64_t> Generation(const UserId& user) {
    COURIER_ASSIGN_OR_RETURN(std::optional<std::string> value,
                             Get(keys::NameKey(kGeneration, user)));
    if (!value.has_value()) return std::uint64_t{0};
    return keys::DecodeU64(*value, "token generation");
  }

  absl::StatusOr<std::optional<std::string>> Get(const std::string& key) {
    std::string value;
    ::rocksdb::Status s = db_->db()->Get(::rocksdb::ReadOptions(), cf_, key, &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    COURIER_RETURN_IF_ERROR(ToStatus(s, "read an account key"));
    return std::optional<std::string>(std::move(value));
  }

  absl::StatusOr<bool> Has(const std::string& key) {
    COURIER_ASSIGN_OR_RETURN(std::optional<std::string> value, Get(key));
    return value.has_value();
  }

  absl::Status MakeFriends(::rocksdb::WriteBatch& batch, const UserId& a, const UserId& b) {
    COURIER_RETURN_IF_ERROR(ToStatus(batch.Put(cf_, keys::PairKey(kFriend, a, b), ""), "batch put"));
    return ToStatus(batch.Put(cf_, keys::PairKey(kFriend, b, a), ""), "batch put");
  }

  // The second names of every (`space`, first, second) key, in name order.
  absl::StatusOr<std::vector<UserId>> Seconds(char space, const UserId& first) {
    std::vector<UserId> names;
    COURIER_RETURN_IF_ERROR(db_->ScanPairs(cf_, ::rocksdb::ReadOptions(), space, first,
                                           "list names",
                                           [&](std::string_view second, std::string_view) {
                                             names.emplace_back(second);
                                             return absl::OkStatus();
                                           }));
    return names;
  }

  const std::shared_ptr<Database> db_;
  ::rocksdb::ColumnFamilyHandle* const cf_;
  // Orders read-then-write changes (create, request, accept).
  Mutex mu_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AccountStore>> OpenAccountStore(const RocksdbOptions& options) {
  COURIER_ASSIGN_OR_RETURN(std::shared_ptr<Database> db, Database::Acquire(options));
  return std::unique_ptr<AccountStore>(std::make_unique<RocksdbAccountStore>(std::move(db)));
}

}  // namespace courier::rocksdb
