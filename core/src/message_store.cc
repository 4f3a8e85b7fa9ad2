#include "courier/message_store.h"

#include <cstdint>
#include <limits>

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

absl::Status ValidateWriteOp(const WriteOp& op) {
  if (const auto* a = std::get_if<AppendOp>(&op)) {
    for (absl::Status s : {ValidateName("sender", a->sender), ValidateName("recipient", a->recipient),
                           ValidateClientId(a->cid), ValidateMessageId(a->id)}) {
      if (!s.ok()) return s;
    }
    if (a->body.size() > kMaxStoredBodyBytes) {
      return absl::InvalidArgumentError(absl::StrCat("body of ", a->body.size(),
                                                     " bytes exceeds ", kMaxStoredBodyBytes));
    }
    return absl::OkStatus();
  }
  if (const auto* a = std::get_if<AttachOp>(&op)) {
    if (absl::Status s = ValidateName("user", a->user); !s.ok()) return s;
    return ValidateName("device", a->device);
  }
  if (const auto* a = std::get_if<AckOp>(&op)) {
    if (absl::Status s = ValidateName("user", a->user); !s.ok()) return s;
    if (absl::Status s = ValidateName("device", a->device); !s.ok()) return s;
    if (a->seq > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return absl::OutOfRangeError(absl::StrCat("ack of seq ", a->seq, " beyond the head"));
    }
    return absl::OkStatus();
  }
  return ValidateName("user", std::get<ReadOp>(op).user);
}

}  // namespace courier
