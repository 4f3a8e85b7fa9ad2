// courier/group.h: group conversations, as the inbox model sees them.
//
// A group is a named set of members, each a member or an admin. It has no
// inbox of its own: a message to a group is fanned out into the inbox of
// every member (the sender's own inbox included, so that the sender's other
// devices see it), in ONE store transaction, with one message id. Every
// guarantee of a 1:1 message (stored before `sent`, ordered per inbox, every
// device, receipts exactly once) therefore holds per member. A change of the
// membership (created, members added or removed, a member left, renamed) is
// itself an inbox event (EventKind::kGroupChange) appended to every member
// concerned in the same transaction as the change, so a device that
// reconnects sees who joined and who left at the right place among the
// messages.
//
// WHERE THE RULES LIVE. The store keeps the group record and an index of
// the groups of each user, and applies changes and sends inside its Write
// transaction (courier/message_store.h: GroupChangeOp, GroupSendOp). What a
// change does is decided here, once, by PlanGroupChange and
// GroupSendRecipients, which every store calls inside its transaction with
// the record it read (through PlanAndWriteGroupChange, courier/
// message_store.h, which also says what a store writes for a plan); stores
// add no rule of their own. Which members a send skips is FanOutGroupSend
// (called by sqlite and rocksdb; memory, postgres and mongo apply the same
// rule inside their own batch code).
//
// Thread-safety: plain values and pure functions.
// Blocking: nothing here blocks.
#ifndef COURIER_CORE_GROUP_H_
#define COURIER_CORE_GROUP_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "courier/export.h"
#include "courier/types.h"

namespace courier {

// A group's id (GroupId, courier/types.h) is server-generated: 1-64 bytes of
// [A-Za-z0-9_-]; ValidateGroupId checks it (kInvalidArgument). Users never
// choose it; they choose the display name (GroupRecord::name).
COURIER_EXPORT absl::Status ValidateGroupId(std::string_view id);

enum class GroupRole : std::uint8_t {
  kMember = 0,
  kAdmin = 1,
};
COURIER_EXPORT std::string_view GroupRoleName(GroupRole role);  // "member", "admin"

struct GroupMember {
  UserId user;
  GroupRole role = GroupRole::kMember;
  TimeMs since = 0;  // when the member joined (the change's ts)

  friend bool operator==(const GroupMember&, const GroupMember&) = default;
};

// A group as stored. `members` is sorted by user and never empty: a group
// whose last member leaves is deleted.
struct COURIER_EXPORT GroupRecord {
  GroupId id;
  std::string name;  // display name, 1..GroupLimits::max_name_bytes of UTF-8
  UserId created_by;
  TimeMs created = 0;
  // Incremented by every change that alters the record (1 after create).
  std::uint64_t version = 0;
  std::vector<GroupMember> members;

  // The member entry of `user`, or null.
  const GroupMember* Find(std::string_view user) const;

  friend bool operator==(const GroupRecord&, const GroupRecord&) = default;
};

// Limits on groups; the engine copies them from courier::Limits into each op
// so that every store applies the same ones.
struct GroupLimits {
  std::size_t max_members = 256;        // per group; at most kMaxGroupMembers
  std::size_t max_groups_per_user = 256;
  std::size_t max_name_bytes = 128;
};
inline constexpr std::size_t kMaxGroupMembers = 1024;
// The longest display name any limit may allow (and DecodeGroupRecord /
// DecodeGroupChange accept), whatever GroupLimits::max_name_bytes says.
inline constexpr std::size_t kMaxGroupNameBytes = 4096;

enum class GroupAction : std::uint8_t {
  kCreate = 1,  // `actor` creates the group with `members` (the actor is its admin)
  kAdd = 2,     // an admin adds `members`
  kRemove = 3,  // an admin removes `members` (not themself: that is kLeave)
  kLeave = 4,   // `actor` leaves
  kRename = 5,  // an admin sets `name`
};
COURIER_EXPORT std::string_view GroupActionName(GroupAction action);  // "create", ...
COURIER_EXPORT std::optional<GroupAction> ParseGroupAction(std::string_view name);

// What a kGroupChange event says. It travels as the event's `body`, in the
// encoding below (the stores keep it as opaque bytes), and the event's
// `peer` is the actor, `group` the group, `id` the change's id.
struct GroupChange {
  GroupAction action = GroupAction::kCreate;
  // kCreate: every member after the change, the actor first;
  // kAdd / kRemove: the users actually added / removed (never empty);
  // kLeave: the actor, and when the last admin left, the member who became
  // admin second (promoted: see PlanGroupChange);
  // kRename: empty.
  std::vector<UserId> members;
  std::string name;  // kCreate, kRename: the name after the change

