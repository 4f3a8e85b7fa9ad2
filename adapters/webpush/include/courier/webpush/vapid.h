// courier/webpush/vapid.h: the application server's identity, RFC 8292
// (VAPID): an ECDSA P-256 key pair and the ES256 JWT that names it.
//
// The key file is a PEM "PRIVATE KEY" (PKCS#8), what
// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` writes.
// LoadOrCreate reads it, or creates it with mode 0600 when the path does not
// exist (written to a temporary file in the same directory, fsynced, then
// renamed, so a crash never leaves half a key). A file that exists but is not
// a P-256 private key is an error, never overwritten.
//
// VapidAuthorization returns the Authorization header value
//   vapid t=<JWT>, k=<base64url 65-byte uncompressed public key>
// with the JWT header {"typ":"JWT","alg":"ES256"} and the claims
//   aud: the endpoint's origin ("https://push.example.net", default port
//        left out), exp: now + expires_in (at most 24 h, RFC 8292 section 2),
//   sub: the operator's contact, a "mailto:" or "https:" URI.
// The signature is the 64-byte R || S of RFC 7518 section 3.4.
//
// Ownership: VapidKey is a value (copies share one immutable key).
// Thread-safety: a VapidKey and its copies may be used from any threads.
// Blocking: LoadOrCreate does file I/O; signing is CPU only (~0.08 ms).
#ifndef COURIER_ADAPTERS_WEBPUSH_VAPID_H_
#define COURIER_ADAPTERS_WEBPUSH_VAPID_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "courier/export.h"

namespace courier::webpush {

inline constexpr std::size_t kMaxSubjectBytes = 256;

class COURIER_EXPORT VapidKey {
 public:
  // Errors: kInvalidArgument (not a P-256 private key), kPermissionDenied,
  // kNotFound (the directory is missing), kInternal (other I/O).
  static absl::StatusOr<VapidKey> LoadOrCreate(const std::string& pem_path);
  // A key from PEM text (PKCS#8 or SEC1 "EC PRIVATE KEY"). kInvalidArgument.
  static absl::StatusOr<VapidKey> FromPem(std::string_view pem);
  // A fresh key, not saved anywhere.
  static absl::StatusOr<VapidKey> Generate();

  // The 65-byte uncompressed public point in base64url without padding: the
  // applicationServerKey the page passes to pushManager.subscribe().
  std::string public_key_base64url() const;
  // The private key as PKCS#8 PEM (what LoadOrCreate writes).
  std::string private_key_pem() const;

  // The ES256 signature (64 bytes, R || S) of `data`. kInternal on failure.
  absl::StatusOr<std::string> SignEs256(std::string_view data) const;

  struct Impl;

 private:
  explicit VapidKey(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Checks a VAPID subject: "mailto:" or "https:" followed by at least one
// character, at most kMaxSubjectBytes, printable ASCII. kInvalidArgument.
COURIER_EXPORT absl::Status ValidateVapidSubject(std::string_view subject);

// "vapid t=..., k=..." for a request to `endpoint` (ParseUrl's rules).
// REQUIRES: 0 < expires_in <= 24 h (else kInvalidArgument).
// Errors: kInvalidArgument (bad endpoint, subject or expires_in).
COURIER_EXPORT absl::StatusOr<std::string> VapidAuthorization(
    const VapidKey& key, std::string_view endpoint, std::string_view subject, absl::Time now,
    absl::Duration expires_in = absl::Hours(12));

}  // namespace courier::webpush

#endif  // COURIER_ADAPTERS_WEBPUSH_VAPID_H_
