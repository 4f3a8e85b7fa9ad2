// accounts.cc: the account rules of the example server.
#include "accounts.h"

#include "courier/status.h"
#include "password.h"

namespace courier::server {

absl::StatusOr<std::unique_ptr<Accounts>> Accounts::Create(AccountStore& store, TokenSigner signer,
                                                           const Clock& clock,
                                                           TimeMs token_ttl_ms) {
  COURIER_ASSIGN_OR_RETURN(std::string decoy, HashPassword("decoy password, never valid"));
  return std::unique_ptr<Accounts>(
      new Accounts(store, std::move(signer), clock, token_ttl_ms, std::move(decoy)));
}

absl::Status Accounts::Register(const std::string& user, std::string_view password) {
  COURIER_RETURN_IF_ERROR(ValidateName("user", user));
  COURIER_ASSIGN_OR_RETURN(std::string hash, HashPassword(password));
  absl::Status s = store_.CreateUser(user, hash, clock_.NowMs());
  if (absl::IsAlreadyExists(s)) return absl::AlreadyExistsError("that user name is taken");
  return s;
}

absl::StatusOr<IssuedToken> Accounts::Login(const std::string& user, std::string_view password) {
  const absl::Status wrong = absl::UnauthenticatedError("wrong user name or password");
  if (!ValidateName("user", user).ok()) {
    VerifyPassword(password, decoy_hash_);
    return wrong;
  }
  absl::StatusOr<std::string> hash = store_.PasswordHash(user);
  if (absl::IsNotFound(hash.status())) {
    VerifyPassword(password, decoy_hash_);
    return wrong;
  }
  if (!hash.ok()) return hash.status();
  if (!VerifyPassword(password, *hash)) return wrong;
  return signer_.Issue(user, clock_.NowMs(), ttl_ms_);
}

absl::StatusOr<UserId> Accounts::Authenticate(std::string_view token) const {
  return signer_.Verify(token, clock_.NowMs());
}

}  // namespace courier::server
