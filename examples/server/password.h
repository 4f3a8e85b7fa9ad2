// password.h: password hashing with libsodium's Argon2id.
//
// Hashes are libsodium's self-describing strings ("$argon2id$v=19$m=...").
// Thread-safety: safe for concurrent use.
// Blocking: Hash and Verify are deliberately slow (about 0.1 s and 64 MiB
//   each at the default cost); call them off the io threads.
#ifndef COURIER_EXAMPLES_SERVER_PASSWORD_H_
#define COURIER_EXAMPLES_SERVER_PASSWORD_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace courier::server {

inline constexpr std::size_t kMinPasswordBytes = 8;
inline constexpr std::size_t kMaxPasswordBytes = 1024;

// kInvalidArgument when the password is shorter than 8 or longer than 1024
// bytes; kResourceExhausted when memory for the hash cannot be had.
absl::StatusOr<std::string> HashPassword(std::string_view password);

// True when `password` matches `hash`; false for a wrong password or a
// malformed hash.
bool VerifyPassword(std::string_view password, const std::string& hash);

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_PASSWORD_H_
