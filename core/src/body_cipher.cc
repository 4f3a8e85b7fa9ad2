#include "courier/body_cipher.h"

#include <pthread.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "chacha20_lanes.h"
#include "poly1305_lanes.h"
#include "courier/status.h"

namespace courier {
namespace {

absl::Status InitSodium() {
  static const int rc = sodium_init();  // thread-safe, idempotent
  if (rc < 0) return absl::InternalError("libsodium failed to initialise");
  return absl::OkStatus();
}

// Binds a sealed body to the message it belongs to: a 1:1 message to its
// recipient, a group message (one sealed body copied into every member's
// inbox) to its group. The separator keeps the two apart.
std::string AssociatedData(const MessageId& id, const UserId& recipient, char separator = '\0') {
  std::string ad;
  ad.reserve(id.size() + 1 + recipient.size());
  ad.append(id).push_back(separator);
  ad.append(recipient);
  return ad;
}

std::string GroupAssociatedData(const MessageId& id, const GroupId& group) {
  return AssociatedData(id, group, '\1');
}

// The associated data of a kMessage event in `user`'s inbox, appended to
// `out`.
void AppendAssociatedDataOf(const Event& e, const UserId& user, std::string& out) {
  out.append(e.id).push_back(e.group.empty() ? '\0' : '\1');
  out.append(e.group.empty() ? user : e.group);
}

// The same into `out` (reused from event to event: no string per event).
void AssociatedDataOf(const Event& e, const UserId& user, std::string& out) {
  out.clear();
  AppendAssociatedDataOf(e, user, out);
}

class EncryptingStore final : public MessageStore {
 public:
  EncryptingStore(std::unique_ptr<MessageStore> inner, BodyCipher cipher)
      : inner_(std::move(inner)), cipher_(std::move(cipher)) {}

  // Seals the body here, on the submitting thread, so that the commit
  // thread's Write only passes it on.
  void Prepare(WriteOp& op) override {
    if (auto* append = std::get_if<AppendOp>(&op)) {
      SealInPlace(*append, AssociatedData(append->id, append->recipient));
    } else if (auto* send = std::get_if<GroupSendOp>(&op)) {
      SealInPlace(*send, GroupAssociatedData(send->id, send->group));
    }
    // AttachOp, AckOp, ReadOp carry no body; a GroupChangeOp's event body
    // is the encoded change, which is not sealed.
  }

  std::vector<absl::StatusOr<WriteResult>> Write(absl::Span<const WriteOp> ops) override {
    std::vector<absl::StatusOr<WriteResult>> results;
    WithSealed(ops, [&](absl::Span<const WriteOp> sealed) {
      results = inner_->Write(sealed);
      RestoreAllBodies(sealed, results);
    });
    return results;
  }

  bool StagesWrites() const override { return inner_->StagesWrites(); }
  StagedWrite WriteStaged(absl::Span<const WriteOp> ops) override {
    StagedWrite staged;
    WithSealed(ops, [&](absl::Span<const WriteOp> sealed) {
      staged = inner_->WriteStaged(sealed);
      RestoreAllBodies(sealed, staged.results);
    });
    return staged;
  }

  // The page's bodies are opened together (BodyCipher::OpenAllInPlace),
  // their associated data back to back in one string.
  absl::StatusOr<std::vector<Event>> Fetch(const UserId& user, Seq after,
                                           std::size_t limit) override {
    COURIER_ASSIGN_OR_RETURN(std::vector<Event> events, inner_->Fetch(user, after, limit));
    std::string associated;
    std::vector<std::size_t> messages;  // indexes into `events`
    std::vector<std::size_t> ends;      // of each one's associated data
    messages.reserve(events.size());
    ends.reserve(events.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (events[i].kind != EventKind::kMessage) continue;
      AppendAssociatedDataOf(events[i], user, associated);
      messages.push_back(i);
      ends.push_back(associated.size());
    }
    std::vector<BodyCipher::SealedBody> sealed;
    sealed.reserve(messages.size());
    for (std::size_t k = 0; k < messages.size(); ++k) {
      const std::size_t begin = k == 0 ? 0 : ends[k - 1];
      sealed.push_back(BodyCipher::SealedBody{
          &events[messages[k]].body, std::string_view(associated).substr(begin, ends[k] - begin)});
    }
    std::size_t failed = 0;
    if (absl::Status opened = cipher_.OpenAllInPlace(sealed, &failed); !opened.ok()) {
      return absl::DataLossError(absl::StrCat("inbox of ", user, " seq ",
                                              events[messages[failed]].seq, ": ",
                                              opened.message()));
    }
    return events;
  }

