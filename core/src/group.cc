// The rules of groups (courier/group.h): ids, names, the change planner, the
// send fan-out, the refusals, and the two binary encodings.
//
// Encodings. Both start with a version byte (kCodecVersion); integers are
// LEB128 varints in their shortest form (signed ones zigzag-encoded);
// strings are a varint length then the bytes. Decoding checks every length
// and count against the limits before reading, refuses a varint that is not
// the shortest form, and refuses trailing bytes, so that exactly the bytes
// Encode produces (for a valid value) decode.
//   GroupChange: version, action (1 byte), member count, members, name.
//   GroupRecord: version, id, name, created_by, created (zigzag), version
//                (varint), member count (>= 1), then per member: user,
//                role (1 byte), since (zigzag). Members strictly sorted.

#include "courier/group.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "courier/message_store.h"
#include "courier/status.h"
#include "utf8.h"

namespace courier {
namespace {

constexpr std::uint8_t kCodecVersion = 1;
constexpr char kErrorPayloadUrl[] = "type.courier.dev/group_error";

// ---- the names of the enums: one table per enum, read both ways

template <class E>
struct Named {
  E value;
  std::string_view name;
};

constexpr Named<GroupRole> kRoles[] = {
    {GroupRole::kMember, "member"},
    {GroupRole::kAdmin, "admin"},
};

constexpr Named<GroupAction> kActions[] = {
    {GroupAction::kCreate, "create"}, {GroupAction::kAdd, "add"},
    {GroupAction::kRemove, "remove"}, {GroupAction::kLeave, "leave"},
    {GroupAction::kRename, "rename"},
};

// Each refusal's name (its payload too) and status code, as group.h lists them.
struct ErrorInfo {
  GroupError value;
  std::string_view name;
  absl::StatusCode code;
};
constexpr ErrorInfo kErrors[] = {
    {GroupError::kUnknownGroup, "unknown_group", absl::StatusCode::kNotFound},
    {GroupError::kNotMember, "not_member", absl::StatusCode::kPermissionDenied},
    {GroupError::kNotAdmin, "not_admin", absl::StatusCode::kPermissionDenied},
    {GroupError::kGroupFull, "group_full", absl::StatusCode::kResourceExhausted},
    {GroupError::kTooManyGroups, "too_many_groups", absl::StatusCode::kResourceExhausted},
    {GroupError::kGroupExists, "group_exists", absl::StatusCode::kAlreadyExists},
};

// The entry of `table` for `value`, or null.
template <class Entry, std::size_t N, class E>
const Entry* EntryOf(const Entry (&table)[N], E value) {
  for (const Entry& e : table) {
    if (e.value == value) return &e;
  }
  return nullptr;
}

template <class Entry, std::size_t N, class E>
std::string_view NameOf(const Entry (&table)[N], E value) {
  const Entry* e = EntryOf(table, value);
  return e != nullptr ? e->name : "unknown";
}

template <class Entry, std::size_t N>
auto ValueNamed(const Entry (&table)[N], std::string_view name)
    -> std::optional<decltype(Entry::value)> {
  for (const Entry& e : table) {
    if (e.name == name) return e.value;
  }
  return std::nullopt;
}

// ---- encoding helpers

void PutVarint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutSigned(std::string& out, std::int64_t v) {
  const auto u = static_cast<std::uint64_t>(v);
  PutVarint(out, (u << 1) ^ (v < 0 ? ~std::uint64_t{0} : 0));
}

void PutString(std::string& out, std::string_view s) {
  PutVarint(out, s.size());
  out.append(s);
}

// Reads the encodings; every method fails (returns false) instead of reading
// past the end, and the first failure sticks.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool Byte(std::uint8_t& b) {
    if (pos_ >= in_.size()) return false;
    b = static_cast<std::uint8_t>(in_[pos_++]);
    return true;
  }

  // A varint in its shortest form, at most `max`.
  bool Varint(std::uint64_t& v, std::uint64_t max) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      std::uint8_t b = 0;
      if (!Byte(b)) return false;
      const std::uint64_t bits = b & 0x7F;
      if (shift == 63 && bits > 1) return false;  // beyond 64 bits
      v |= bits << shift;
      if ((b & 0x80) == 0) {
        if (b == 0 && shift > 0) return false;  // not the shortest form
        return v <= max;
      }
    }
    return false;
  }

  bool Signed(std::int64_t& v) {
    std::uint64_t u = 0;
    if (!Varint(u, std::numeric_limits<std::uint64_t>::max())) return false;
    v = static_cast<std::int64_t>((u >> 1) ^ (~(u & 1) + 1));
    return true;
  }

  bool String(std::string& s, std::size_t max) {
    std::uint64_t n = 0;
    if (!Varint(n, max) || n > in_.size() - pos_) return false;
    s.assign(in_.substr(pos_, n));
    pos_ += n;
    return true;
  }

  bool Name(std::string& s) { return String(s, kMaxIdBytes) && ValidateName("name", s).ok(); }

  bool done() const { return pos_ == in_.size(); }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

