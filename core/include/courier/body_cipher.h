// courier/body_cipher.h: message bodies encrypted at rest, for every store.
//
// OpenEncryptingStore wraps any MessageStore: bodies are sealed with
// XChaCha20-Poly1305 (libsodium) on the way in and opened on the way out, with
// the message id and recipient as associated data, so a body copied onto
// another message fails to open. A group message (GroupSendOp) is sealed once,
// bound to its id and group, and that one sealed body goes into every
// member's inbox. Group change events (their body is the encoded change) and
// group records (names, members) are not sealed. Stored form: 24-byte random nonce || ciphertext
// || 16-byte tag (libsodium's crypto_aead_xchacha20poly1305_ietf format; a
// body up to 448 bytes is sealed and opened with one keystream call and one
// Poly1305 call, the XChaCha20 subkey of the nonce's 16-byte prefix kept per
// thread: the same construction, checked against libsodium's in the tests). A body that fails to open is reported as kDataLoss (wrong key
// or tampering), never returned as garbage.
// Where: the store's Prepare (courier/message_store.h) seals an op's body on
// the thread that calls it (the engine's submitting io thread), so that the
// one commit thread's Write passes sealed bodies on; Write seals any op that
// was not prepared, so the inner store never sees a plaintext body either way.
//
// Ownership: the wrapper owns `inner`.
// Nonces: a per-thread random 16-byte prefix and a 64-bit counter; the
// prefix is drawn again in a child after fork() (pthread_atfork), so a
// process that forks after sealing never repeats a nonce in parent or child.
// Fetch opens a page's bodies with one OpenAllInPlace.
// Thread-safety: as safe as `inner` (the cipher keeps only per-thread state:
// the nonce counter and the last few derived subkeys).
// Blocking: as `inner`.
#ifndef COURIER_CORE_BODY_CIPHER_H_
#define COURIER_CORE_BODY_CIPHER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "courier/export.h"
#include "courier/message_store.h"

namespace courier {

inline constexpr std::size_t kStorageKeyBytes = 32;

class COURIER_EXPORT BodyCipher {
 public:
  // REQUIRES nothing; kInvalidArgument unless key is exactly 32 bytes.
  static absl::StatusOr<BodyCipher> Create(std::string_view key);

  // Thread-safety: Seal and the Opens may run on any threads at
  // once (each thread keeps its own nonce state and a few derived subkeys).
  std::string Seal(std::string_view plaintext, std::string_view associated) const;
  absl::StatusOr<std::string> Open(std::string_view sealed, std::string_view associated) const;
  // Open into `body` itself, without a second string: on success `body`
  // holds the plaintext; on kDataLoss it is left as it was.
  absl::Status OpenInPlace(std::string& body, std::string_view associated) const;

  // One sealed body of OpenAllInPlace, both borrowed for the call.
  struct SealedBody {
    std::string* body = nullptr;
    std::string_view associated;
  };
  // Opens every body in place, as OpenInPlace on each in order would: the
  // same plaintexts and the same failures, with the keystreams and the tags
  // of many bodies computed together (a drained page: ChaCha20 in 4-16
  // lanes, internal/chacha20_lanes.h, and Poly1305 in 4-8,
  // internal/poly1305_lanes.h, instead of two libsodium calls per body). On
  // kDataLoss, `*failed` (if not null) is the index of the first body that
  // failed; the bodies before it are opened, it is left as it was, and
  // those after it are opened or left as they were.
  absl::Status OpenAllInPlace(absl::Span<const SealedBody> bodies,
                              std::size_t* failed = nullptr) const;

 private:
  BodyCipher(std::string key, std::uint64_t id) : key_(std::move(key)), id_(id) {}
  std::string key_;
  // Names this key in each thread's cache of derived subkeys (random,
  // never 0; copies share it with the key).
  std::uint64_t id_;
};

// kInvalidArgument unless key is 32 bytes; derive it from a longer secret
// with DeriveStorageKey.
COURIER_EXPORT absl::StatusOr<std::unique_ptr<MessageStore>> OpenEncryptingStore(
    std::unique_ptr<MessageStore> inner, std::string_view key);

// A 32-byte key from a secret of any length >= 32 bytes (BLAKE2b).
COURIER_EXPORT absl::StatusOr<std::string> DeriveStorageKey(std::string_view secret);

}  // namespace courier

#endif  // COURIER_CORE_BODY_CIPHER_H_