  absl::StatusOr<Seq> Head(const UserId& user) override { return inner_->Head(user); }
  absl::StatusOr<Seq> Cursor(const UserId& user, const DeviceId& device) override {
    return inner_->Cursor(user, device);
  }
  absl::StatusOr<MessageStatus> Status(const UserId& recipient, const MessageId& id) override {
    return inner_->Status(recipient, id);
  }
  absl::StatusOr<std::size_t> Prune(const PruneOptions& options) override {
    return inner_->Prune(options);
  }
  absl::StatusOr<std::size_t> DeleteInbox(const UserId& user) override {
    return inner_->DeleteInbox(user);
  }
  absl::StatusOr<GroupRecord> Group(const GroupId& id) override { return inner_->Group(id); }
  absl::StatusOr<std::vector<GroupRecord>> GroupsOf(const UserId& user) override {
    return inner_->GroupsOf(user);
  }
  absl::Status Ping() override { return inner_->Ping(); }

 private:
  // True when `op` carries no body to seal or its body is sealed already
  // (Prepare set `plaintext`, and the stored form is the sealed size of it:
  // a caller that set `plaintext` by hand is not trusted with the body).
  static bool IsPrepared(const WriteOp& op) {
    if (const auto* append = std::get_if<AppendOp>(&op)) return BodySealed(*append);
    if (const auto* send = std::get_if<GroupSendOp>(&op)) return BodySealed(*send);
    return true;
  }

  template <typename Op>
  static bool BodySealed(const Op& op) {
    return op.plaintext.has_value() && op.body.size() == SealedSize(op.plaintext->size());
  }

  static std::size_t SealedSize(std::size_t plaintext) {
    return crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + plaintext +
           crypto_aead_xchacha20poly1305_ietf_ABYTES;
  }

  // The one place a body is sealed on its way in: `body` becomes its sealed
  // form and `plaintext` keeps what the sender gave, for the results.
  template <typename Op>
  void SealInPlace(Op& op, const std::string& associated) const {
    if (BodySealed(op)) return;
    // A `plaintext` not set here is ignored: `body` is what the caller sends.
    std::string sealed = cipher_.Seal(op.body, associated);
    op.plaintext = std::move(op.body);
    op.body = std::move(sealed);
  }

  // Calls `write` with `ops` sealed: prepared ops (the engine's) go through
  // as they are; a batch with an unprepared one is copied and that one
  // sealed here.
  template <typename WriteFn>
  void WithSealed(absl::Span<const WriteOp> ops, WriteFn&& write) {
    const bool all_prepared = std::all_of(ops.begin(), ops.end(), &IsPrepared);
    std::vector<WriteOp> copy;
    if (!all_prepared) {
      copy.assign(ops.begin(), ops.end());
      for (WriteOp& op : copy) Prepare(op);
    }
    write(all_prepared ? ops : absl::MakeConstSpan(copy));
  }

  void RestoreAllBodies(absl::Span<const WriteOp> sealed,
                        std::vector<absl::StatusOr<WriteResult>>& results) {
    for (std::size_t i = 0; i < results.size() && i < sealed.size(); ++i) {
      if (results[i].ok()) RestoreBodies(sealed[i], results[i]);
    }
  }

