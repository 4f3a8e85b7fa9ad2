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

// The associated data of a kMessage event in `user`'s inbox.
std::string AssociatedDataOf(const Event& e, const UserId& user) {
  return e.group.empty() ? AssociatedData(e.id, user) : GroupAssociatedData(e.id, e.group);
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

  absl::StatusOr<std::vector<Event>> Fetch(const UserId& user, Seq after,
                                           std::size_t limit) override {
    COURIER_ASSIGN_OR_RETURN(std::vector<Event> events, inner_->Fetch(user, after, limit));
    for (Event& e : events) {
      if (e.kind != EventKind::kMessage) continue;
      auto plain = cipher_.Open(e.body, AssociatedDataOf(e, user));
      if (!plain.ok()) {
        return absl::DataLossError(absl::StrCat("inbox of ", user, " seq ", e.seq, ": ",
                                                plain.status().message()));
      }
      e.body = *std::move(plain);
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
    for (Appended& a : *list) {
      if (a.event.kind != EventKind::kMessage) continue;
      if (plaintext != nullptr && a.event.id == *id) {
        a.event.body = *plaintext;
        continue;
      }
      auto plain = cipher_.Open(a.event.body, AssociatedDataOf(a.event, a.user));
      if (!plain.ok()) {
        slot = absl::DataLossError(plain.status().message());
        return;
      }
      a.event.body = *std::move(plain);
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
  return BodyCipher(std::string(key));
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

}  // namespace

std::string BodyCipher::Seal(std::string_view plaintext, std::string_view associated) const {
  constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  constexpr std::size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
  std::string out(kNonce + plaintext.size() + kTag, '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  NextNonce(p);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      p + kNonce, &written, reinterpret_cast<const unsigned char*>(plaintext.data()),
      plaintext.size(), reinterpret_cast<const unsigned char*>(associated.data()),
      associated.size(), nullptr, p, reinterpret_cast<const unsigned char*>(key_.data()));
  out.resize(kNonce + written);
  return out;
}

absl::StatusOr<std::string> BodyCipher::Open(std::string_view sealed,
                                             std::string_view associated) const {
  constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  constexpr std::size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
  if (sealed.size() < kNonce + kTag) {
    return absl::DataLossError("stored body is too short to be sealed");
  }
  std::string out(sealed.size() - kNonce - kTag, '\0');
  const auto* p = reinterpret_cast<const unsigned char*>(sealed.data());
  unsigned long long written = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(out.data()), &written, nullptr, p + kNonce,
          sealed.size() - kNonce, reinterpret_cast<const unsigned char*>(associated.data()),
          associated.size(), p, reinterpret_cast<const unsigned char*>(key_.data())) != 0) {
    return absl::DataLossError("stored body failed authentication (wrong key or tampered)");
  }
  out.resize(written);
  return out;
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
