// admin_token.h: the bearer token of the admin API, kept in a file.
//
// LoadOrCreateAdminToken reads the token file (surrounding whitespace and the
// final newline dropped), or, when `create` is set and the file does not
// exist, first writes a new token to it: 32 random bytes as 64 lowercase hex
// digits and a newline, mode 0600, created with O_EXCL (a second process
// racing on the same file reads the first one's token). A token is 16-4096
// bytes of printable ASCII without spaces (it travels in an HTTP header).
// TokenMatches compares in constant time for a given length of `presented`.
//
// Thread-safety: LoadOrCreateAdminToken from one thread at start-up;
//   TokenMatches is a pure function.
// Blocking: LoadOrCreateAdminToken does file I/O.
#ifndef COURIER_EXAMPLES_SERVER_ADMIN_TOKEN_H_
#define COURIER_EXAMPLES_SERVER_ADMIN_TOKEN_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace courier::server {

inline constexpr std::size_t kMinAdminTokenBytes = 16;
inline constexpr std::size_t kMaxAdminTokenBytes = 4096;

// kNotFound when missing and !create; kInvalidArgument for a token of the
// wrong size or characters; kPermissionDenied / kUnavailable for I/O errors,
// naming the path.
absl::StatusOr<std::string> LoadOrCreateAdminToken(const std::string& path, bool create);

// True when `presented` equals `expected` (compared through BLAKE2b digests,
// in constant time).
bool TokenMatches(std::string_view presented, std::string_view expected);

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_ADMIN_TOKEN_H_
