// secrets.h: the key files of a data directory.
//
// LoadOrCreateSecret reads a secret file whole, or, when `create` is set and
// the file does not exist, writes 32 random bytes (libsodium) to it with mode
// 0600 first. A secret shorter than 32 bytes is refused. The nodes of one
// cluster share the files (docs/PROTOCOL.md).
//
// Thread-safety: call from one thread at start-up. Blocking: file I/O.
#ifndef COURIER_EXAMPLES_SERVER_SECRETS_H_
#define COURIER_EXAMPLES_SERVER_SECRETS_H_

#include <cstddef>
#include <istream>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"

namespace courier::server {

inline constexpr std::size_t kMinSecretBytes = 32;
inline constexpr std::size_t kMaxSecretBytes = 64 * 1024;

// kNotFound when missing and !create; kInvalidArgument when too short or too
// long; kPermissionDenied / kUnavailable for I/O errors, naming the path.
absl::StatusOr<std::string> LoadOrCreateSecret(const std::string& path, bool create);

// Creates `dir` (and its parents) when missing. kUnavailable naming it.
absl::Status EnsureDirectory(const std::string& dir);

// Creates `path` with mode 0600 and O_EXCL, writes `contents` and fsyncs it.
// A file already there is left alone (OK: another process won the race); a
// failed write removes the file. Errors name the path (FileError's codes).
absl::Status CreatePrivateFile(const std::string& path, std::string_view contents);

// Reads `in` to its end or to `limit` bytes, whichever comes first, so that
// a file larger than a caller allows is never read whole. in.bad() tells a
// read error from the end of the file.
std::string ReadAtMost(std::istream& in, std::size_t limit);

// The first `limit` bytes of the file at `path` (ReadAtMost), after
// libsodium is initialised and, when `create` is set, `create_file(path)`
// made the file if it was missing. Errors: kInternal (libsodium),
// create_file's, FileError(`cannot_read`, path, ...) when it cannot be opened.
absl::StatusOr<std::string> LoadOrCreateFile(
    const std::string& path, bool create,
    absl::FunctionRef<absl::Status(const std::string&)> create_file,
    const std::string& cannot_read, std::size_t limit);

// "<what> <path>: <strerror>" as kPermissionDenied (EACCES, EPERM),
// kNotFound (ENOENT) or kUnavailable (anything else).
absl::Status FileError(const std::string& what, const std::string& path, int err);

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_SECRETS_H_
