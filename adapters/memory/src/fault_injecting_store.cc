// FaultInjectingStore: a MessageStoreWrapper that fails on command, so that
// tests can walk every "the store did not commit" path (the leveldb ErrorEnv
// / beast fail_count pattern).

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "courier/memory.h"
#include "courier/status.h"
#include "courier/sync.h"

namespace courier::memory {

void FaultInjectingStore::FailAfter(std::uint64_t skip, std::uint64_t n) {
  MutexLock lock(&mu_);
  skip_ = skip;
  fail_ = n;
}

void FaultInjectingStore::SetDown(bool down) {
  MutexLock lock(&mu_);
  down_ = down;
}

std::uint64_t FaultInjectingStore::calls() const {
  MutexLock lock(&mu_);
  return calls_;
}

std::uint64_t FaultInjectingStore::failures() const {
  MutexLock lock(&mu_);
  return failures_;
}

absl::Status FaultInjectingStore::MaybeFail() {
  MutexLock lock(&mu_);
  ++calls_;
  bool fail = down_;
  if (!fail && fail_ > 0) {
    if (skip_ > 0) {
      --skip_;
    } else {
      --fail_;
      fail = true;
    }
  }
  if (!fail) return absl::OkStatus();
  ++failures_;
  return absl::UnavailableError(
      absl::StrCat("injected fault (call ", calls_, ", failure ", failures_, ")"));
}

// Each call counts, may fail, and otherwise forwards (MessageStoreWrapper).

std::vector<absl::StatusOr<WriteResult>> FaultInjectingStore::Write(
    absl::Span<const WriteOp> ops) {
  if (absl::Status s = MaybeFail(); !s.ok()) {
    return std::vector<absl::StatusOr<WriteResult>>(ops.size(), s);
  }
  return MessageStoreWrapper::Write(ops);
}

absl::StatusOr<std::vector<Event>> FaultInjectingStore::Fetch(const UserId& user, Seq after,
                                                              std::size_t limit) {
  COURIER_RETURN_IF_ERROR(MaybeFail());
  return MessageStoreWrapper::Fetch(user, after, limit);
}

absl::StatusOr<Seq> FaultInjectingStore::Head(const UserId& user) {
  COURIER_RETURN_IF_ERROR(MaybeFail());
  return MessageStoreWrapper::Head(user);
}

absl::StatusOr<Seq> FaultInjectingStore::Cursor(const UserId& user, const DeviceId& device) {
  COURIER_RETURN_IF_ERROR(MaybeFail());
  return MessageStoreWrapper::Cursor(user, device);
}

absl::StatusOr<MessageStatus> FaultInjectingStore::Status(const UserId& recipient,
                                                          const MessageId& id) {
  COURIER_RETURN_IF_ERROR(MaybeFail());
  return MessageStoreWrapper::Status(recipient, id);
}

absl::StatusOr<std::size_t> FaultInjectingStore::Prune(const PruneOptions& options) {
  COURIER_RETURN_IF_ERROR(MaybeFail());
  return MessageStoreWrapper::Prune(options);
}

absl::StatusOr<std::size_t> FaultInjectingStore::DeleteInbox(const UserId& user) {
  COURIER_RETURN_IF_ERROR(MaybeFail());
  return MessageStoreWrapper::DeleteInbox(user);
}

absl::StatusOr<GroupRecord> FaultInjectingStore::Group(const GroupId& id) {
  COURIER_RETURN_IF_ERROR(MaybeFail());
  return MessageStoreWrapper::Group(id);
}

absl::StatusOr<std::vector<GroupRecord>> FaultInjectingStore::GroupsOf(const UserId& user) {
  COURIER_RETURN_IF_ERROR(MaybeFail());
  return MessageStoreWrapper::GroupsOf(user);
}

absl::Status FaultInjectingStore::Ping() {
  COURIER_RETURN_IF_ERROR(MaybeFail());
  return MessageStoreWrapper::Ping();
}

}  // namespace courier::memory
