// accounts.h: register, log in, check and revoke tokens, change passwords,
// over any AccountStore.
//
// Names are 1-64 of [A-Za-z0-9_.-]; passwords 8-1024 bytes, hashed with
// Argon2id (password.h); tokens are HS256 JWTs (jwt.h). A login for an
// unknown user still runs one Argon2id verification, so the answer's timing
// does not tell which names exist.
//
// Abuse limits (all optional, see AccountsLimits):
//  * every Argon2id run goes through the HashGate: a full gate answers
//    kUnavailable "busy" with Retry-After at once, no hash computed;
//  * the LoginThrottle refuses a login (kResourceExhausted "throttled", with
//    Retry-After) for an account or address with too many recent failures,
//    before any hashing, and limits registrations per address;
//  * registration can be closed: kPermissionDenied "registration_closed"
//    (accounts are then made by the admin API only).
//
// Token revocation. Every token carries the user's token generation and a
// random id (jwt.h). A token is valid when its signature and expiry are, the
// user's generation in the store still equals the token's, and its id is not
// among the user's revoked ids. Logout revokes one token (its id; past
// kMaxRevokedTokenIds ids, the whole generation); LogoutAll and
// ChangePassword bump the generation. A deleted account has no valid token,
// and a later account of its name starts at a generation above all of the
// deleted one's (AccountStore::DeleteUser), so the old tokens stay invalid
// for it. The checks:
//  * AuthenticateNow (HTTP routes) reads the store on every call;
//  * Authenticate (WebSocket hello, on an io thread: must not block) checks
//    the signature and this process's cache of token states (token_table.h, filled by
//    AuthenticateNow, Refresh and every revocation made here); a token the
//    cache does not know about, or with a generation newer than the cached
//    one (the cache is behind the store), is let through and Refresh, run by the
//    revocation watcher (revocation.h) right after the hello, closes the
//    session with 4401 if the store says it is revoked.
//
// Ownership: borrows `store`, `clock` and the limits, which must outlive it.
// Thread-safety: safe for concurrent use.
// Blocking: Register, Login, ChangePassword block on the hash gate, hashing
//   and the store; AuthenticateNow, Logout, LogoutAll and Refresh on the
//   store; Authenticate never blocks.
#ifndef COURIER_EXAMPLES_SERVER_ACCOUNTS_H_
#define COURIER_EXAMPLES_SERVER_ACCOUNTS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "courier/account_store.h"
#include "courier/clock.h"
#include "hash_gate.h"
#include "jwt.h"
#include "throttle.h"
#include "token_table.h"

namespace courier::server {

struct AccountsLimits {
  HashGate* hash_gate = nullptr;      // nullptr: hash without a bound
  LoginThrottle* throttle = nullptr;  // nullptr: no throttling
  bool registration_open = true;
};

class Accounts {
 public:
  // Computes the decoy hash (one Argon2id run).
  static absl::StatusOr<std::unique_ptr<Accounts>> Create(AccountStore& store, TokenSigner signer,
                                                          const Clock& clock, TimeMs token_ttl_ms,
                                                          AccountsLimits limits = {});

  // kInvalidArgument for a bad name or password; kAlreadyExists if taken;
  // kPermissionDenied when registration is closed; kResourceExhausted past
  // the per-address limit; kUnavailable when the hash gate is full; store
  // errors as they come. `address` is the client's (throttle.h).
  absl::Status Register(const std::string& user, std::string_view password,
                        const std::string& address = "");

  // kUnauthenticated for a wrong pair; kPermissionDenied "account_disabled"
  // for a disabled account (the admin API); kResourceExhausted when throttled;
  // kUnavailable when the hash gate is full; store errors as they come.
  absl::StatusOr<IssuedToken> Login(const std::string& user, std::string_view password,
                                    const std::string& address = "");

  // The subject of a valid, unexpired token not known here to be revoked;
  // kUnauthenticated otherwise. Never blocks.
  absl::StatusOr<UserId> Authenticate(std::string_view token) const;
  // The claims of a valid, unexpired, unrevoked token, checked against the
  // store; kUnauthenticated otherwise ("revoked" when revoked, also when the
  // store does not know the user: a deleted account's tokens are all
  // invalid); store errors as they come.
  absl::StatusOr<TokenClaims> AuthenticateNow(std::string_view token);

  // Revokes the token with these claims (checked by AuthenticateNow).
  absl::Status Logout(const TokenClaims& claims);
  // Revokes every token of `user` issued so far.
  absl::Status LogoutAll(const UserId& user);
  // Checks `old_password` (throttled like a login, kUnauthenticated when
  // wrong), stores the hash of `new_password` (kInvalidArgument when it is
  // not 8-1024 bytes), revokes every token of the user issued so far, and
  // returns a new token for the caller.
  absl::StatusOr<IssuedToken> ChangePassword(const TokenClaims& claims,
                                             std::string_view old_password,
                                             std::string_view new_password,
                                             const std::string& address = "");

  // Reads the user's token state from the store into the cache; kNotFound
  // (nothing cached) for a user the store does not know, whose tokens are
  // then all invalid.
  absl::StatusOr<TokenState> Refresh(const UserId& user);
  // True when a token with `claims` is revoked by `state`.
  static bool IsRevoked(const TokenClaims& claims, const TokenState& state);
  // The same for a token of `generation` with id `token_id` ("" for none).
  static bool IsRevoked(std::uint64_t generation, std::string_view token_id,
                        const TokenState& state);
  // The claims of a valid, unexpired token, without any revocation check.
  absl::StatusOr<TokenClaims> Claims(std::string_view token) const;

  // The per-user table of cached token states, which the revocation
  // watcher (revocation.h) also keeps its open sessions in.
  TokenTable& token_table() { return tokens_; }

  // Called (on the revoking thread) after each revocation made here.
  void set_on_revoked(std::function<void(const UserId&)> fn) { on_revoked_ = std::move(fn); }

 private:
  Accounts(AccountStore& store, TokenSigner signer, const Clock& clock, TimeMs ttl,
           std::string decoy, AccountsLimits limits)
      : store_(store), signer_(std::move(signer)), clock_(clock), ttl_ms_(ttl),
        decoy_hash_(std::move(decoy)), limits_(limits) {}

  // Runs `fn` through the hash gate (directly without one).
  absl::Status Hashing(absl::FunctionRef<void()> fn);
  absl::StatusOr<IssuedToken> IssueFor(const UserId& user);
  void Remember(const UserId& user, const TokenState& state);
  void Revoked(const UserId& user);

  AccountStore& store_;
  const TokenSigner signer_;
  const Clock& clock_;
  const TimeMs ttl_ms_;
  const std::string decoy_hash_;
  const AccountsLimits limits_;
  std::function<void(const UserId&)> on_revoked_;

  // The token states cached here, and the open sessions the revocation
  // watcher follows, one record per user (token_table.h).
  TokenTable tokens_;
};

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_ACCOUNTS_H_
