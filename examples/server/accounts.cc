// accounts.cc: the account rules of the example server.
#include "accounts.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "courier/status.h"
#include "http_errors.h"
#include "password.h"

namespace courier::server {
namespace {

absl::Status WrongPair() { return absl::UnauthenticatedError("wrong user name or password"); }

absl::Status RevokedToken() {
  return absl::UnauthenticatedError("invalid token: revoked (logged out or password changed)");
}

absl::Status NoAccount() {
  return absl::UnauthenticatedError("invalid token: its account does not exist (deleted)");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Accounts>> Accounts::Create(AccountStore& store, TokenSigner signer,
                                                           const Clock& clock,
                                                           TimeMs token_ttl_ms,
                                                           AccountsLimits limits) {
  COURIER_ASSIGN_OR_RETURN(std::string decoy, HashPassword("decoy password, never valid"));
  return std::unique_ptr<Accounts>(
      new Accounts(store, std::move(signer), clock, token_ttl_ms, std::move(decoy), limits));
}

absl::Status Accounts::Hashing(absl::FunctionRef<void()> fn) {
  if (limits_.hash_gate == nullptr) {
    fn();
    return absl::OkStatus();
  }
  return limits_.hash_gate->Run(fn);
}

absl::Status Accounts::Register(const std::string& user, std::string_view password,
                                const std::string& address) {
  if (!limits_.registration_open) {
    return WithHttpDetail(
        absl::PermissionDeniedError(
            "registration is closed on this server: an administrator creates accounts"),
        "registration_closed");
  }
  COURIER_RETURN_IF_ERROR(ValidateName("user", user));
  if (password.size() < kMinPasswordBytes || password.size() > kMaxPasswordBytes) {
    return absl::InvalidArgumentError("a password is 8 to 1024 bytes");
  }
  if (limits_.throttle != nullptr) {
    COURIER_RETURN_IF_ERROR(limits_.throttle->CheckRegistration(address));
  }
  absl::StatusOr<std::string> hash = absl::InternalError("not hashed");
  COURIER_RETURN_IF_ERROR(Hashing([&] { hash = HashPassword(password); }));
  if (!hash.ok()) return hash.status();
  absl::Status s = store_.CreateUser(user, *hash, clock_.NowMs());
  if (absl::IsAlreadyExists(s)) return absl::AlreadyExistsError("that user name is taken");
  return s;
}

absl::StatusOr<IssuedToken> Accounts::Login(const std::string& user, std::string_view password,
                                            const std::string& address) {
  if (limits_.throttle != nullptr) {
    COURIER_RETURN_IF_ERROR(limits_.throttle->CheckLogin(user, address));
  }
  bool valid_name = ValidateName("user", user).ok();
  absl::StatusOr<std::string> hash = absl::NotFoundError("no such user");
  if (valid_name) {
    hash = store_.PasswordHash(user);
    if (!hash.ok() && !absl::IsNotFound(hash.status())) return hash.status();
  }
  bool match = false;
  COURIER_RETURN_IF_ERROR(Hashing([&] {
    // An unknown user still costs one verification: same time, same answer.
    match = hash.ok() ? VerifyPassword(password, *hash)
                      : (VerifyPassword(password, decoy_hash_), false);
  }));
  if (!match) {
    if (limits_.throttle != nullptr) limits_.throttle->LoginFailed(user, address);
    return WrongPair();
  }
  if (limits_.throttle != nullptr) limits_.throttle->LoginSucceeded(user);
  return IssueFor(user);
}

absl::StatusOr<IssuedToken> Accounts::IssueFor(const UserId& user) {
  // The generation is read before the disabled flag: the admin API disables,
  // then bumps the generation, so a disabling that lands between the two
  // reads revokes the token issued here (read the other way round, the token
  // would carry the bumped generation and work for the disabled account).
  COURIER_ASSIGN_OR_RETURN(TokenState state, store_.GetTokenState(user));
  // A disabled account (the admin API) gets no token, password or not.
  COURIER_ASSIGN_OR_RETURN(bool disabled, store_.UserDisabled(user));
  if (disabled) {
    return WithHttpDetail(absl::PermissionDeniedError("this account is disabled"),
                          "account_disabled");
  }
  Remember(user, state);
  return signer_.Issue(user, clock_.NowMs(), ttl_ms_, state.generation, NewTokenId());
}

absl::StatusOr<TokenClaims> Accounts::Claims(std::string_view token) const {
  return signer_.VerifyClaims(token, clock_.NowMs());
}

bool Accounts::IsRevoked(const TokenClaims& claims, const TokenState& state) {
  return IsRevoked(claims.generation, claims.id, state);
}

bool Accounts::IsRevoked(std::uint64_t generation, std::string_view token_id,
                         const TokenState& state) {
  return RevokedBy(generation, token_id, state.generation, state.revoked);
}

absl::StatusOr<UserId> Accounts::Authenticate(std::string_view token) const {
  COURIER_ASSIGN_OR_RETURN(TokenClaims claims, Claims(token));
  // A token newer than the cache (a generation moved on another node, or a
  // name registered again there) is not known to be revoked: let through,
  // the revocation watcher checks it against the store right after.
  if (tokens_.KnownRevoked(claims)) return RevokedToken();
  return std::move(claims.user);
}

absl::StatusOr<TokenClaims> Accounts::AuthenticateNow(std::string_view token) {
  COURIER_ASSIGN_OR_RETURN(TokenClaims claims, Claims(token));
  absl::StatusOr<TokenState> state = Refresh(claims.user);
  if (absl::IsNotFound(state.status())) return NoAccount();
  if (!state.ok()) return state.status();
  if (IsRevoked(claims, *state)) return RevokedToken();
  return claims;
}

absl::StatusOr<TokenState> Accounts::Refresh(const UserId& user) {
  absl::StatusOr<TokenState> state = store_.GetTokenState(user);
  // kNotFound (no account: deleted) is not cached: the cache keeps what it
  // knew of the deleted account, and a later account of the name starts
  // above it (AccountStore::DeleteUser).
  if (state.ok()) Remember(user, *state);
  return state;
}

void Accounts::Remember(const UserId& user, const TokenState& state) {
  tokens_.Remember(user, state);
}

void Accounts::Revoked(const UserId& user) {
  Refresh(user).IgnoreError();
  if (on_revoked_) on_revoked_(user);
}

absl::Status Accounts::Logout(const TokenClaims& claims) {
  if (claims.id.empty()) return LogoutAll(claims.user);  // a token from before ids: all of them
  COURIER_ASSIGN_OR_RETURN(TokenState state, store_.GetTokenState(claims.user));
  if (state.revoked.size() >= kMaxRevokedTokenIds) return LogoutAll(claims.user);
  COURIER_RETURN_IF_ERROR(store_.RevokeToken(claims.user, claims.id));
  Revoked(claims.user);
  return absl::OkStatus();
}

absl::Status Accounts::LogoutAll(const UserId& user) {
  COURIER_RETURN_IF_ERROR(store_.BumpTokenGeneration(user).status());
  Revoked(user);
  return absl::OkStatus();
}

absl::StatusOr<IssuedToken> Accounts::ChangePassword(const TokenClaims& claims,
                                                     std::string_view old_password,
                                                     std::string_view new_password,
                                                     const std::string& address) {
  if (new_password.size() < kMinPasswordBytes || new_password.size() > kMaxPasswordBytes) {
    return absl::InvalidArgumentError("a password is 8 to 1024 bytes");
  }
  if (limits_.throttle != nullptr) {
    COURIER_RETURN_IF_ERROR(limits_.throttle->CheckLogin(claims.user, address));
  }
  COURIER_ASSIGN_OR_RETURN(std::string stored, store_.PasswordHash(claims.user));
  bool match = false;
  COURIER_RETURN_IF_ERROR(Hashing([&] { match = VerifyPassword(old_password, stored); }));
  if (!match) {
    if (limits_.throttle != nullptr) limits_.throttle->LoginFailed(claims.user, address);
    return absl::UnauthenticatedError("the old password is wrong");
  }
  if (limits_.throttle != nullptr) limits_.throttle->LoginSucceeded(claims.user);
  absl::StatusOr<std::string> hash = absl::InternalError("not hashed");
  COURIER_RETURN_IF_ERROR(Hashing([&] { hash = HashPassword(new_password); }));
  if (!hash.ok()) return hash.status();
  COURIER_RETURN_IF_ERROR(store_.SetPasswordHash(claims.user, *hash));
  COURIER_RETURN_IF_ERROR(LogoutAll(claims.user));
  return IssueFor(claims.user);
}

}  // namespace courier::server