  friend bool operator==(const GroupChange&, const GroupChange&) = default;
};

// The body of a kGroupChange event. A compact, versioned binary encoding;
// Decode refuses anything Encode did not produce (kDataLoss), never crashes.
COURIER_EXPORT std::string EncodeGroupChange(const GroupChange& change);
COURIER_EXPORT absl::StatusOr<GroupChange> DecodeGroupChange(std::string_view bytes);

// The record as a store keeps it (one value per group). Same promises.
COURIER_EXPORT std::string EncodeGroupRecord(const GroupRecord& record);
COURIER_EXPORT absl::StatusOr<GroupRecord> DecodeGroupRecord(std::string_view bytes);

// The refusals of group ops. Each is an absl::Status with the code below
// and a payload that GroupErrorOf reads back, so that the engine can tell
// them apart from other statuses of the same code (queue_full is also
// kResourceExhausted):
//   kUnknownGroup   kNotFound           no such group (or deleted)
//   kNotMember      kPermissionDenied   the actor (or sender) is not a member
//   kNotAdmin       kPermissionDenied   the action needs an admin
//   kGroupFull      kResourceExhausted  the change would pass max_members
//   kTooManyGroups  kResourceExhausted  a user would pass max_groups_per_user
//   kGroupExists    kAlreadyExists      kCreate of an id that exists
// A bad name, too long a name, or an empty or oversized member list is
// kInvalidArgument (ValidateWriteOp) without a payload.
enum class GroupError : std::uint8_t {
  kUnknownGroup = 1,
  kNotMember,
  kNotAdmin,
  kGroupFull,
  kTooManyGroups,
  kGroupExists,
};
COURIER_EXPORT std::string_view GroupErrorName(GroupError e);  // "unknown_group", ...
COURIER_EXPORT absl::Status MakeGroupError(GroupError e, std::string_view message);
COURIER_EXPORT std::optional<GroupError> GroupErrorOf(const absl::Status& status);

// A change, as the engine submits it (courier/message_store.h wraps it in a
// WriteOp).
struct GroupChangeOp {
  GroupAction action = GroupAction::kCreate;
  UserId actor;
  GroupId group;               // kCreate: the new id (engine-generated)
  std::vector<UserId> members; // kCreate (besides the actor), kAdd, kRemove
  std::string name;            // kCreate, kRename
  MessageId id;                // the change event's id (engine-generated)
  TimeMs ts = 0;
  GroupLimits limits;
};

// What a store does for a GroupChangeOp, decided by PlanGroupChange.
struct GroupChangePlan {
  // The record to store; nullopt: delete the record (its last member left).
  std::optional<GroupRecord> after;
  std::vector<UserId> joined;  // add (user, group) to the index of each
  std::vector<UserId> left;    // remove (user, group) from the index of each
  // Append `event` (seq 0 here: each inbox gives its own) to each of these
  // inboxes: every member after the change plus every user removed or left.
  // Empty when the op changes nothing (adding present members, removing
  // absent ones, renaming to the same name): then the store writes nothing.
  std::vector<UserId> told;
  Event event;  // kind kGroupChange, peer = actor, group, id, ts, body
};

// THE rule of a group change. `before` is the stored record of op.group
// (nullopt when there is none); `groups_of(user)` counts the groups `user`
// is a member of now (the store's index). The rules:
//   kCreate  `before` must be absent (kGroupExists). Members are the actor
//            (admin) and op.members (member role), duplicates and the actor
//            dropped; at most limits.max_members in all (kGroupFull); each
//            must stay within max_groups_per_user (kTooManyGroups).
//   kAdd     the actor must be an admin (kNotMember / kNotAdmin). Users
//            already members are skipped; the rest join as members; the
//            group must stay within max_members (kGroupFull) and each new
//            member within max_groups_per_user (kTooManyGroups).
//   kRemove  the actor must be an admin. Users that are not members are
//            skipped; the actor may not remove themself (kInvalidArgument:
//            use kLeave). Removing other admins is allowed.
//   kLeave   the actor must be a member. When the last admin leaves and
//            members remain, the member who joined earliest (ties: the
//            smallest name) becomes admin; the change names them second.
//            When the last member leaves, the group is deleted (after =
//            nullopt) and only the actor is told.
//   kRename  the actor must be an admin; the name must differ to change
//            anything.
// Every change that alters the record increments its version. A refused
// op returns its GroupError status and the store writes nothing for it.
COURIER_EXPORT absl::StatusOr<GroupChangePlan> PlanGroupChange(
    const std::optional<GroupRecord>& before, const GroupChangeOp& op,
    absl::FunctionRef<std::size_t(const UserId&)> groups_of);

// The users whose groups_of count PlanGroupChange may ask for: those `op`
// may make join (kCreate: the actor and op.members; kAdd: op.members), in
// op's order, possibly repeated; empty for the actions that add nobody. A
// store that counts ahead of planning (one query for all) counts these.
COURIER_EXPORT std::vector<UserId> UsersWhoMayJoin(const GroupChangeOp& op);

// The inboxes a send by `sender` to `group` goes to: every member, the
// sender included, in the record's order. kUnknownGroup when `group` is
// absent, kNotMember when `sender` is not a member.
COURIER_EXPORT absl::StatusOr<std::vector<UserId>> GroupSendRecipients(
    const std::optional<GroupRecord>& group, const UserId& sender);

struct GroupSendOp;      // courier/message_store.h
struct GroupSendResult;  // courier/message_store.h

// THE fan-out of a group send (the GroupSendOp rule, courier/
// message_store.h), once a store has the recipients (GroupSendRecipients)
// and found op.id in none of their inboxes. For each recipients[i], in
// order:
//   - a member other than the sender whose inbox is full (undelivered(i),
//     the inbox's head minus its highest cursor, >= op.max_undelivered) is
//     skipped: named in `skipped`, nothing appended;
//   - every other gets its copy: append(i, event, own) appends `event`
//     (MessageEventOf(op)) to that inbox and returns it with its seq; own
//     marks the sender's copy (stored kRead, it carries the (sender, cid)
//     record), which is never refused.
// `undelivered` is called only for members other than the sender. Returns
// the result (id, ts, seq of the sender's copy, recipients = the inboxes
// appended to, skipped, appended in order), or the first failure of a
// callback as is (a backend failure: the store fails the batch).
// Thread-safety: as the callbacks; Blocking: only in them.
COURIER_EXPORT absl::StatusOr<GroupSendResult> FanOutGroupSend(
    const GroupSendOp& op, const std::vector<UserId>& recipients,
    absl::FunctionRef<absl::StatusOr<std::uint64_t>(std::size_t i)> undelivered,
    absl::FunctionRef<absl::StatusOr<Event>(std::size_t i, const Event& event, bool own)> append);

}  // namespace courier

#endif  // COURIER_CORE_GROUP_H_