absl::Status Malformed(std::string_view what) {
  return absl::DataLossError(absl::StrCat("malformed ", absl::string_view(what.data(), what.size())));
}

bool IsGroupAction(std::uint8_t a) {
  return EntryOf(kActions, static_cast<GroupAction>(a)) != nullptr;
}

// ---- planning helpers

// `users` sorted, without duplicates.
std::vector<UserId> SortedUnique(std::vector<UserId> users) {
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  return users;
}

void SortMembers(GroupRecord& r) {
  std::sort(r.members.begin(), r.members.end(),
            [](const GroupMember& a, const GroupMember& b) { return a.user < b.user; });
}

absl::Status Unknown(const GroupChangeOp& op) {
  return MakeGroupError(GroupError::kUnknownGroup, absl::StrCat("no group ", op.group));
}

// The actor's standing for an action that needs a member (or an admin).
absl::Status CheckActor(const GroupRecord& r, const UserId& actor, bool admin) {
  const GroupMember* m = r.Find(actor);
  if (m == nullptr) {
    return MakeGroupError(GroupError::kNotMember,
                          absl::StrCat(actor, " is not a member of group ", r.id));
  }
  if (admin && m->role != GroupRole::kAdmin) {
    return MakeGroupError(GroupError::kNotAdmin,
                          absl::StrCat(actor, " is not an admin of group ", r.id));
  }
  return absl::OkStatus();
}

absl::Status CheckRoom(std::size_t members, const GroupChangeOp& op) {
  if (members <= op.limits.max_members) return absl::OkStatus();
  return MakeGroupError(GroupError::kGroupFull,
                        absl::StrCat("group ", op.group, " would have ", members,
                                     " members (limit ", op.limits.max_members, ")"));
}

absl::Status CheckJoiners(const std::vector<UserId>& joining, const GroupChangeOp& op,
                          absl::FunctionRef<std::size_t(const UserId&)> groups_of) {
  for (const UserId& u : joining) {
    const std::size_t n = groups_of(u);
    if (n >= op.limits.max_groups_per_user) {
      return MakeGroupError(GroupError::kTooManyGroups,
                            absl::StrCat(u, " is in ", n, " groups (limit ",
                                         op.limits.max_groups_per_user, ")"));
    }
  }
  return absl::OkStatus();
}

// Fills in what every altering change has: the told list (members after,
// then `departed`), the new version, and the event.
void Finish(GroupChangePlan& plan, const GroupChangeOp& op, GroupChange change,
            const std::vector<UserId>& departed) {
  if (plan.after.has_value()) {
    for (const GroupMember& m : plan.after->members) plan.told.push_back(m.user);
  }
  plan.told.insert(plan.told.end(), departed.begin(), departed.end());
  plan.event.kind = EventKind::kGroupChange;
  plan.event.id = op.id;
  plan.event.peer = op.actor;
  plan.event.group = op.group;
  plan.event.ts = op.ts;
  plan.event.status = MessageStatus::kSent;
  plan.event.body = EncodeGroupChange(change);
}

absl::StatusOr<GroupChangePlan> PlanCreate(const GroupChangeOp& op,
                                           absl::FunctionRef<std::size_t(const UserId&)> groups_of) {
  std::vector<UserId> others = SortedUnique(op.members);
  others.erase(std::remove(others.begin(), others.end(), op.actor), others.end());
  if (absl::Status s = CheckRoom(others.size() + 1, op); !s.ok()) return s;
  std::vector<UserId> all{op.actor};
  all.insert(all.end(), others.begin(), others.end());
  if (absl::Status s = CheckJoiners(all, op, groups_of); !s.ok()) return s;
  GroupRecord r;
  r.id = op.group;
  r.name = op.name;
  r.created_by = op.actor;
  r.created = op.ts;
  r.version = 1;
  r.members.push_back(GroupMember{op.actor, GroupRole::kAdmin, op.ts});
  for (const UserId& u : others) r.members.push_back(GroupMember{u, GroupRole::kMember, op.ts});
  SortMembers(r);
  GroupChangePlan plan;
  plan.after = std::move(r);
  plan.joined = all;
  Finish(plan, op, GroupChange{GroupAction::kCreate, std::move(all), op.name}, {});
  return plan;
}

