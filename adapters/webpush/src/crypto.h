// The OpenSSL pieces courier::webpush is built from: P-256 keys as raw bytes,
// ECDH, HKDF-SHA-256, HMAC-SHA-256, AES-128-GCM, ES256. Internal.
//
// Errors: kInvalidArgument for bad input bytes, kInternal (with OpenSSL's
// error text) when OpenSSL fails otherwise.
// Thread-safety: every function is safe to call concurrently; an EVP_PKEY is
// only read after it is built.
// Blocking: CPU only.
#ifndef COURIER_ADAPTERS_WEBPUSH_SRC_CRYPTO_H_
#define COURIER_ADAPTERS_WEBPUSH_SRC_CRYPTO_H_

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace courier::webpush::internal {

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

// kInternal "<context>: <OpenSSL's queued errors>"; clears the queue.
absl::Status OpenSslError(std::string_view context);

// True when `raw` is 65 bytes 0x04 || X || Y naming a point on P-256.
bool IsP256Point(std::string_view raw);

absl::StatusOr<PkeyPtr> GenerateP256();
// A public key from 65 raw bytes (IsP256Point).
absl::StatusOr<PkeyPtr> P256PublicKey(std::string_view raw);
// A key pair from a 32-byte big-endian scalar in [1, n-1].
absl::StatusOr<PkeyPtr> P256PrivateKey(std::string_view scalar);
// The 65-byte uncompressed public point of a P-256 key.
absl::StatusOr<std::string> P256PublicPoint(EVP_PKEY* key);
// True when `key` is an EC key on P-256 holding a private part.
bool IsP256PrivateKey(EVP_PKEY* key);

// The 32-byte ECDH shared secret (the X coordinate).
absl::StatusOr<std::string> Ecdh(EVP_PKEY* private_key, EVP_PKEY* peer_public);

std::string HmacSha256(std::string_view key, std::string_view data);
// RFC 5869 with SHA-256; REQUIRES: length <= 32 (one block is all we need).
std::string Hkdf(std::string_view salt, std::string_view ikm, std::string_view info,
                 std::size_t length);

// AES-128-GCM: ciphertext || 16-byte tag. REQUIRES: 16-byte key, 12-byte nonce.
absl::StatusOr<std::string> Aes128GcmSeal(std::string_view key, std::string_view nonce,
                                          std::string_view plaintext);

// ES256: ECDSA P-256 over SHA-256 of `data`, as 64 bytes R || S.
absl::StatusOr<std::string> SignEs256(EVP_PKEY* key, std::string_view data);

// `n` bytes from OpenSSL's CSPRNG.
absl::StatusOr<std::string> RandomBytes(std::size_t n);

}  // namespace courier::webpush::internal

#endif  // COURIER_ADAPTERS_WEBPUSH_SRC_CRYPTO_H_
