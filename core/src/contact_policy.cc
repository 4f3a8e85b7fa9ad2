#include "courier/contact_policy.h"

#include "absl/strings/str_cat.h"
#include "courier/status.h"

namespace courier {
namespace {

class FriendsOnlyPolicy final : public ContactPolicy {
 public:
  explicit FriendsOnlyPolicy(AccountStore& accounts) : accounts_(accounts) {}

  absl::StatusOr<bool> MaySend(const UserId& from, const UserId& to) override {
    COURIER_ASSIGN_OR_RETURN(bool exists, accounts_.UserExists(to));
    if (!exists) return absl::NotFoundError(absl::StrCat("no user named ", to));
    return accounts_.AreFriends(from, to);
  }

  absl::StatusOr<std::vector<UserId>> Contacts(const UserId& user) override {
    return accounts_.Friends(user);
  }

 private:
  AccountStore& accounts_;
};

class OpenPolicy final : public ContactPolicy {
 public:
  absl::StatusOr<bool> MaySend(const UserId&, const UserId&) override { return true; }
  absl::StatusOr<std::vector<UserId>> Contacts(const UserId&) override {
    return std::vector<UserId>{};
  }
};

}  // namespace

std::unique_ptr<ContactPolicy> MakeFriendsOnlyPolicy(AccountStore& accounts) {
  return std::make_unique<FriendsOnlyPolicy>(accounts);
}

std::unique_ptr<ContactPolicy> MakeOpenPolicy() { return std::make_unique<OpenPolicy>(); }

}  // namespace courier