absl::StatusOr<GroupChangePlan> PlanAdd(GroupRecord r, const GroupChangeOp& op,
                                        absl::FunctionRef<std::size_t(const UserId&)> groups_of) {
  if (absl::Status s = CheckActor(r, op.actor, true); !s.ok()) return s;
  std::vector<UserId> added;
  for (UserId& u : SortedUnique(op.members)) {
    if (r.Find(u) == nullptr) added.push_back(std::move(u));
  }
  GroupChangePlan plan;
  if (added.empty()) {
    plan.after = std::move(r);
    return plan;
  }
  if (absl::Status s = CheckRoom(r.members.size() + added.size(), op); !s.ok()) return s;
  if (absl::Status s = CheckJoiners(added, op, groups_of); !s.ok()) return s;
  for (const UserId& u : added) r.members.push_back(GroupMember{u, GroupRole::kMember, op.ts});
  SortMembers(r);
  ++r.version;
  plan.after = std::move(r);
  plan.joined = added;
  Finish(plan, op, GroupChange{GroupAction::kAdd, std::move(added), {}}, {});
  return plan;
}

absl::StatusOr<GroupChangePlan> PlanRemove(GroupRecord r, const GroupChangeOp& op) {
  if (absl::Status s = CheckActor(r, op.actor, true); !s.ok()) return s;
  if (std::find(op.members.begin(), op.members.end(), op.actor) != op.members.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(op.actor, " cannot remove themself from group ", r.id, ": leave instead"));
  }
  std::vector<UserId> removed;
  for (UserId& u : SortedUnique(op.members)) {
    if (r.Find(u) != nullptr) removed.push_back(std::move(u));
  }
  GroupChangePlan plan;
  if (removed.empty()) {
    plan.after = std::move(r);
    return plan;
  }
  std::erase_if(r.members, [&](const GroupMember& m) {
    return std::binary_search(removed.begin(), removed.end(), m.user);
  });
  ++r.version;
  plan.after = std::move(r);
  plan.left = removed;
  Finish(plan, op, GroupChange{GroupAction::kRemove, removed, {}}, removed);
  return plan;
}

absl::StatusOr<GroupChangePlan> PlanLeave(GroupRecord r, const GroupChangeOp& op) {
  if (absl::Status s = CheckActor(r, op.actor, false); !s.ok()) return s;
  std::erase_if(r.members, [&](const GroupMember& m) { return m.user == op.actor; });
  GroupChange change{GroupAction::kLeave, {op.actor}, {}};
  GroupChangePlan plan;
  plan.left = {op.actor};
  if (r.members.empty()) {
    Finish(plan, op, std::move(change), {op.actor});  // after stays nullopt: delete
    return plan;
  }
  const bool admin_left = std::none_of(r.members.begin(), r.members.end(), [](const GroupMember& m) {
    return m.role == GroupRole::kAdmin;
  });
  if (admin_left) {
    // The earliest to join, ties broken by the smallest name (members are
    // sorted by name, so the first of the earliest).
    auto next = std::min_element(r.members.begin(), r.members.end(),
                                 [](const GroupMember& a, const GroupMember& b) {
                                   return a.since < b.since;
                                 });
    next->role = GroupRole::kAdmin;
    change.members.push_back(next->user);
  }
  ++r.version;
  plan.after = std::move(r);
  Finish(plan, op, std::move(change), {op.actor});
  return plan;
}

absl::StatusOr<GroupChangePlan> PlanRename(GroupRecord r, const GroupChangeOp& op) {
  if (absl::Status s = CheckActor(r, op.actor, true); !s.ok()) return s;
  GroupChangePlan plan;
  if (r.name == op.name) {
    plan.after = std::move(r);
    return plan;
  }
  r.name = op.name;
  ++r.version;
  plan.after = std::move(r);
  Finish(plan, op, GroupChange{GroupAction::kRename, {}, op.name}, {});
  return plan;
}

}  // namespace

absl::Status ValidateGroupId(std::string_view id) {
  // The same alphabet and length as a message id: one rule.
  if (ValidateMessageId(id).ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("group id must be 1-", kMaxIdBytes, " of [A-Za-z0-9_-]"));
}

std::string_view GroupRoleName(GroupRole role) { return NameOf(kRoles, role); }

const GroupMember* GroupRecord::Find(std::string_view user) const {
  auto it = std::lower_bound(members.begin(), members.end(), user,
                             [](const GroupMember& m, std::string_view u) { return m.user < u; });
  return it != members.end() && it->user == user ? &*it : nullptr;
}

