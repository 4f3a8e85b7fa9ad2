// fuzz_group_codec: courier/group.h's two decoders on any bytes, and
// PlanGroupChange on what they accept.
//
// Input: the first byte picks the mode.
//   0: the rest to DecodeGroupChange.  1: the rest to DecodeGroupRecord.
//   Either way, an accepted value re-encodes to exactly the input (only
//   canonical bytes decode), holds to the limits (names, counts, UTF-8,
//   sorted unique members) and decodes again to the same value; a refusal
//   is kDataLoss.
//   2: a change on a decoded record: byte 1 the action, byte 2 the actor,
//   byte 3 a count k, then k member bytes (each picks one of the record's
//   members or a stranger), byte 3+k+1 max_members, the rest a record
//   (absent when it does not decode). A plan keeps the record's invariants
//   (members sorted, unique, within the limit on growth, an admin among
//   them), bumps the version exactly when someone is told, and its event
//   body decodes; a refusal is a GroupError or kInvalidArgument.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "courier/group.h"
#include "courier/message_store.h"
#include "fuzz_check.h"

namespace {

using courier::GroupAction;
using courier::GroupChange;
using courier::GroupRecord;
using courier::GroupRole;
using courier::UserId;

void CheckRecord(const GroupRecord& r) {
  FUZZ_CHECK(courier::ValidateGroupId(r.id).ok(), "bad id");
  FUZZ_CHECK(r.name.size() <= courier::kMaxGroupNameBytes, "name too long");
  FUZZ_CHECK(courier::ValidateName("user", r.created_by).ok(), "bad creator");
  FUZZ_CHECK(!r.members.empty() && r.members.size() <= courier::kMaxGroupMembers,
             "%zu members", r.members.size());
  for (std::size_t i = 0; i < r.members.size(); ++i) {
    FUZZ_CHECK(courier::ValidateName("user", r.members[i].user).ok(), "bad member");
    FUZZ_CHECK(i == 0 || r.members[i - 1].user < r.members[i].user, "members not sorted");
    FUZZ_CHECK(r.Find(r.members[i].user) == &r.members[i], "Find misses a member");
  }
}

void Decoders(int mode, std::string_view bytes) {
  if (mode == 0) {
    auto change = courier::DecodeGroupChange(bytes);
    if (!change.ok()) {
      FUZZ_CHECK(change.status().code() == absl::StatusCode::kDataLoss, "not kDataLoss");
      return;
    }
    FUZZ_CHECK(courier::EncodeGroupChange(*change) == bytes, "not canonical");
    FUZZ_CHECK(change->members.size() <= courier::kMaxGroupMembers, "too many members");
    FUZZ_CHECK(change->name.size() <= courier::kMaxGroupNameBytes, "name too long");
    for (const UserId& u : change->members) {
      FUZZ_CHECK(courier::ValidateName("user", u).ok(), "bad member");
    }
    FUZZ_CHECK(courier::DecodeGroupChange(courier::EncodeGroupChange(*change)).value() ==
                   *change,
               "no round trip");
    return;
  }
  auto record = courier::DecodeGroupRecord(bytes);
  if (!record.ok()) {
    FUZZ_CHECK(record.status().code() == absl::StatusCode::kDataLoss, "not kDataLoss");
    return;
  }
  FUZZ_CHECK(courier::EncodeGroupRecord(*record) == bytes, "not canonical");
  CheckRecord(*record);
  FUZZ_CHECK(courier::DecodeGroupRecord(courier::EncodeGroupRecord(*record)).value() == *record,
             "no round trip");
}

void Plan(const std::uint8_t* data, std::size_t size) {
  if (size < 5) return;
  std::size_t pos = 1;
  courier::GroupChangeOp op;
  op.action = static_cast<GroupAction>(1 + data[pos++] % 5);
  const std::uint8_t actor = data[pos++];
  const std::size_t k = data[pos++] % 8;
  if (size < pos + k + 1) return;
  const std::uint8_t* picks = data + pos;
  pos += k;
  op.limits.max_members = 1 + data[pos++] % 8;
  op.limits.max_groups_per_user = 4;
  std::optional<GroupRecord> before;
  if (auto r = courier::DecodeGroupRecord(
          std::string_view(reinterpret_cast<const char*>(data + pos), size - pos));
      r.ok()) {
    before = *std::move(r);
  }
  const auto user = [&](std::uint8_t b) -> UserId {
    if (before.has_value() && b % 2 == 0) return before->members[b / 2 % before->members.size()].user;
    return "stranger" + std::to_string(b % 4);
  };
  op.actor = user(actor);
  op.group = before.has_value() ? before->id : "g";
  op.id = "change";
  op.ts = 7;
  if (op.action == GroupAction::kCreate || op.action == GroupAction::kRename) op.name = "n";
  if (op.action != GroupAction::kLeave && op.action != GroupAction::kRename) {
    for (std::size_t i = 0; i < k; ++i) op.members.push_back(user(picks[i]));
  }
  // Stores validate first; the planner is only ever called on valid ops.
  if (!courier::ValidateWriteOp(op).ok()) return;
  const auto groups_of = [&](const UserId& u) -> std::size_t { return u.size() % 5; };
  auto plan = courier::PlanGroupChange(before, op, groups_of);
  if (!plan.ok()) {
    FUZZ_CHECK(courier::GroupErrorOf(plan.status()).has_value() ||
                   plan.status().code() == absl::StatusCode::kInvalidArgument,
               "refusal without a group error: %s", plan.status().ToString().c_str());
    return;
  }
  if (plan->told.empty()) {
    FUZZ_CHECK(plan->after == before, "a no-op changed the record");
    FUZZ_CHECK(plan->joined.empty() && plan->left.empty(), "a no-op moved members");
    return;
  }
  FUZZ_CHECK(courier::DecodeGroupChange(plan->event.body).ok(), "event body does not decode");
  FUZZ_CHECK(plan->event.kind == courier::EventKind::kGroupChange, "wrong kind");
  if (!plan->after.has_value()) {
    FUZZ_CHECK(op.action == GroupAction::kLeave && before->members.size() == 1,
               "deleted a group that had members left");
    return;
  }
  const GroupRecord& after = *plan->after;
  CheckRecord(after);
  FUZZ_CHECK(courier::DecodeGroupRecord(courier::EncodeGroupRecord(after)).value() == after,
             "plan's record does not round-trip");
  FUZZ_CHECK(std::any_of(after.members.begin(), after.members.end(),
                         [](const courier::GroupMember& m) { return m.role == GroupRole::kAdmin; }) ||
                 (before.has_value() && std::none_of(before->members.begin(),
                                                     before->members.end(),
                                                     [](const courier::GroupMember& m) {
                                                       return m.role == GroupRole::kAdmin;
                                                     })),
             "no admin left");
  if (before.has_value()) {
    FUZZ_CHECK(after.version == before->version + 1, "version not bumped by one");
    FUZZ_CHECK(after.members.size() <= before->members.size() ||
                   after.members.size() <= op.limits.max_members,
               "grew past max_members");
  } else {
    FUZZ_CHECK(after.version == 1 && after.members.size() <= op.limits.max_members,
               "bad create");
  }
  for (const courier::GroupMember& m : after.members) {
    FUZZ_CHECK(std::find(plan->told.begin(), plan->told.end(), m.user) != plan->told.end(),
               "a member was not told");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const int mode = data[0] % 3;
  if (mode == 2) {
    Plan(data, size);
    return 0;
  }
  Decoders(mode, std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  return 0;
}
