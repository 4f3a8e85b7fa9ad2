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

// A MessageStore that forwards every call to another one, its target: the
// base of test doubles and decorators that change a few calls and keep the
// rest (leveldb's EnvWrapper). Used as it is, it is a store that passes
// everything through: a borrowed store given where an owned one is wanted
// (OpenEncryptingStore over a store that outlives an engine).
//
// Every virtual of MessageStore (Group and GroupsOf included) forwards to
// target() with the same arguments and returns its result unchanged; the
// wrapper adds no state and no checks. A subclass overrides what it changes
// and calls MessageStoreWrapper::<Method> (or target()) for the rest. A
// virtual added to MessageStore is forwarded here, once
// (tests/memory/message_store_wrapper_test.cc checks every one).
//
// Ownership: borrows the target. REQUIRES: `target` outlives the wrapper.
// Thread-safety: the target's (the wrapper itself holds no state); a
//   subclass states its own.
// Blocking: the target's.
class COURIER_EXPORT MessageStoreWrapper : public MessageStore {
 public:
  explicit MessageStoreWrapper(MessageStore& target) : target_(target) {}

  // The store every call forwards to.
  MessageStore& target() const { return target_; }

  std::vector<absl::StatusOr<WriteResult>> Write(absl::Span<const WriteOp> ops) override {
    return target_.Write(ops);
  }
  void Prepare(WriteOp& op) override { target_.Prepare(op); }
  // A subclass that changes Write must also change these two (or answer
  // false to StagesWrites): a store that stages writes is written through
  // WriteStaged, not Write, by the engine's commit queue.
  bool StagesWrites() const override { return target_.StagesWrites(); }
  StagedWrite WriteStaged(absl::Span<const WriteOp> ops) override {
    return target_.WriteStaged(ops);
  }
  absl::StatusOr<std::vector<Event>> Fetch(const UserId& user, Seq after,
                                           std::size_t limit) override {
    return target_.Fetch(user, after, limit);
  }
  absl::StatusOr<Seq> Head(const UserId& user) override { return target_.Head(user); }
  absl::StatusOr<Seq> Cursor(const UserId& user, const DeviceId& device) override {
    return target_.Cursor(user, device);
  }
  absl::StatusOr<MessageStatus> Status(const UserId& recipient, const MessageId& id) override {
    return target_.Status(recipient, id);
  }
  absl::StatusOr<std::size_t> Prune(const PruneOptions& options) override {
    return target_.Prune(options);
  }
  absl::StatusOr<std::size_t> DeleteInbox(const UserId& user) override {
    return target_.DeleteInbox(user);
  }
  absl::StatusOr<GroupRecord> Group(const GroupId& id) override { return target_.Group(id); }
  absl::StatusOr<std::vector<GroupRecord>> GroupsOf(const UserId& user) override {
    return target_.GroupsOf(user);
  }
  absl::Status Ping() override { return target_.Ping(); }

 private:
  MessageStore& target_;
};

// A MessageStoreWrapper that fails on command: the test double for "the
// store did not commit". A failed call does not reach the target: a failed
// Write stores nothing, and each of its ops carries the failure. Thread-safe
// (when the target is, as every MessageStore is).
class COURIER_EXPORT FaultInjectingStore final : public MessageStoreWrapper {
 public:
  // REQUIRES: `target` outlives this wrapper.
  explicit FaultInjectingStore(MessageStore& target) : MessageStoreWrapper(target) {}

  // The next `n` calls of any method fail with kUnavailable, after `skip`
  // calls that succeed (the leveldb ErrorEnv / beast fail_count pattern).
  void FailAfter(std::uint64_t skip, std::uint64_t n = 1);
  // Every call fails while `down` is true.
  void SetDown(bool down);
  // Calls of any method so far, failed ones included.
  std::uint64_t calls() const;
  // Calls failed so far.
  std::uint64_t failures() const;

  std::vector<absl::StatusOr<WriteResult>> Write(absl::Span<const WriteOp> ops) override;
  // Never staged: every write goes through Write, where the faults are.
  bool StagesWrites() const override { return false; }
  StagedWrite WriteStaged(absl::Span<const WriteOp> ops) override {
    return MessageStore::WriteStaged(ops);
  }
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
  // Counts the call; the injected failure when this call is to fail.
  absl::Status MaybeFail();

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