std::string_view GroupActionName(GroupAction action) { return NameOf(kActions, action); }

std::optional<GroupAction> ParseGroupAction(std::string_view name) {
  return ValueNamed(kActions, name);
}

std::string EncodeGroupChange(const GroupChange& change) {
  std::string out;
  out.push_back(static_cast<char>(kCodecVersion));
  out.push_back(static_cast<char>(change.action));
  PutVarint(out, change.members.size());
  for (const UserId& u : change.members) PutString(out, u);
  PutString(out, change.name);
  return out;
}

absl::StatusOr<GroupChange> DecodeGroupChange(std::string_view bytes) {
  Reader in(bytes);
  std::uint8_t version = 0;
  std::uint8_t action = 0;
  if (!in.Byte(version) || version != kCodecVersion) return Malformed("group change: version");
  if (!in.Byte(action) || !IsGroupAction(action)) return Malformed("group change: action");
  GroupChange change;
  change.action = static_cast<GroupAction>(action);
  std::uint64_t n = 0;
  if (!in.Varint(n, kMaxGroupMembers)) return Malformed("group change: member count");
  change.members.resize(n);
  for (UserId& u : change.members) {
    if (!in.Name(u)) return Malformed("group change: member");
  }
  if (!in.String(change.name, kMaxGroupNameBytes) || !internal::IsValidUtf8(change.name)) {
    return Malformed("group change: name");
  }
  if (!in.done()) return Malformed("group change: trailing bytes");
  return change;
}

std::string EncodeGroupRecord(const GroupRecord& record) {
  std::string out;
  out.reserve(32 + record.name.size() + record.members.size() * 16);
  out.push_back(static_cast<char>(kCodecVersion));
  PutString(out, record.id);
  PutString(out, record.name);
  PutString(out, record.created_by);
  PutSigned(out, record.created);
  PutVarint(out, record.version);
  PutVarint(out, record.members.size());
  for (const GroupMember& m : record.members) {
    PutString(out, m.user);
    out.push_back(static_cast<char>(m.role));
    PutSigned(out, m.since);
  }
  return out;
}

absl::StatusOr<GroupRecord> DecodeGroupRecord(std::string_view bytes) {
  Reader in(bytes);
  std::uint8_t version = 0;
  if (!in.Byte(version) || version != kCodecVersion) return Malformed("group record: version");
  GroupRecord r;
  if (!in.String(r.id, kMaxIdBytes) || !ValidateGroupId(r.id).ok()) {
    return Malformed("group record: id");
  }
  if (!in.String(r.name, kMaxGroupNameBytes) || !internal::IsValidUtf8(r.name)) {
    return Malformed("group record: name");
  }
  if (!in.Name(r.created_by)) return Malformed("group record: creator");
  if (!in.Signed(r.created)) return Malformed("group record: created");
  if (!in.Varint(r.version, std::numeric_limits<std::uint64_t>::max())) {
    return Malformed("group record: version");
  }
  std::uint64_t n = 0;
  if (!in.Varint(n, kMaxGroupMembers) || n == 0) return Malformed("group record: member count");
  r.members.resize(n);
  for (std::size_t i = 0; i < r.members.size(); ++i) {
    GroupMember& m = r.members[i];
    std::uint8_t role = 0;
    if (!in.Name(m.user) || (i > 0 && !(r.members[i - 1].user < m.user))) {
      return Malformed("group record: member");
    }
    if (!in.Byte(role) || EntryOf(kRoles, static_cast<GroupRole>(role)) == nullptr) {
      return Malformed("group record: role");
    }
    m.role = static_cast<GroupRole>(role);
    if (!in.Signed(m.since)) return Malformed("group record: since");
  }
  if (!in.done()) return Malformed("group record: trailing bytes");
  return r;
}

std::string_view GroupErrorName(GroupError e) { return NameOf(kErrors, e); }

absl::Status MakeGroupError(GroupError e, std::string_view message) {
  const ErrorInfo* info = EntryOf(kErrors, e);
  const absl::StatusCode code = info != nullptr ? info->code : absl::StatusCode::kInternal;
  const std::string_view name = GroupErrorName(e);
  absl::Status status(code, absl::StrCat(absl::string_view(name.data(), name.size()), ": ",
                                         absl::string_view(message.data(), message.size())));
  status.SetPayload(kErrorPayloadUrl, absl::Cord(absl::string_view(name.data(), name.size())));
  return status;
}

