// jwt.h: login tokens as JSON Web Tokens, HS256 only.
//
// Issue makes `header.payload.signature` with header {"alg":"HS256",
// "typ":"JWT"} and claims {"sub":user,"iat":s,"exp":s,"gen":G,"jti":ID}: the
// user's token generation when issued and a random token id (accounts.h
// checks both against the account store; a token without them, from before
// they existed, counts as generation 0 with no id). Verify accepts a
// token only when: it has three base64url parts, the header's alg is exactly
// "HS256" (so "none" and every other algorithm are refused, whatever the
// signature), the HMAC-SHA256 over the first two parts with this secret
// matches (constant-time), "exp" is a number in the future, and "sub" is a
// valid user name. HMAC, base64url and constant-time compare come from
// libsodium; JSON from RapidJSON.
//
// Ownership: the signer keeps a copy of the secret.
// Thread-safety: const methods are safe for concurrent use.
// Blocking: never blocks (microseconds of CPU).
#ifndef COURIER_EXAMPLES_SERVER_JWT_H_
#define COURIER_EXAMPLES_SERVER_JWT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "courier/account_store.h"
#include "courier/types.h"

namespace courier::server {

struct IssuedToken {
  std::string token;
  TimeMs expires_at_ms = 0;
};

// What a valid token says.
struct TokenClaims {
  UserId user;
  std::uint64_t generation = 0;  // "gen"; 0 when absent
  std::string id;                // "jti"; "" when absent
  TimeMs expires_at_ms = 0;
};

// A fresh random token id: 22 characters of [A-Za-z0-9_-] (128 bits).
std::string NewTokenId();

class TokenSigner {
 public:
  // kInvalidArgument when the secret is shorter than 32 bytes.
  static absl::StatusOr<TokenSigner> Create(std::string secret);

  // A token for `user` valid from `now_ms` for `ttl_ms` (whole seconds),
  // carrying `generation` and `id` (omitted when empty).
  IssuedToken Issue(const UserId& user, TimeMs now_ms, TimeMs ttl_ms,
                    std::uint64_t generation = 0, std::string_view id = {}) const;

  // The subject of a valid token; kUnauthenticated saying why otherwise.
  absl::StatusOr<UserId> Verify(std::string_view token, TimeMs now_ms) const;
  // The same checks; all the claims. A "gen" that is not a non-negative
  // integer or a "jti" that is not a valid token id is refused.
  absl::StatusOr<TokenClaims> VerifyClaims(std::string_view token, TimeMs now_ms) const;

 private:
  explicit TokenSigner(std::string secret) : secret_(std::move(secret)) {}
  std::string Sign(std::string_view signing_input) const;
  std::string secret_;
};

// The largest token Verify looks at.
inline constexpr std::size_t kMaxTokenBytes = 4096;

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_JWT_H_