  // The appended message events of a fresh append or group send carry the
  // plaintext the caller gave; receipts have no body, and a group change's
  // body was never sealed.
  // REQUIRES: slot.ok().
  void RestoreBodies(const WriteOp& op, absl::StatusOr<WriteResult>& slot) {
    WriteResult& r = *slot;
    const std::string* plaintext = nullptr;
    const MessageId* id = nullptr;
    std::vector<Appended>* list = nullptr;
    // REQUIRES: `op` was prepared (IsPrepared), so `plaintext` is set.
    if (auto* append = std::get_if<AppendResult>(&r)) {
      if (const auto* in = std::get_if<AppendOp>(&op)) plaintext = &*in->plaintext, id = &in->id;
      list = &append->appended;
    } else if (auto* send = std::get_if<GroupSendResult>(&r)) {
      if (const auto* in = std::get_if<GroupSendOp>(&op)) plaintext = &*in->plaintext, id = &in->id;
      list = &send->appended;
    } else if (auto* ack = std::get_if<AckResult>(&r)) {
      list = &ack->appended;
    } else if (auto* read = std::get_if<ReadResult>(&r)) {
      list = &read->appended;
    }
    // AttachResult appends nothing; GroupChangeResult only kGroupChange events.
    if (list == nullptr) return;
    std::string associated;
    for (Appended& a : *list) {
      if (a.event.kind != EventKind::kMessage) continue;
      if (plaintext != nullptr && a.event.id == *id) {
        a.event.body = *plaintext;
        continue;
      }
      AssociatedDataOf(a.event, a.user, associated);
      if (absl::Status opened = cipher_.OpenInPlace(a.event.body, associated); !opened.ok()) {
        slot = absl::DataLossError(opened.message());
        return;
      }
    }
  }