std::optional<GroupError> GroupErrorOf(const absl::Status& status) {
  if (status.ok()) return std::nullopt;
  const auto payload = status.GetPayload(kErrorPayloadUrl);  // absl::optional
  if (!payload.has_value()) return std::nullopt;
  return ValueNamed(kErrors, std::string(*payload));
}

absl::StatusOr<GroupChangePlan> PlanGroupChange(
    const std::optional<GroupRecord>& before, const GroupChangeOp& op,
    absl::FunctionRef<std::size_t(const UserId&)> groups_of) {
  if (op.action == GroupAction::kCreate) {
    if (before.has_value()) {
      return MakeGroupError(GroupError::kGroupExists,
                            absl::StrCat("group ", op.group, " exists"));
    }
    return PlanCreate(op, groups_of);
  }
  if (!before.has_value()) return Unknown(op);
  switch (op.action) {
    case GroupAction::kAdd:
      return PlanAdd(*before, op, groups_of);
    case GroupAction::kRemove:
      return PlanRemove(*before, op);
    case GroupAction::kLeave:
      return PlanLeave(*before, op);
    case GroupAction::kRename:
      return PlanRename(*before, op);
    case GroupAction::kCreate:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown group action ", static_cast<int>(op.action)));
}

std::vector<UserId> UsersWhoMayJoin(const GroupChangeOp& op) {
  switch (op.action) {
    case GroupAction::kCreate: {
      std::vector<UserId> users = op.members;
      users.push_back(op.actor);
      return users;
    }
    case GroupAction::kAdd:
      return op.members;
    case GroupAction::kRemove:
    case GroupAction::kLeave:
    case GroupAction::kRename:
      break;
  }
  return {};
}

absl::Status PlanAndWriteGroupChange(
    const std::optional<GroupRecord>& before, const GroupChangeOp& op,
    absl::FunctionRef<absl::StatusOr<std::size_t>(const UserId&)> groups_of,
    absl::FunctionRef<absl::StatusOr<std::vector<Appended>>(const GroupChangePlan&)> write,
    absl::StatusOr<WriteResult>& out) {
  absl::Status count_error;  // the first failed count; it fails the batch
  absl::StatusOr<GroupChangePlan> plan =
      PlanGroupChange(before, op, [&](const UserId& user) -> std::size_t {
        absl::StatusOr<std::size_t> n = groups_of(user);
        if (n.ok()) return *n;
        if (count_error.ok()) count_error = n.status();
        return 0;
      });
  if (!count_error.ok()) return count_error;
  if (!plan.ok()) {
    out = plan.status();
    return absl::OkStatus();
  }
  GroupChangeResult result;
  result.changed = !plan->told.empty();
  if (result.changed) {
    absl::StatusOr<std::vector<Appended>> appended = write(*plan);
    if (!appended.ok()) return appended.status();
    result.appended = *std::move(appended);
  }
  result.group = std::move(plan->after);
  out = std::move(result);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<UserId>> GroupSendRecipients(const std::optional<GroupRecord>& group,
                                                        const UserId& sender) {
  if (!group.has_value()) {
    return MakeGroupError(GroupError::kUnknownGroup, "no such group");
  }
  if (group->Find(sender) == nullptr) {
    return MakeGroupError(GroupError::kNotMember,
                          absl::StrCat(sender, " is not a member of group ", group->id));
  }
  std::vector<UserId> out;
  out.reserve(group->members.size());
  for (const GroupMember& m : group->members) out.push_back(m.user);
  return out;
}

absl::StatusOr<GroupSendResult> FanOutGroupSend(
    const GroupSendOp& op, const std::vector<UserId>& recipients,
    absl::FunctionRef<absl::StatusOr<std::uint64_t>(std::size_t i)> undelivered,
    absl::FunctionRef<absl::StatusOr<Event>(std::size_t i, const Event& event, bool own)>
        append) {
  GroupSendResult result;
  result.id = op.id;
  result.ts = op.ts;
  const Event event = MessageEventOf(op);
  for (std::size_t i = 0; i < recipients.size(); ++i) {
    const UserId& user = recipients[i];
    const bool own = user == op.sender;
    if (!own) {
      COURIER_ASSIGN_OR_RETURN(std::uint64_t queued, undelivered(i));
      if (queued >= op.max_undelivered) {
        result.skipped.push_back(user);
        continue;
      }
    }
    COURIER_ASSIGN_OR_RETURN(Event e, append(i, event, own));
    if (own) result.seq = e.seq;
    result.appended.push_back(Appended{user, std::move(e)});
  }
  result.recipients = result.appended.size();
  return result;
}

}  // namespace courier
