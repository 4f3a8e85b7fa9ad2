// secrets.cc: key files, made once with O_EXCL and mode 0600.
#include "secrets.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace courier::server {
namespace {

// Writes 32 random bytes to a new file; EEXIST means another process won.
absl::Status CreateSecretFile(const std::string& path) {
  unsigned char bytes[kMinSecretBytes];
  randombytes_buf(bytes, sizeof bytes);
  absl::Status s = CreatePrivateFile(
      path, std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
  sodium_memzero(bytes, sizeof bytes);
  return s;
}

}  // namespace

absl::Status FileError(const std::string& what, const std::string& path, int err) {
  std::string text = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(text);
  if (err == ENOENT) return absl::NotFoundError(text);
  return absl::UnavailableError(text);
}

absl::Status CreatePrivateFile(const std::string& path, std::string_view contents) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return absl::OkStatus();
    return FileError("cannot create", path, errno);
  }
  ssize_t n = ::write(fd, contents.data(), contents.size());
  const int write_errno = errno;
  const bool ok = n == static_cast<ssize_t>(contents.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    return FileError("cannot write", path, n < 0 ? write_errno : EIO);
  }
  return absl::OkStatus();
}

absl::Status EnsureDirectory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

std::string ReadAtMost(std::istream& in, std::size_t limit) {
  std::string out;
  char buffer[4096];
  while (out.size() < limit) {
    const std::size_t want = std::min(sizeof buffer, limit - out.size());
    in.read(buffer, static_cast<std::streamsize>(want));
    if (in.gcount() <= 0) break;
    out.append(buffer, static_cast<std::size_t>(in.gcount()));
  }
  return out;
}

absl::StatusOr<std::string> LoadOrCreateFile(
    const std::string& path, bool create,
    absl::FunctionRef<absl::Status(const std::string&)> create_file,
    const std::string& cannot_read, std::size_t limit) {
  if (sodium_init() < 0) return absl::InternalError("libsodium failed to initialise");
  if (create) {
    if (absl::Status s = create_file(path); !s.ok()) return s;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return FileError(cannot_read, path, errno == 0 ? ENOENT : errno);
  return ReadAtMost(in, limit);
}

absl::StatusOr<std::string> LoadOrCreateSecret(const std::string& path, bool create) {
  absl::StatusOr<std::string> secret =
      LoadOrCreateFile(path, create, CreateSecretFile, "cannot read", kMaxSecretBytes + 1);
  if (!secret.ok()) return secret.status();
  if (secret->size() > kMaxSecretBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is larger than ", kMaxSecretBytes, " bytes; is it a secret?"));
  }
  if (secret->size() < kMinSecretBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, " holds ", secret->size(),
                                                   " bytes; a secret needs at least ",
                                                   kMinSecretBytes));
  }
  return secret;
}

}  // namespace courier::server
