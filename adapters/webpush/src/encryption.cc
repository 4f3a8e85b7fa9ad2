// EncryptAes128gcm: RFC 8291 section 3.4 keys, one RFC 8188 record.
#include "courier/webpush/encryption.h"

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "crypto.h"
#include "text.h"

namespace courier::webpush {
namespace {

using internal::PkeyPtr;

absl::StatusOr<std::string> Decode(std::string_view what, std::string_view text, std::size_t size) {
  auto raw = Base64UrlDecode(text);
  if (!raw.ok() || raw->size() != size) {
    return absl::InvalidArgumentError(
        internal::Cat("subscription ", what, " is not ", size, " bytes of base64url"));
  }
  return raw;
}

std::string BigEndian32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

}  // namespace

absl::StatusOr<std::string> EncryptAes128gcm(const Subscription& sub, std::string_view plaintext,
                                             const EncryptOptions& options) {
  if (plaintext.size() > kMaxPlaintextBytes) {
    return absl::InvalidArgumentError(
        internal::Cat("push payload is ", plaintext.size(), " bytes, over ", kMaxPlaintextBytes));
  }
  auto ua_public_raw = Decode("p256dh", sub.p256dh, 65);
  if (!ua_public_raw.ok()) return ua_public_raw.status();
  auto auth = Decode("auth", sub.auth, 16);
  if (!auth.ok()) return auth.status();
  auto ua_public = internal::P256PublicKey(*ua_public_raw);
  if (!ua_public.ok()) {
    return absl::InvalidArgumentError("subscription p256dh is not a P-256 point");
  }

  std::string salt = options.salt;
  if (salt.empty()) {
    auto random = internal::RandomBytes(16);
    if (!random.ok()) return random.status();
    salt = *std::move(random);
  } else if (salt.size() != 16) {
    return absl::InvalidArgumentError("salt must be 16 bytes");
  }
  auto as_key = options.sender_private_key.empty()
                    ? internal::GenerateP256()
                    : internal::P256PrivateKey(options.sender_private_key);
  if (!as_key.ok()) return as_key.status();
  auto as_public_raw = internal::P256PublicPoint(as_key->get());
  if (!as_public_raw.ok()) return as_public_raw.status();
  auto ecdh_secret = internal::Ecdh(as_key->get(), ua_public->get());
  if (!ecdh_secret.ok()) return ecdh_secret.status();

  // RFC 8291 section 3.4.
  const std::string key_info =
      internal::Cat("WebPush: info", std::string_view("\0", 1), *ua_public_raw, *as_public_raw);
  const std::string ikm = internal::Hkdf(*auth, *ecdh_secret, key_info, 32);
  // RFC 8188 section 2.2 and 2.3 (one record: sequence number 0).
  const std::string cek =
      internal::Hkdf(salt, ikm, std::string_view("Content-Encoding: aes128gcm\0", 28), 16);
  const std::string nonce =
      internal::Hkdf(salt, ikm, std::string_view("Content-Encoding: nonce\0", 24), 12);

  std::string record(plaintext);
  record += '\x02';  // the last record's delimiter, no padding
  auto sealed = internal::Aes128GcmSeal(cek, nonce, record);
  if (!sealed.ok()) return sealed.status();

  return internal::Cat(salt, BigEndian32(kRecordSize), std::string_view("\x41", 1), *as_public_raw,
                       *sealed);
}

}  // namespace courier::webpush
