// courier/webpush/encryption.h: RFC 8291 message encryption for Web Push,
// the "aes128gcm" content coding of RFC 8188, with one record.
//
// The result is the whole HTTP request body: the RFC 8188 header
// (salt[16] || rs[4] = 4096 || idlen[1] = 65 || the sender's ephemeral
// public key[65]) followed by one record: AES-128-GCM over
// plaintext || 0x02 (the last-record delimiter, no further padding), with
// the 16-byte tag. The keys follow RFC 8291 section 3.4: ECDH between a fresh
// P-256 key and the subscription's p256dh, HKDF-SHA-256 with the auth secret
// and "WebPush: info", then the RFC 8188 CEK and nonce.
//
// Limits: the plaintext is at most kMaxPlaintextBytes, so that the body fits
// the 4096 bytes every push service must accept (RFC 8291 section 4).
// Errors: kInvalidArgument for a bad subscription key, a plaintext too long
// or a bad injected salt/key; kInternal if OpenSSL fails.
//
// Ownership: values in, values out; nothing is retained.
// Thread-safety: safe to call concurrently.
// Blocking: no I/O; CPU only: a key generation and an ECDH on P-256, about
// 0.5 ms per message measured on a busy 2-core machine.
#ifndef COURIER_ADAPTERS_WEBPUSH_ENCRYPTION_H_
#define COURIER_ADAPTERS_WEBPUSH_ENCRYPTION_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "courier/export.h"
#include "courier/webpush/subscription.h"

namespace courier::webpush {

inline constexpr std::size_t kRecordSize = 4096;
// The record less the header (salt 16, rs 4, idlen 1, key 65), the
// delimiter (1) and the tag (16): 3993 bytes.
inline constexpr std::size_t kMaxPlaintextBytes = kRecordSize - (16 + 4 + 1 + 65) - 1 - 16;

// Test hooks: RFC 8291 section 5's example fixes both. Leave them empty in
// production (a fresh random salt and a fresh key pair for every message;
// reusing either leaks the plaintext).
struct EncryptOptions {
  std::string salt;                // 16 raw bytes, or empty for random
  std::string sender_private_key;  // 32-byte raw P-256 scalar, or empty for fresh
};

COURIER_EXPORT absl::StatusOr<std::string> EncryptAes128gcm(const Subscription& sub,
                                                            std::string_view plaintext,
                                                            const EncryptOptions& options = {});

}  // namespace courier::webpush

#endif  // COURIER_ADAPTERS_WEBPUSH_ENCRYPTION_H_
