// courier/contact_policy.h: who may message whom, and who sees whose presence.
//
// Ownership: factories return std::unique_ptr; a policy that borrows an
//   AccountStore& requires it to outlive the policy.
// Thread-safety: implementations are safe for concurrent use.
// Blocking: may block on the account store.
#ifndef COURIER_CORE_CONTACT_POLICY_H_
#define COURIER_CORE_CONTACT_POLICY_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "courier/account_store.h"
#include "courier/export.h"
#include "courier/types.h"

namespace courier {

class COURIER_EXPORT ContactPolicy {
 public:
  ContactPolicy() = default;
  ContactPolicy(const ContactPolicy&) = delete;
  ContactPolicy& operator=(const ContactPolicy&) = delete;
  virtual ~ContactPolicy() = default;

  // OK(true) when `from` may send to `to`; OK(false) when they are not
  // friends; kNotFound when `to` is no known user.
  virtual absl::StatusOr<bool> MaySend(const UserId& from, const UserId& to) = 0;

  // The users who see `user`'s presence (its friends), and whose presence
  // `user` sees.
  virtual absl::StatusOr<std::vector<UserId>> Contacts(const UserId& user) = 0;
};

// Friends may message each other and see each other's presence; `to` must
// exist in `accounts`. REQUIRES: `accounts` outlives the policy.
COURIER_EXPORT std::unique_ptr<ContactPolicy> MakeFriendsOnlyPolicy(AccountStore& accounts);

// Anyone may message anyone (benchmarks, tests); nobody sees presence.
COURIER_EXPORT std::unique_ptr<ContactPolicy> MakeOpenPolicy();

}  // namespace courier

#endif  // COURIER_CORE_CONTACT_POLICY_H_
