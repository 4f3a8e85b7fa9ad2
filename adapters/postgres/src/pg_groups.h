// Groups in the PostgreSQL MessageStore: GroupChangeOp and GroupSendOp
// inside a Write batch's transaction, and the two group reads.
//
// Storage (pg_schema.cc, version 4): `{p}groups` holds one row per group,
// the bytes of EncodeGroupRecord; `{p}group_members` holds a (user, group)
// row per membership (GroupsOf, and the groups-per-user count that
// PlanGroupChange asks for). A group copy of a message is a row of
// `{p}messages` per recipient under the one message id; only the sender's
// own copy carries the (sender, cid) that makes the send idempotent (so
// pruning another member's copy keeps it).
//
// The rules are core's (courier/group.h): these functions read, call
// PlanGroupChange / GroupSendRecipients, and write what they say.
//
// Concurrency: a change reads the group row FOR UPDATE and a send FOR
// SHARE, so two servers never interleave a change with another change or
// a send of the same group; a create of an id that a concurrent batch
// created fails that batch with a unique violation, answered kAborted; the
// commit queue writes it again (WriteRetryingConflicts), and it then sees
// the group. A change that adds
// users takes a transaction-scoped advisory lock per added user, in name
// order, before counting their groups, so max_groups_per_user holds under
// concurrent adds to different groups. Inbox counter rows are locked in
// name order, as the rest of the write path does.
//
// Internal to courier::postgres (not installed).
// Thread-safety: the functions use the connection they are given, which
//   one thread holds.
// Blocking: each Apply* makes two or three round trips on `conn`.
#ifndef COURIER_ADAPTERS_POSTGRES_PG_GROUPS_H_
#define COURIER_ADAPTERS_POSTGRES_PG_GROUPS_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "courier/message_store.h"
#include "pg_connection.h"

namespace courier::postgres {

// The statements the group ops and reads prepare on every pooled
// connection, for tables named with `prefix`.
std::vector<PgStatement> GroupStatements(absl::string_view prefix);

// Apply one valid op on `conn`, inside the transaction the caller opened
// (REQUIRES: ValidateWriteOp(op) is OK). The op's own result or refusal
// (a GroupError, queue limits never refuse a change) goes to `out`; the
// returned status is a backend failure, after which the caller rolls the
// transaction back and fails (or retries) the batch.
absl::Status ApplyGroupChange(PgConnection& conn, const GroupChangeOp& op,
                              absl::StatusOr<WriteResult>& out);
absl::Status ApplyGroupSend(PgConnection& conn, const GroupSendOp& op,
                            absl::StatusOr<WriteResult>& out);

// MessageStore::Group and GroupsOf on `conn` (outside any transaction).
absl::StatusOr<GroupRecord> ReadGroup(PgConnection& conn, const GroupId& id);
absl::StatusOr<std::vector<GroupRecord>> ReadGroupsOf(PgConnection& conn, const UserId& user);

}  // namespace courier::postgres

#endif  // COURIER_ADAPTERS_POSTGRES_PG_GROUPS_H_
