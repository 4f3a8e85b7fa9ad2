// accounts.h: register, log in, and check tokens, over any AccountStore.
//
// Names are 1-64 of [A-Za-z0-9_.-]; passwords 8-1024 bytes, hashed with
// Argon2id (password.h); tokens are HS256 JWTs (jwt.h). A login for an
// unknown user still runs one Argon2id verification, so the answer's timing
// does not tell which names exist.
//
// Ownership: borrows `store` and `clock`, which must outlive it.
// Thread-safety: safe for concurrent use.
// Blocking: Register and Login block on hashing and the store; Authenticate
//   never blocks.
#ifndef COURIER_EXAMPLES_SERVER_ACCOUNTS_H_
#define COURIER_EXAMPLES_SERVER_ACCOUNTS_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "courier/account_store.h"
#include "courier/clock.h"
#include "jwt.h"

namespace courier::server {

class Accounts {
 public:
  // Computes the decoy hash (one Argon2id run).
  static absl::StatusOr<std::unique_ptr<Accounts>> Create(AccountStore& store, TokenSigner signer,
                                                          const Clock& clock, TimeMs token_ttl_ms);

  // kInvalidArgument for a bad name or password; kAlreadyExists if taken;
  // store errors as they come.
  absl::Status Register(const std::string& user, std::string_view password);

  // kUnauthenticated for a wrong pair; store errors as they come.
  absl::StatusOr<IssuedToken> Login(const std::string& user, std::string_view password);

  // The subject of a valid, unexpired token; kUnauthenticated otherwise.
  absl::StatusOr<UserId> Authenticate(std::string_view token) const;

 private:
  Accounts(AccountStore& store, TokenSigner signer, const Clock& clock, TimeMs ttl,
           std::string decoy)
      : store_(store), signer_(std::move(signer)), clock_(clock), ttl_ms_(ttl),
        decoy_hash_(std::move(decoy)) {}

  AccountStore& store_;
  const TokenSigner signer_;
  const Clock& clock_;
  const TimeMs ttl_ms_;
  const std::string decoy_hash_;
};

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_ACCOUNTS_H_
