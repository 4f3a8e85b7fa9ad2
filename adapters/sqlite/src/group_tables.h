// The group tables of the SQLite message store (messages schema 3):
//
//   group_records(id, record)      one row per group: the bytes of
//                                  EncodeGroupRecord (courier/group.h)
//   group_members(member, group_id)  one row per (member, group), the primary
//                                  key in that order: GroupsOf(user) and the
//                                  groups_of(user) count PlanGroupChange asks
//                                  for are one range of it
//
// These functions read and write the tables on the caller's connection; the
// writes belong inside the caller's write transaction (Write's batch), and
// they hold no rule: what changes is PlanGroupChange's plan.
//
// Thread-safety: as the Connection (the caller holds its mutex).
// Blocking: file I/O on the connection.
#ifndef COURIER_ADAPTERS_SQLITE_SRC_GROUP_TABLES_H_
#define COURIER_ADAPTERS_SQLITE_SRC_GROUP_TABLES_H_

#include <cstddef>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "connection.h"
#include "courier/group.h"
#include "courier/types.h"

namespace courier::sqlite {

// The record of group `id`; nullopt when there is none. A stored record that
// does not decode is kDataLoss.
absl::StatusOr<std::optional<GroupRecord>> ReadGroup(Connection& c, const GroupId& id);

// How many groups `user` is a member of (rows of group_members).
absl::StatusOr<std::size_t> CountGroupsOf(Connection& c, const UserId& user);

// The records of every group of `user`, sorted by group id.
absl::StatusOr<std::vector<GroupRecord>> ReadGroupsOf(Connection& c, const UserId& user);

// Writes what `plan` says for group `id`: the record (or its deletion when
// plan.after is nullopt) and the member rows of plan.joined / plan.left. The
// events of plan.told are the caller's (they go through its append path).
absl::Status StoreGroupChange(Connection& c, const GroupId& id, const GroupChangePlan& plan);

}  // namespace courier::sqlite

#endif  // COURIER_ADAPTERS_SQLITE_SRC_GROUP_TABLES_H_
