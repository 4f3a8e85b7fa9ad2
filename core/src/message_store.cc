#include "courier/message_store.h"

#include <algorithm>
#include <cstdint>
#include <chrono>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "courier/group.h"
#include "courier/status.h"
#include "utf8.h"

namespace courier {

namespace {

// The kMessage event of an AppendOp or a GroupSendOp (same field names).
template <typename Op>
Event MessageEvent(const Op& op) {
  Event e;
  e.kind = EventKind::kMessage;
  e.id = op.id;
  e.peer = op.sender;
  e.body = op.body;
  e.status = MessageStatus::kSent;
  e.ts = op.ts;
  return e;
}

}  // namespace

Event MessageEventOf(const AppendOp& op) { return MessageEvent(op); }

Event MessageEventOf(const GroupSendOp& op) {
  Event e = MessageEvent(op);
  e.group = op.group;
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

absl::Status CheckAppend(const AppendOp& op, Seq head, Seq max_cursor, bool id_taken) {
  const Seq undelivered = head - max_cursor;
  if (undelivered >= op.max_undelivered) {
    return QueueFullError(op.recipient, undelivered, op.max_undelivered);
  }
  if (id_taken) return MessageIdTakenError(op.recipient, op.id);
  return absl::OkStatus();
}

absl::Status AckBeyondHeadError(const AckOp& op, Seq head) {
  return absl::OutOfRangeError(
      absl::StrCat("ack of seq ", op.seq, " beyond the head ", head, " of ", op.user));
}

Event ReceiptEventOf(const MessageId& id, const UserId& by, MessageStatus status, TimeMs ts) {
  Event e;
  e.kind = EventKind::kReceipt;
  e.id = id;
  e.peer = by;
  e.status = status;
  e.ts = ts;
  return e;
}

void MessageStore::Prepare(WriteOp&) {}

bool MessageStore::StagesWrites() const { return false; }

MessageStore::StagedWrite MessageStore::WriteStaged(absl::Span<const WriteOp> ops) {
  return StagedWrite{Write(ops), nullptr};
}

std::vector<absl::StatusOr<WriteResult>> ResultsAfterSync(MessageStore::StagedWrite staged,
                                                          const absl::Status& synced) {
  if (synced.ok()) return std::move(staged.results);
  return std::vector<absl::StatusOr<WriteResult>>(staged.results.size(), synced);
}

std::vector<absl::StatusOr<WriteResult>> WriteAndSync(MessageStore& store,
                                                      absl::Span<const WriteOp> ops) {
  MessageStore::StagedWrite staged = store.WriteStaged(ops);
  const absl::Status synced = staged.sync != nullptr ? staged.sync->Sync() : absl::OkStatus();
  return ResultsAfterSync(std::move(staged), synced);
}

absl::StatusOr<GroupRecord> MessageStore::Group(const GroupId& id) {
  return absl::UnimplementedError(absl::StrCat("this store keeps no groups (asked for ", id, ")"));
}

absl::StatusOr<std::vector<GroupRecord>> MessageStore::GroupsOf(const UserId& user) {
  return absl::UnimplementedError(
      absl::StrCat("this store keeps no groups (asked for those of ", user, ")"));
}

namespace {

absl::Status ValidateBody(const std::string& body) {
  if (body.size() <= kMaxStoredBodyBytes) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("body of ", body.size(), " bytes exceeds ", kMaxStoredBodyBytes));
}

absl::Status ValidateGroupChangeOp(const GroupChangeOp& op) {
  for (absl::Status s : {ValidateName("actor", op.actor), ValidateGroupId(op.group),
                         ValidateMessageId(op.id)}) {
    if (!s.ok()) return s;
  }
  const GroupAction a = op.action;
  if (!ParseGroupAction(GroupActionName(a)).has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown group action ", static_cast<int>(a)));
  }
  if (op.members.size() > kMaxGroupMembers) {
    return absl::InvalidArgumentError(
        absl::StrCat(op.members.size(), " members in one group op (at most ", kMaxGroupMembers,
                     ")"));
  }
  const bool lists = a == GroupAction::kAdd || a == GroupAction::kRemove;
  if (lists && op.members.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("group ", std::string(GroupActionName(a)), " needs at least one member"));
  }
  if ((a == GroupAction::kLeave || a == GroupAction::kRename) && !op.members.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("group ", std::string(GroupActionName(a)), " takes no members"));
  }
  for (const UserId& m : op.members) {
    if (absl::Status s = ValidateName("member", m); !s.ok()) return s;
  }
  if (a == GroupAction::kCreate || a == GroupAction::kRename) {
    const std::size_t max = std::min(op.limits.max_name_bytes, kMaxGroupNameBytes);
    if (op.name.empty() || op.name.size() > max) {
      return absl::InvalidArgumentError(
          absl::StrCat("group name must be 1-", max, " bytes, got ", op.name.size()));
    }
    if (!internal::IsDisplayText(op.name)) {
      return absl::InvalidArgumentError(
          "group name must be valid UTF-8 without control characters");
    }
  }
  if (op.limits.max_members < 1 || op.limits.max_members > kMaxGroupMembers) {
    return absl::InvalidArgumentError(absl::StrCat("max_members must be 1-", kMaxGroupMembers,
                                                   ", got ", op.limits.max_members));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateFetch(const UserId& user, std::size_t limit) {
  COURIER_RETURN_IF_ERROR(ValidateName("user", user));
  if (limit == 0) return absl::InvalidArgumentError("fetch limit must be at least 1");
  return absl::OkStatus();
}

absl::Status ValidateWriteOp(const WriteOp& op) {
  if (const auto* a = std::get_if<AppendOp>(&op)) {
    for (absl::Status s : {ValidateName("sender", a->sender), ValidateName("recipient", a->recipient),
                           ValidateClientId(a->cid), ValidateMessageId(a->id)}) {
      if (!s.ok()) return s;
    }
    return ValidateBody(a->body);
  }
  if (const auto* g = std::get_if<GroupSendOp>(&op)) {
    for (absl::Status s : {ValidateName("sender", g->sender), ValidateClientId(g->cid),
                           ValidateGroupId(g->group), ValidateMessageId(g->id)}) {
      if (!s.ok()) return s;
    }
    return ValidateBody(g->body);
  }
  if (const auto* g = std::get_if<GroupChangeOp>(&op)) return ValidateGroupChangeOp(*g);
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
  if (const auto* r = std::get_if<ReadOp>(&op)) return ValidateName("user", r->user);
  return absl::InvalidArgumentError("unknown write op");
}

std::vector<absl::StatusOr<WriteResult>> WriteRetryingConflicts(MessageStore& store,
                                                                absl::Span<const WriteOp> ops,
                                                                int max_attempts,
                                                                std::uint64_t* reruns) {
  std::vector<absl::StatusOr<WriteResult>> results = store.Write(ops);
  if (results.size() != ops.size()) return results;  // the caller judges that
  std::vector<std::size_t> conflicted;  // indexes into ops and results
  for (int attempt = 1; attempt < max_attempts; ++attempt) {
    conflicted.clear();
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (absl::IsAborted(results[i].status())) conflicted.push_back(i);
    }
    if (conflicted.empty()) break;
    thread_local std::minstd_rand jitter{std::random_device{}()};
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(1, 5 * attempt)(jitter)));
    std::vector<WriteOp> again;
    again.reserve(conflicted.size());
    for (std::size_t i : conflicted) again.push_back(ops[i]);
    std::vector<absl::StatusOr<WriteResult>> rerun = store.Write(again);
    if (reruns != nullptr) ++*reruns;
    if (rerun.size() != again.size()) {
      rerun.assign(again.size(),
                   absl::InternalError("store returned a result count unlike its batch"));
    }
    for (std::size_t k = 0; k < conflicted.size(); ++k) {
      results[conflicted[k]] = std::move(rerun[k]);
    }
  }
  return results;
}

}  // namespace courier
