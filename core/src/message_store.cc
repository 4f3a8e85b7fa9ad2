#include "courier/message_store.h"

#include "absl/strings/str_cat.h"

namespace courier {

Event MessageEventOf(const AppendOp& op) {
  Event e;
  e.kind = EventKind::kMessage;
  e.id = op.id;
  e.peer = op.sender;
  e.body = op.body;
  e.status = MessageStatus::kSent;
  e.ts = op.ts;
  return e;
}

absl::Status QueueFullError(const UserId& recipient, std::uint64_t undelivered,
                            std::uint64_t limit) {
  return absl::ResourceExhaustedError(absl::StrCat("queue_full: ", recipient, " has ", undelivered,
                                                   " undelivered events (limit ", limit, ")"));
}

absl::Status MessageIdTakenError(const UserId& recipient, const MessageId& id) {
  return absl::AlreadyExistsError(
      absl::StrCat("message id ", id, " already used in the inbox of ", recipient));
}

}  // namespace courier
