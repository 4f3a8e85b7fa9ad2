// device_session_groups.cc: the group ops of a DeviceSession (courier/engine.h
// Session::SendToGroup, ChangeGroup, ListGroups, Typing). Like Send, each
// validates through its SessionHost, queues its op on the commit queue and
// answers from the completion, on the session's own executor; store reads
// (a repeated create, a listing) run on the delivery executor.
#include <utility>

#include "absl/strings/str_cat.h"
#include "device_session.h"
#include "group_id.h"

namespace courier::internal {
namespace {

constexpr absl::string_view kNotStored = "nothing was stored, retry with the same cid";
constexpr absl::string_view kNotRead = "the groups could not be read, ask again";

// The wire code of a group refusal, if the client is told it as such.
std::optional<ErrorCode> WireCodeOf(GroupError refusal) {
  switch (refusal) {
    case GroupError::kUnknownGroup: return ErrorCode::kUnknownGroup;
    case GroupError::kNotMember: return ErrorCode::kNotMember;
    case GroupError::kNotAdmin: return ErrorCode::kNotAdmin;
    case GroupError::kGroupFull: return ErrorCode::kGroupFull;
    case GroupError::kTooManyGroups: return ErrorCode::kTooManyGroups;
    case GroupError::kGroupExists: break;  // a create's repeat is answered before this
  }
  return std::nullopt;
}

// The ErrorFrame that answers a group op the store refused (or failed);
// `retry` says what to do about a failure that is not a refusal.
ErrorFrame GroupOpError(const absl::Status& status, std::string cid,
                        absl::string_view retry = kNotStored) {
  ErrorFrame error;
  error.cid = std::move(cid);
  error.message = std::string(status.message());
  if (std::optional<GroupError> refusal = GroupErrorOf(status)) {
    if (std::optional<ErrorCode> code = WireCodeOf(*refusal)) {
      error.code = *code;
      return error;
    }
  }
  if (absl::IsInvalidArgument(status)) {
    error.code = ErrorCode::kBadFrame;
    return error;
  }
  error.code = ErrorCode::kUnavailable;
  error.message = absl::StrCat(retry, ": ", status.message());
  return error;
}

}  // namespace

void DeviceSession::SendToGroup(std::string cid, GroupId group, std::string body) {
  if (closed()) return;
  GroupSendOp op = SendOp(&GroupSendOp::group, std::move(group), cid, std::move(body));
  if (AnsweredByCheck(host_->CheckGroupSend(op.sender, cid, op.group, op.body.size()))) return;
  SubmitSend(std::move(op), std::move(cid), &DeviceSession::AnswerGroupSend);
}

void DeviceSession::AnswerGroupSend(std::string cid, absl::StatusOr<GroupSendResult> sent) {
  if (!sent.ok()) {
    Emit({GroupOpError(sent.status(), std::move(cid))});
    return;
  }
  host_->OnGroupSent(user_.str(), cid, *sent);
  SentFrame frame{std::move(cid), sent->id, sent->ts, sent->duplicate, {}};
  if (!sent->duplicate) frame.skipped = std::move(sent->skipped);
  Emit({std::move(frame)});
}

void DeviceSession::ChangeGroup(std::string cid, GroupAction action, GroupId group,
                                std::vector<UserId> members, std::string name) {
  if (closed()) return;
  GroupChangeOp op;
  op.action = action;
  op.actor = user_.str();
  op.group = action == GroupAction::kCreate ? DeriveGroupId(op.actor, cid) : std::move(group);
  op.members = std::move(members);
  op.name = std::move(name);
  op.id = host_->NewMessageId();
  op.ts = host_->Now();
  op.limits = GroupLimitsOf(host_->options().limits);
  if (std::optional<ErrorFrame> error = host_->CheckGroupChange(cid, op)) {
    Emit({*std::move(error)});
    return;
  }
  GroupId id = op.group;
  host_->Submit(std::move(op), [self = shared_from_this(), cid = std::move(cid), action,
                                id = std::move(id)](absl::StatusOr<WriteResult> r) mutable {
    absl::StatusOr<GroupChangeResult> changed = ResultAs<GroupChangeResult>(std::move(r));
    if (changed.ok()) {
      self->host_->OnGroupChanged(id, *changed);
      const std::uint64_t version = changed->group.has_value() ? changed->group->version : 0;
      self->Emit({GroupOkFrame{std::move(cid), std::move(id), changed->changed, false, version}});
      return;
    }
    const absl::Status& status = changed.status();
    if (action == GroupAction::kCreate && GroupErrorOf(status) == GroupError::kGroupExists) {
      self->host_->delivery().Post([self, cid = std::move(cid), id = std::move(id)]() mutable {
        self->AnswerRepeatedCreate(std::move(cid), std::move(id));
      });
      return;
    }
    self->Emit({GroupOpError(status, std::move(cid))});
  }, Home());
}

void DeviceSession::AnswerRepeatedCreate(std::string cid, GroupId group) {
  if (closed()) return;
  absl::StatusOr<GroupRecord> record = host_->store().Group(group);
  if (record.ok() && record->created_by == user_.view()) {
    host_->RefundRate(user_.str());
    Emit({GroupOkFrame{std::move(cid), std::move(group), false, true, record->version}});
    return;
  }
  ErrorFrame error;
  error.cid = std::move(cid);
  if (record.ok()) {
    // Another user's create derived the same id: not this cid's group.
    error.code = ErrorCode::kBadFrame;
    error.message = "this cid cannot create a group; use another cid";
  } else if (GroupErrorOf(record.status()) == GroupError::kUnknownGroup) {
    // The group was created and then deleted (its last member left) between
    // the refused create and this read: a retry creates it anew.
    error.code = ErrorCode::kUnavailable;
    error.message = "the group changed meanwhile; retry with the same cid";
  } else {
    error = GroupOpError(record.status(), std::move(error.cid));
  }
  Emit({std::move(error)});
}

void DeviceSession::ListGroups(std::string cid, std::optional<GroupId> group) {
  if (closed()) return;
  if (absl::Status s = ValidateClientId(cid); !s.ok()) {
    Emit({ErrorFrame{ErrorCode::kBadFrame, std::string(s.message()), std::move(cid), {}}});
    return;
  }
  if (group.has_value() && !ValidateGroupId(*group).ok()) {
    Emit({ErrorFrame{ErrorCode::kUnknownGroup, "no such group", std::move(cid), {}}});
    return;
  }
  host_->delivery().Post([self = shared_from_this(), cid = std::move(cid),
                          group = std::move(group)]() mutable {
    self->AnswerListGroups(std::move(cid), std::move(group));
  });
}

void DeviceSession::AnswerListGroups(std::string cid, std::optional<GroupId> group) {
  if (closed()) return;
  GroupsFrame frame;
  frame.cid = std::move(cid);
  if (!group.has_value()) {
    absl::StatusOr<std::vector<GroupRecord>> all = host_->store().GroupsOf(user_.str());
    if (!all.ok()) {
      Emit({GroupOpError(all.status(), std::move(frame.cid), kNotRead)});
      return;
    }
    frame.groups = *std::move(all);
    Emit({std::move(frame)});
    return;
  }
  absl::StatusOr<GroupRecord> record = host_->store().Group(*group);
  if (!record.ok()) {
    Emit({GroupOpError(record.status(), std::move(frame.cid), kNotRead)});
    return;
  }
  if (record->Find(user_) == nullptr) {
    Emit({ErrorFrame{ErrorCode::kNotMember, absl::StrCat("you are not a member of ", *group),
                     std::move(frame.cid), {}}});
    return;
  }
  frame.groups.push_back(*std::move(record));
  Emit({std::move(frame)});
}

void DeviceSession::Typing(UserId to, GroupId group, bool on) {
  if (closed()) return;
  host_->Typing(user_.str(), to, group, on);
}

}  // namespace courier::internal