  std::unique_ptr<MessageStore> inner_;
  BodyCipher cipher_;
};

}  // namespace

absl::StatusOr<BodyCipher> BodyCipher::Create(std::string_view key) {
  COURIER_RETURN_IF_ERROR(InitSodium());
  if (key.size() != crypto_aead_xchacha20poly1305_ietf_KEYBYTES) {
    return absl::InvalidArgumentError(absl::StrCat("storage key must be ",
                                                   crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
                                                   " bytes, got ", key.size()));
  }
  std::uint64_t id = 0;
  while (id == 0) randombytes_buf(&id, sizeof id);
  return BodyCipher(std::string(key), id);
}

namespace {

// Bumped in the child of every fork() (pthread_atfork), so that a thread
// that goes on sealing in the child draws a fresh prefix instead of
// repeating the parent's nonce stream.
std::atomic<std::uint64_t> fork_generation{0};

void OnForkChild() { fork_generation.fetch_add(1, std::memory_order_relaxed); }

// True once the fork handler is registered (first seal in the process).
bool ForkHandlerRegistered() {
  static const bool registered = pthread_atfork(nullptr, nullptr, &OnForkChild) == 0;
  return registered;
}

// Writes a fresh 24-byte XChaCha20 nonce: 16 random bytes drawn once per
// thread (and again after a fork), then a 64-bit per-thread counter. Unique
// without a system call per message (randombytes_buf is one getrandom(2) per
// call: the W1 profile counted one per stored message on the commit thread).
// Two threads collide only if their random prefixes do (2^-128). A forked
// child sees a new fork generation and redraws its prefix before its first
// seal, so parent and child never share a nonce stream. If the fork handler
// could not be registered (ENOMEM), every nonce is fully random.
void NextNonce(unsigned char* out) {
  static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == 24);
  if (!ForkHandlerRegistered()) {
    randombytes_buf(out, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    return;
  }
  struct State {
    std::array<unsigned char, 16> prefix{};
    std::uint64_t counter = 0;
    std::uint64_t generation = ~std::uint64_t{0};  // no prefix drawn yet
  };
  thread_local State state;
  const std::uint64_t generation = fork_generation.load(std::memory_order_relaxed);
  if (state.generation != generation) {
    randombytes_buf(state.prefix.data(), state.prefix.size());
    state.counter = 0;
    state.generation = generation;
  }
  const std::uint64_t n = state.counter++;
  std::memcpy(out, state.prefix.data(), state.prefix.size());
  std::memcpy(out + state.prefix.size(), &n, sizeof n);
}

constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::size_t kSubkey = crypto_core_hchacha20_OUTPUTBYTES;
static_assert(kNonce == 24 && kTag == 16 && kSubkey == 32);

// XChaCha20-Poly1305 as libsodium's crypto_aead_xchacha20poly1305_ietf:
// the subkey HChaCha20(key, nonce[0..16)), then RFC 8439's
// ChaCha20-Poly1305 under it with the nonce 0^4 || nonce[16..24). What
// differs is only how the work is split, for the short bodies of a chat:
//  * the subkey depends on the nonce's prefix alone, which a sealing
//    thread keeps for its life (NextNonce): each thread remembers the
//    subkeys of its last few (cipher, prefix) pairs (a drain opens bodies
//    sealed by a few io threads);
//  * the one-time Poly1305 key (keystream block 0) and the body's
//    keystream (blocks 1..) come from one call for 256 or 512 bytes, which
//    libsodium computes several blocks at a time (≈ the cost of two single
//    blocks), and the tag from one Poly1305 call over a stack buffer.
// The tag is checked before anything is decrypted.

// The XChaCha20 subkey of `prefix` (16 bytes) under `key`, whose cipher
// is named `id`. The pointer is valid until this thread's next call.
const unsigned char* SubkeyFor(std::uint64_t id, const std::string& key,
                               const unsigned char* prefix) {
  struct Entry {
    std::uint64_t id = 0;  // 0: empty
    std::array<unsigned char, 16> prefix{};
    std::array<unsigned char, kSubkey> subkey{};
  };
  struct Cache {
    std::array<Entry, 4> entries;
    std::size_t next = 0;  // replaced next
  };
  thread_local Cache cache;
  for (Entry& e : cache.entries) {
    if (e.id == id && std::memcmp(e.prefix.data(), prefix, e.prefix.size()) == 0) {
      return e.subkey.data();
    }
  }
  Entry& e = cache.entries[cache.next];
  cache.next = (cache.next + 1) % cache.entries.size();
  e.id = id;
  std::memcpy(e.prefix.data(), prefix, e.prefix.size());
  crypto_core_hchacha20(e.subkey.data(), prefix, reinterpret_cast<const unsigned char*>(key.data()),
                        nullptr);
  return e.subkey.data();
}

// The ChaCha20 nonce of an XChaCha20 nonce.
std::array<unsigned char, crypto_aead_chacha20poly1305_ietf_NPUBBYTES> IetfNonce(
    const unsigned char* nonce) {
  std::array<unsigned char, crypto_aead_chacha20poly1305_ietf_NPUBBYTES> out{};
  std::memcpy(out.data() + 4, nonce + 16, 8);
  return out;
}

constexpr std::size_t Pad16(std::size_t n) { return (n + 15) & ~std::size_t{15}; }

// RFC 8439's MAC input, ad || pad || c || pad || le64(|ad|) || le64(|c|),
// into `buf` when it fits `cap` bytes: its size, or 0 when it does not fit.
constexpr std::size_t kMacInputMax = 640;
std::size_t MacInput(std::string_view ad, const unsigned char* c, std::size_t n,
                     unsigned char* buf, std::size_t cap) {
  unsigned char lengths[16];
  const std::uint64_t ad_len = ad.size();
  const std::uint64_t c_len = n;
  for (int i = 0; i < 8; ++i) {
    lengths[i] = static_cast<unsigned char>(ad_len >> (8 * i));
    lengths[8 + i] = static_cast<unsigned char>(c_len >> (8 * i));
  }
  const std::size_t total = Pad16(ad.size()) + Pad16(n) + sizeof lengths;
  if (total > cap) return 0;
  std::memset(buf, 0, total);
  if (!ad.empty()) std::memcpy(buf, ad.data(), ad.size());  // a default view's data is null
  if (n > 0) std::memcpy(buf + Pad16(ad.size()), c, n);
  std::memcpy(buf + total - sizeof lengths, lengths, sizeof lengths);
  return total;
}

// RFC 8439's tag: Poly1305 with the one-time key `otk` over MacInput.
void ComputeTag(const unsigned char* otk, std::string_view ad, const unsigned char* c,
                std::size_t n, unsigned char* tag) {
  alignas(16) unsigned char buf[kMacInputMax];
  if (const std::size_t total = MacInput(ad, c, n, buf, sizeof buf); total > 0) {
    crypto_onetimeauth_poly1305(tag, buf, total, otk);
    return;
  }
  unsigned char lengths[16];
  for (int i = 0; i < 8; ++i) {
    lengths[i] = static_cast<unsigned char>(std::uint64_t{ad.size()} >> (8 * i));
    lengths[8 + i] = static_cast<unsigned char>(std::uint64_t{n} >> (8 * i));
  }
  static const unsigned char kZeros[16] = {0};
  crypto_onetimeauth_poly1305_state st;
  crypto_onetimeauth_poly1305_init(&st, otk);
  crypto_onetimeauth_poly1305_update(&st, reinterpret_cast<const unsigned char*>(ad.data()),
                                     ad.size());
  crypto_onetimeauth_poly1305_update(&st, kZeros, Pad16(ad.size()) - ad.size());
  crypto_onetimeauth_poly1305_update(&st, c, n);
  crypto_onetimeauth_poly1305_update(&st, kZeros, Pad16(n) - n);
  crypto_onetimeauth_poly1305_update(&st, lengths, sizeof lengths);
  crypto_onetimeauth_poly1305_final(&st, tag);
}

// Bodies up to this size take one keystream call (block 0 is the Poly1305
// key): 256 bytes up to 192, 512 up to 448; longer ones block 0 alone, then
// the body's keystream from block 1 on.
constexpr std::size_t kOneCallMax = 448;

std::size_t KeystreamBytes(std::size_t n) {
  return n <= 192 ? 256 : n <= kOneCallMax ? 512 : 64;
}

// A short body (n <= kOneCallMax bytes of ciphertext after its nonce, at
// `p`) whose keystream from block 0 on is `ks`: checks its tag with the
// one-time key ks[0..32) and, if it holds, writes the plaintext over
// p[0..n) (each byte lands kNonce before the one it is read from). False,
// nothing written, when the tag does not hold. OpenShortTagged: the same
// with the tag already computed (`computed`, 16 bytes; OpenAllInPlace
// computes a chunk's tags at once).
bool OpenShortTagged(unsigned char* p, std::size_t n, const unsigned char* ks,
                     const unsigned char* computed) {
  const unsigned char* c = p + kNonce;
  if (crypto_verify_16(computed, c + n) != 0) return false;
  for (std::size_t i = 0; i < n; ++i) p[i] = c[i] ^ ks[64 + i];
  return true;
}

bool OpenShort(unsigned char* p, std::size_t n, std::string_view associated,
               const unsigned char* ks) {
  unsigned char computed[kTag];
  ComputeTag(ks, associated, p + kNonce, n, computed);
  return OpenShortTagged(p, n, ks, computed);
}

absl::Status TooShortError() { return absl::DataLossError("stored body is too short to be sealed"); }

absl::Status AuthenticationError() {
  return absl::DataLossError("stored body failed authentication (wrong key or tampered)");
}

}  // namespace

std::string BodyCipher::Seal(std::string_view plaintext, std::string_view associated) const {
  std::string out(kNonce + plaintext.size() + kTag, '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  NextNonce(p);
  const unsigned char* subkey = SubkeyFor(id_, key_, p);
  const auto nonce = IetfNonce(p);
  const auto* m = reinterpret_cast<const unsigned char*>(plaintext.data());
  unsigned char* c = p + kNonce;
  const std::size_t n = plaintext.size();
  alignas(16) unsigned char ks[512];
  const std::size_t ks_bytes = KeystreamBytes(n);
  crypto_stream_chacha20_ietf(ks, ks_bytes, nonce.data(), subkey);
  if (n <= kOneCallMax) {
    for (std::size_t i = 0; i < n; ++i) c[i] = m[i] ^ ks[64 + i];
  } else {
    crypto_stream_chacha20_ietf_xor_ic(c, m, n, nonce.data(), 1, subkey);
  }
  ComputeTag(ks, associated, c, n, c + n);
  sodium_memzero(ks, ks_bytes);
  return out;
}

absl::Status BodyCipher::OpenInPlace(std::string& body, std::string_view associated) const {
  if (body.size() < kNonce + kTag) return TooShortError();
  auto* p = reinterpret_cast<unsigned char*>(body.data());
  const std::size_t n = body.size() - kNonce - kTag;
  unsigned char* c = p + kNonce;
  const unsigned char* subkey = SubkeyFor(id_, key_, p);
  const auto nonce = IetfNonce(p);
  alignas(16) unsigned char ks[512];
  const std::size_t ks_bytes = KeystreamBytes(n);
  crypto_stream_chacha20_ietf(ks, ks_bytes, nonce.data(), subkey);
  bool ok = false;
  if (n <= kOneCallMax) {
    ok = OpenShort(p, n, associated, ks);
  } else {
    unsigned char computed[kTag];
    ComputeTag(ks, associated, c, n, computed);
    ok = crypto_verify_16(computed, c + n) == 0;
    if (ok) {
      crypto_stream_chacha20_ietf_xor_ic(c, c, n, nonce.data(), 1, subkey);
      std::memmove(p, c, n);
    }
  }
  sodium_memzero(ks, ks_bytes);
  if (!ok) return AuthenticationError();
  body.resize(n);
  return absl::OkStatus();
}

// In chunks of kChunk bodies: the keystream blocks of the chunk's short
// bodies (up to kOneCallMax bytes: block 0 for Poly1305's key, then one
// per 64 bytes of body) in one ChaCha20Blocks call, their tags in one
// Poly1305Tags call, then each body in order, checked and decrypted as
// OpenInPlace does (longer or malformed bodies through OpenInPlace itself). Subkeys and keystreams are copied
// into the chunk's buffers (SubkeyFor's pointer lasts one call) and wiped
// after it.
absl::Status BodyCipher::OpenAllInPlace(absl::Span<const SealedBody> bodies,
                                        std::size_t* failed) const {
  constexpr std::size_t kChunk = 16;
  constexpr std::size_t kMaxBlocks = 1 + (kOneCallMax + 63) / 64;
  alignas(64) unsigned char ks[kChunk][kMaxBlocks * 64];
  unsigned char subkeys[kChunk][kSubkey];
  std::array<unsigned char, crypto_aead_chacha20poly1305_ietf_NPUBBYTES> nonces[kChunk];
  std::size_t blocks[kChunk];  // 0: not short (OpenInPlace)
  internal::ChaChaBlockJob jobs[kChunk * kMaxBlocks];
  alignas(16) unsigned char mac_inputs[kChunk][kMacInputMax];
  unsigned char tags[kChunk][kTag];
  internal::Poly1305Job tag_jobs[kChunk];
  for (std::size_t start = 0; start < bodies.size(); start += kChunk) {
    const std::size_t count = std::min(kChunk, bodies.size() - start);
    std::size_t njobs = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const std::string& body = *bodies[start + i].body;
      blocks[i] = 0;
      if (body.size() < kNonce + kTag || body.size() - kNonce - kTag > kOneCallMax) continue;
      const auto* p = reinterpret_cast<const unsigned char*>(body.data());
      std::memcpy(subkeys[i], SubkeyFor(id_, key_, p), kSubkey);
      nonces[i] = IetfNonce(p);
      blocks[i] = 1 + (body.size() - kNonce - kTag + 63) / 64;
      for (std::size_t b = 0; b < blocks[i]; ++b) {
        jobs[njobs++] = internal::ChaChaBlockJob{subkeys[i], nonces[i].data(),
                                                 static_cast<std::uint32_t>(b), ks[i] + 64 * b};
      }
    }
    internal::ChaCha20Blocks(absl::MakeConstSpan(jobs, njobs));
    // The short bodies' tags, in lanes (a MAC input too long for its
    // buffer, from long associated data, by ComputeTag alone).
    std::size_t ntags = 0;
    for (std::size_t i = 0; i < count; ++i) {
      if (blocks[i] == 0) continue;
      const std::string& body = *bodies[start + i].body;
      const std::size_t n = body.size() - kNonce - kTag;
      const auto* c = reinterpret_cast<const unsigned char*>(body.data()) + kNonce;
      const std::size_t total =
          MacInput(bodies[start + i].associated, c, n, mac_inputs[i], sizeof mac_inputs[i]);
      if (total == 0) {
        ComputeTag(ks[i], bodies[start + i].associated, c, n, tags[i]);
      } else {
        tag_jobs[ntags++] = internal::Poly1305Job{ks[i], mac_inputs[i], total, tags[i]};
      }
    }
    internal::Poly1305Tags(absl::MakeConstSpan(tag_jobs, ntags));
    absl::Status status;
    std::size_t i = 0;
    for (; i < count && status.ok(); ++i) {
      std::string& body = *bodies[start + i].body;
      const std::string_view associated = bodies[start + i].associated;
      if (blocks[i] == 0) {
        status = OpenInPlace(body, associated);
      } else if (const std::size_t n = body.size() - kNonce - kTag;
                 OpenShortTagged(reinterpret_cast<unsigned char*>(body.data()), n, ks[i],
                                 tags[i])) {
        body.resize(n);
      } else {
        status = AuthenticationError();
      }
    }
    for (std::size_t j = 0; j < count; ++j) {
      if (blocks[j] > 0) sodium_memzero(ks[j], 64 * blocks[j]);
    }
    sodium_memzero(subkeys, sizeof subkeys);
    if (!status.ok()) {
      if (failed != nullptr) *failed = start + i - 1;
      return status;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> BodyCipher::Open(std::string_view sealed,
                                             std::string_view associated) const {
  std::string body(sealed);
  COURIER_RETURN_IF_ERROR(OpenInPlace(body, associated));
  return body;
}

absl::StatusOr<std::unique_ptr<MessageStore>> OpenEncryptingStore(
    std::unique_ptr<MessageStore> inner, std::string_view key) {
  if (inner == nullptr) return absl::InvalidArgumentError("no store to wrap");
  COURIER_ASSIGN_OR_RETURN(BodyCipher cipher, BodyCipher::Create(key));
  return std::unique_ptr<MessageStore>(new EncryptingStore(std::move(inner), std::move(cipher)));
}

absl::StatusOr<std::string> DeriveStorageKey(std::string_view secret) {
  COURIER_RETURN_IF_ERROR(InitSodium());
  if (secret.size() < kStorageKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("storage secret must be at least ", kStorageKeyBytes, " bytes, got ",
                     secret.size()));
  }
  std::string key(kStorageKeyBytes, '\0');
  static constexpr char kContext[] = "courier storage key v1";
  crypto_generichash(reinterpret_cast<unsigned char*>(key.data()), key.size(),
                     reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                     reinterpret_cast<const unsigned char*>(kContext), sizeof(kContext) - 1);
  return key;
}

}  // namespace courier
