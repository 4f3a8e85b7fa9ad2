// courier/memory.h: in-memory implementations of every core interface.
//
// For tests and benchmarks, and for a single process that needs no
// durability. Everything here is real library code with the same semantics as
// the durable adapters (the conformance suites run against it).
//
// Ownership: factories return std::unique_ptr owned by the caller. A store
//   that borrows a Clock& requires it to outlive the store.
// Thread-safety: every class here is safe for concurrent use unless its
//   comment says otherwise.
// Blocking: nothing here blocks on I/O.
#ifndef COURIER_ADAPTERS_MEMORY_MEMORY_H_
#define COURIER_ADAPTERS_MEMORY_MEMORY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "courier/export.h"
#include "courier/sync.h"
#include "courier/account_store.h"
#include "courier/clock.h"
#include "courier/message_store.h"
#include "courier/presence_store.h"
#include "courier/transport.h"

namespace courier::memory {

COURIER_EXPORT std::unique_ptr<MessageStore> OpenMessageStore();
COURIER_EXPORT std::unique_ptr<AccountStore> OpenAccountStore();

// Presence in this process. Registrations that are not refreshed by
// Heartbeat within `ttl_ms` (by `clock`) expire. Several engines sharing one
// presence store in one process form a cluster: Publish calls the handler
// subscribed under the target node name, on a thread of the store's own
// (never inside Publish).
COURIER_EXPORT std::unique_ptr<PresenceStore> OpenPresenceStore(const Clock& clock, TimeMs ttl_ms = 30'000);

// A MessageStore that forwards to `inner` and fails on command: the test
// double for "the store did not commit". Thread-safe.
class COURIER_EXPORT FaultInjectingStore final : public MessageStore {
 public:
  // REQUIRES: `inner` outlives this wrapper.
  explicit FaultInjectingStore(MessageStore& inner) : inner_(inner) {}

  // The next `n` calls of any method fail with kUnavailable, after `skip`
  // calls that succeed (the leveldb ErrorEnv / beast fail_count pattern).
  void FailAfter(std::uint64_t skip, std::uint64_t n = 1);
  // Every call fails while `down` is true.
  void SetDown(bool down);
  std::uint64_t calls() const;
  std::uint64_t failures() const;

  std::vector<absl::StatusOr<WriteResult>> Write(absl::Span<const WriteOp> ops) override;
  absl::StatusOr<std::vector<Event>> Fetch(const UserId& user, Seq after,
                                           std::size_t limit) override;
  absl::StatusOr<Seq> Head(const UserId& user) override;
  absl::StatusOr<Seq> Cursor(const UserId& user, const DeviceId& device) override;
  absl::StatusOr<MessageStatus> Status(const UserId& recipient, const MessageId& id) override;
  absl::StatusOr<std::size_t> Prune(const PruneOptions& options) override;
  absl::StatusOr<std::size_t> DeleteInbox(const UserId& user) override;
  absl::StatusOr<GroupRecord> Group(const GroupId& id) override;
  absl::StatusOr<std::vector<GroupRecord>> GroupsOf(const UserId& user) override;
  absl::Status Ping() override;

 private:
  absl::Status MaybeFail();
  MessageStore& inner_;
  mutable Mutex mu_;
  std::uint64_t skip_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t fail_ ABSL_GUARDED_BY(mu_) = 0;
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  std::uint64_t calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t failures_ ABSL_GUARDED_BY(mu_) = 0;
};

// A Transport that records every frame and close, for tests and for drivers
// that run the engine without sockets. Thread-safe.
class COURIER_EXPORT RecordingTransport final : public Transport {
 public:
  void Send(std::vector<ServerFrame> frames) override;
  void Close(CloseCode code, std::string_view reason) override;

  // Removes and returns the frames received so far.
  std::vector<ServerFrame> Take();
  bool closed() const;
  std::optional<CloseCode> close_code() const;
  std::size_t frame_count() const;

 private:
  mutable Mutex mu_;
  std::vector<ServerFrame> frames_ ABSL_GUARDED_BY(mu_);
  std::optional<CloseCode> close_ ABSL_GUARDED_BY(mu_);
  std::size_t total_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace courier::memory

#endif  // COURIER_ADAPTERS_MEMORY_MEMORY_H_
