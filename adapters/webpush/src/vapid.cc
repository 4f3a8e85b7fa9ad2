// VapidKey and VapidAuthorization (courier/webpush/vapid.h).
#include "courier/webpush/vapid.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "courier/webpush/subscription.h"
#include "crypto.h"
#include "text.h"

namespace courier::webpush {

struct VapidKey::Impl {
  internal::PkeyPtr key;
  std::string public_point;  // 65 raw bytes
};

namespace {

constexpr std::size_t kMaxPemBytes = 16 * 1024;

absl::Status ErrnoStatus(std::string_view what, const std::string& path, int err) {
  const std::string text = internal::Cat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(text);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(text);
  return absl::InternalError(text);
}

absl::Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::InternalError(internal::Cat("write: ", std::strerror(errno)));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return absl::OkStatus();
}

// Writes `pem` to `path` with mode 0600 through a temporary file and rename.
// Refuses to replace a file that appeared meanwhile (link, not rename).
absl::Status WriteKeyFile(const std::string& path, const std::string& pem) {
  const std::string tmp = internal::Cat(path, ".tmp.", ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("create", tmp, errno);
  absl::Status s = WriteAll(fd, pem);
  if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus("fsync", tmp, errno);
  ::close(fd);
  if (s.ok() && ::link(tmp.c_str(), path.c_str()) != 0) s = ErrnoStatus("link", path, errno);
  ::unlink(tmp.c_str());
  if (!s.ok()) return s;
  // Make the new name durable.
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<VapidKey> VapidKey::FromPem(std::string_view pem) {
  if (pem.size() > kMaxPemBytes) return absl::InvalidArgumentError("VAPID key: PEM too large");
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (!bio) return internal::OpenSslError("BIO_new_mem_buf");
  internal::PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key || !internal::IsP256PrivateKey(key.get())) {
    ERR_clear_error();
    return absl::InvalidArgumentError("VAPID key: not a PEM P-256 (prime256v1) private key");
  }
  auto point = internal::P256PublicPoint(key.get());
  if (!point.ok()) return point.status();
  auto impl = std::make_shared<Impl>();
  impl->key = std::move(key);
  impl->public_point = *std::move(point);
  return VapidKey(std::move(impl));
}

absl::StatusOr<VapidKey> VapidKey::Generate() {
  auto key = internal::GenerateP256();
  if (!key.ok()) return key.status();
  auto point = internal::P256PublicPoint(key->get());
  if (!point.ok()) return point.status();
  auto impl = std::make_shared<Impl>();
  impl->key = *std::move(key);
  impl->public_point = *std::move(point);
  return VapidKey(std::move(impl));
}

absl::StatusOr<VapidKey> VapidKey::LoadOrCreate(const std::string& pem_path) {
  for (int round = 0; round < 2; ++round) {
    const int fd = ::open(pem_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      std::string pem;
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0 && pem.size() <= kMaxPemBytes) {
        pem.append(buf, static_cast<std::size_t>(n));
      }
      const int err = errno;
      ::close(fd);
      if (n < 0) return ErrnoStatus("read", pem_path, err);
      auto key = FromPem(pem);
      if (!key.ok()) {
        return absl::InvalidArgumentError(internal::Cat(pem_path, ": ", key.status().message()));
      }
      return key;
    }
    if (errno != ENOENT) return ErrnoStatus("open", pem_path, errno);
    auto key = Generate();
    if (!key.ok()) return key.status();
    absl::Status written = WriteKeyFile(pem_path, key->private_key_pem());
    if (written.ok()) return key;
    // Another process created it first: read theirs.
    if (written.code() == absl::StatusCode::kInternal && round == 0 &&
        ::access(pem_path.c_str(), F_OK) == 0) {
      continue;
    }
    return written;
  }
  return absl::InternalError(internal::Cat("VAPID key ", pem_path, ": could not load or create"));
}

std::string VapidKey::public_key_base64url() const { return Base64UrlEncode(impl_->public_point); }

std::string VapidKey::private_key_pem() const {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), impl_->key.get(), nullptr, nullptr, 0, nullptr,
                                       nullptr) != 1) {
    ERR_clear_error();
    return {};
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

absl::StatusOr<std::string> VapidKey::SignEs256(std::string_view data) const {
  return internal::SignEs256(impl_->key.get(), data);
}

absl::Status ValidateVapidSubject(std::string_view subject) {
  if (subject.size() > kMaxSubjectBytes) {
    return absl::InvalidArgumentError(
        internal::Cat("VAPID subject longer than ", kMaxSubjectBytes, " bytes"));
  }
  const bool mailto = subject.substr(0, 7) == "mailto:" && subject.size() > 7;
  const bool https = subject.substr(0, 8) == "https://" && subject.size() > 8;
  if (!mailto && !https) {
    return absl::InvalidArgumentError("VAPID subject must be a mailto: or https:// URI");
  }
  for (char c : subject) {
    if (c <= 0x20 || c >= 0x7F || c == '"' || c == '\\') {
      return absl::InvalidArgumentError("VAPID subject has a space, quote or non-ASCII byte");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> VapidAuthorization(const VapidKey& key, std::string_view endpoint,
                                               std::string_view subject, absl::Time now,
                                               absl::Duration expires_in) {
  if (expires_in <= absl::ZeroDuration() || expires_in > absl::Hours(24)) {
    return absl::InvalidArgumentError("VAPID token lifetime must be in (0, 24 h]");
  }
  if (absl::Status s = ValidateVapidSubject(subject); !s.ok()) return s;
  auto url = ParseUrl(endpoint);
  if (!url.ok()) return url.status();
  // The subject and origin have no character that needs JSON escaping
  // (ValidateVapidSubject, ParseUrl), so the claims are written directly.
  const std::string header = Base64UrlEncode(R"({"typ":"JWT","alg":"ES256"})");
  const std::string claims = Base64UrlEncode(
      internal::Cat(R"({"aud":")", url->Origin(), R"(","exp":)",
                    absl::ToUnixSeconds(now + expires_in), R"(,"sub":")", subject, R"("})"));
  const std::string signing_input = internal::Cat(header, ".", claims);
  auto signature = key.SignEs256(signing_input);
  if (!signature.ok()) return signature.status();
  return internal::Cat("vapid t=", signing_input, ".", Base64UrlEncode(*signature),
                       ", k=", key.public_key_base64url());
}

}  // namespace courier::webpush
