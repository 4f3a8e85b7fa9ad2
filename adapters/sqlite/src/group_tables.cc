#include "group_tables.h"

#include <cstdint>
#include <string>
#include <utility>

#include "courier/status.h"

namespace courier::sqlite {

absl::StatusOr<std::optional<GroupRecord>> ReadGroup(Connection& c, const GroupId& id) {
  COURIER_ASSIGN_OR_RETURN(Query q,
                           c.Prepare("SELECT record FROM group_records WHERE id = ?1"));
  q.BindText(1, id);
  COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return std::optional<GroupRecord>();
  COURIER_ASSIGN_OR_RETURN(GroupRecord record, DecodeGroupRecord(q.Text(0)));
  return std::optional<GroupRecord>(std::move(record));
}

absl::StatusOr<std::size_t> CountGroupsOf(Connection& c, const UserId& user) {
  COURIER_ASSIGN_OR_RETURN(Query q,
                           c.Prepare("SELECT count(*) FROM group_members WHERE member = ?1"));
  q.BindText(1, user);
  COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
  return row ? static_cast<std::size_t>(q.Int(0)) : 0;
}

absl::StatusOr<std::vector<GroupRecord>> ReadGroupsOf(Connection& c, const UserId& user) {
  COURIER_ASSIGN_OR_RETURN(
      Query q, c.Prepare("SELECT r.record FROM group_members m "
                         "JOIN group_records r ON r.id = m.group_id "
                         "WHERE m.member = ?1 ORDER BY m.group_id"));
  q.BindText(1, user);
  std::vector<GroupRecord> out;
  while (true) {
    COURIER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    COURIER_ASSIGN_OR_RETURN(GroupRecord record, DecodeGroupRecord(q.Text(0)));
    out.push_back(std::move(record));
  }
  return out;
}

absl::Status StoreGroupChange(Connection& c, const GroupId& id, const GroupChangePlan& plan) {
  if (plan.after.has_value()) {
    COURIER_ASSIGN_OR_RETURN(
        Query q, c.Prepare("INSERT INTO group_records (id, record) VALUES (?1, ?2) "
                           "ON CONFLICT (id) DO UPDATE SET record = excluded.record"));
    q.BindText(1, id).BindBlob(2, EncodeGroupRecord(*plan.after));
    COURIER_RETURN_IF_ERROR(q.Run());
  } else {
    COURIER_ASSIGN_OR_RETURN(Query q, c.Prepare("DELETE FROM group_records WHERE id = ?1"));
    q.BindText(1, id);
    COURIER_RETURN_IF_ERROR(q.Run());
  }
  for (const UserId& user : plan.joined) {
    COURIER_ASSIGN_OR_RETURN(
        Query q, c.Prepare("INSERT OR IGNORE INTO group_members (member, group_id) VALUES (?1, ?2)"));
    q.BindText(1, user).BindText(2, id);
    COURIER_RETURN_IF_ERROR(q.Run());
  }
  for (const UserId& user : plan.left) {
    COURIER_ASSIGN_OR_RETURN(
        Query q, c.Prepare("DELETE FROM group_members WHERE member = ?1 AND group_id = ?2"));
    q.BindText(1, user).BindText(2, id);
    COURIER_RETURN_IF_ERROR(q.Run());
  }
  return absl::OkStatus();
}

}  // namespace courier::sqlite
