#include "pg_groups.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "courier/status.h"
#include "pg_array.h"
#include "pg_schema.h"

namespace courier::postgres {
namespace {

// The told inboxes ($1, distinct) each get the change event: their counter
// rows are moved in name order (locking them), and one segment each.
// Rows: (user, seq).
constexpr const char* kTellSql = R"sql(
WITH tops AS (
  INSERT INTO {p}heads AS h (user_id, head)
  SELECT u, 1 FROM (SELECT DISTINCT unnest($1::text[]) COLLATE "C" AS u) s ORDER BY u
  ON CONFLICT (user_id) DO UPDATE SET head = h.head + 1
  RETURNING h.user_id, h.head),
segment_rows AS (
  SELECT t.user_id, t.head AS seq, $2::int2 AS kind, $3::text AS message_id, $4::text AS peer,
         $5::bytea AS body, $6::int2 AS status, $7::int8 AS ts, $8::text AS group_id
  FROM tops t),
told AS ({segments_insert})
SELECT user_id, seq FROM segment_rows)sql";

// A group send to the recipients $1 (distinct, counter rows created and
// locked by heads_new / heads_lock first). Each recipient's copy is placed
// at head + 1 unless its inbox is full ($8), which never refuses the
// sender ($2), whose copy alone holds the cid ($4) and is kRead. When the
// id ($3) is already used in any recipient's inbox nothing is written.
// Rows in $1's order: (user, ok, taken, seq).
constexpr const char* kGroupSendSql = R"sql(
WITH inp AS (
  SELECT * FROM unnest($1::text[]) WITH ORDINALITY AS t(u, ord)),
looked AS (
  SELECT i.u, i.ord, h.head,
         (SELECT coalesce(max(d.acked), 0) FROM {p}devices d WHERE d.user_id = i.u) AS acked,
         EXISTS (SELECT 1 FROM {p}messages m
                 WHERE m.message_id = $3::text AND m.recipient = i.u) AS taken
  FROM inp i JOIN {p}heads h ON h.user_id = i.u),
placed AS (
  SELECT l.*, NOT bool_or(l.taken) OVER () AND (l.u = $2::text OR l.head - l.acked < $8::int8)
              AS ok
  FROM looked l),
new_messages AS (
  INSERT INTO {p}messages (message_id, recipient, sender, cid, seq, ts, status)
  SELECT $3::text, p.u, $2::text, CASE WHEN p.u = $2::text THEN $4::bytea END, p.head + 1,
         $6::int8, CASE WHEN p.u = $2::text THEN 2 ELSE 0 END
  FROM placed p WHERE p.ok),
segment_rows AS (
  SELECT p.u AS user_id, p.head + 1 AS seq, 1::int2 AS kind, $3::text AS message_id,
         $2::text AS peer, $5::bytea AS body, $9::int2 AS status, $6::int8 AS ts,
         $7::text AS group_id
  FROM placed p WHERE p.ok),
new_events AS ({segments_insert}),
moved AS (
  UPDATE {p}heads h SET head = h.head + 1 FROM placed p WHERE p.ok AND h.user_id = p.u)
SELECT p.u, p.ok, p.taken, p.head + 1 FROM placed p ORDER BY p.ord)sql";

PgParam TextArray(const std::vector<UserId>& users) {
  PgArray a(PgElement::kText);
  for (const UserId& u : users) a.Add(u);
  return std::move(a).Take();
}

// The stored record of a group read by `answer` (no row: nullopt).
absl::StatusOr<std::optional<GroupRecord>> RecordOf(const PGresult* answer) {
  if (PQntuples(answer) == 0) return std::nullopt;
  COURIER_ASSIGN_OR_RETURN(GroupRecord record, DecodeGroupRecord(PgBytes(answer, 0, 0)));
  return record;
}

// GroupSendRecipients of the record read by `answer`; a record that does
// not decode (kDataLoss) fails the op alone, as that function's refusals do.
absl::StatusOr<std::vector<UserId>> RecipientsOf(const PGresult* answer, const UserId& sender) {
  COURIER_ASSIGN_OR_RETURN(std::optional<GroupRecord> group, RecordOf(answer));
  return GroupSendRecipients(group, sender);
}

// What ApplyGroupChange writes for a plan that changes `group`, in one
// pipeline: the record (updated when it `existed`, else inserted; deleted
// when plan.after is nullopt), the index rows, and the change event of each
// told inbox. Returns those events with their seqs.
absl::StatusOr<std::vector<Appended>> WriteGroupChange(PgConnection& conn, const GroupId& group,
                                                       bool existed, const GroupChangePlan& plan) {
  std::vector<PgQuery> writes;
  if (!plan.after) {
    writes.push_back(PgQuery{"group_delete", "", {TextParam(group)}});
  } else {
    writes.push_back(PgQuery{existed ? "group_update" : "group_insert", "",
                             {TextParam(group), BytesParam(EncodeGroupRecord(*plan.after))}});
  }
  if (!plan.joined.empty()) {
    writes.push_back(PgQuery{"group_join", "", {TextArray(plan.joined), TextParam(group)}});
  }
  if (!plan.left.empty()) {
    writes.push_back(PgQuery{"group_leave", "", {TextArray(plan.left), TextParam(group)}});
  }
  const Event& ev = plan.event;
  writes.push_back(PgQuery{"group_tell", "",
                           {TextArray(plan.told), IntParam(static_cast<int>(ev.kind)),
                            TextParam(ev.id), TextParam(ev.peer), BytesParam(ev.body),
                            IntParam(static_cast<int>(ev.status)), IntParam(ev.ts),
                            TextParam(ev.group)}});
  COURIER_ASSIGN_OR_RETURN(std::vector<PgResult> done, conn.Run(writes));
  const PGresult* told = done.back().get();
  absl::flat_hash_map<UserId, Seq> seqs;
  for (int row = 0; row < PQntuples(told); ++row) {
    seqs[PgBytes(told, row, 0)] = static_cast<Seq>(PgInt(told, row, 1));
  }
  std::vector<Appended> appended;
  for (const UserId& user : plan.told) {
    auto it = seqs.find(user);
    if (it == seqs.end()) {
      return absl::InternalError(absl::StrCat("postgres: no change event for ", user));
    }
    Event e = ev;
    e.seq = it->second;
    appended.push_back(Appended{user, std::move(e)});
  }
  return appended;
}

}  // namespace

std::vector<PgStatement> GroupStatements(absl::string_view p) {
  return {
      {"group_lock", WithPrefix("SELECT record FROM {p}groups WHERE group_id = $1 FOR UPDATE", p)},
      {"group_share", WithPrefix("SELECT record FROM {p}groups WHERE group_id = $1 FOR SHARE", p)},
      {"group_one", WithPrefix("SELECT record FROM {p}groups WHERE group_id = $1", p)},
      {"groups_of",
       WithPrefix("SELECT g.record FROM {p}group_members gm "
                  "JOIN {p}groups g ON g.group_id = gm.group_id WHERE gm.user_id = $1",
                  p)},
      // Serializes the changes that add a user to some group, per user.
      {"group_user_locks",
       WithPrefix("SELECT count(pg_advisory_xact_lock(hashtext('{p}group_user/' || u))) "
                  "FROM (SELECT DISTINCT unnest($1::text[]) AS u ORDER BY 1) s",
                  p)},
      {"group_counts",
       WithPrefix("SELECT u, (SELECT count(*) FROM {p}group_members gm WHERE gm.user_id = u) "
                  "FROM (SELECT DISTINCT unnest($1::text[]) AS u) s",
                  p)},
      {"group_insert",
       WithPrefix("INSERT INTO {p}groups (group_id, record) VALUES ($1, $2::bytea)", p)},
      {"group_update",
       WithPrefix("UPDATE {p}groups SET record = $2::bytea WHERE group_id = $1", p)},
      {"group_delete", WithPrefix("DELETE FROM {p}groups WHERE group_id = $1", p)},
      {"group_join",
       WithPrefix("INSERT INTO {p}group_members (user_id, group_id) "
                  "SELECT DISTINCT unnest($1::text[]), $2::text ON CONFLICT DO NOTHING",
                  p)},
      {"group_leave",
       WithPrefix("DELETE FROM {p}group_members "
                  "WHERE group_id = $2::text AND user_id = ANY($1::text[])",
                  p)},
      {"group_tell", WithPrefix(ExpandFragments(kTellSql), p)},
      {"group_sent",
       WithPrefix("SELECT message_id, seq, ts FROM {p}messages WHERE sender = $1 AND cid = $2",
                  p)},
      {"group_send", WithPrefix(ExpandFragments(kGroupSendSql), p)},
  };
}

absl::Status ApplyGroupChange(PgConnection& conn, const GroupChangeOp& op,
                              absl::StatusOr<WriteResult>& out) {
  // 1. Lock and read the record; lock and count the groups of the users
  // the change may add.
  const std::vector<UserId> joining = UsersWhoMayJoin(op);
  std::vector<PgQuery> reads = {PgQuery{"group_lock", "", {TextParam(op.group)}}};
  if (!joining.empty()) {
    reads.push_back(PgQuery{"group_user_locks", "", {TextArray(joining)}});
    reads.push_back(PgQuery{"group_counts", "", {TextArray(joining)}});
  }
  COURIER_ASSIGN_OR_RETURN(std::vector<PgResult> got, conn.Run(reads));
  absl::StatusOr<std::optional<GroupRecord>> before = RecordOf(got[0].get());
  if (!before.ok()) {
    out = before.status();
    return absl::OkStatus();
  }
  absl::flat_hash_map<UserId, std::size_t> counts;
  if (!joining.empty()) {
    const PGresult* r = got[2].get();
    for (int row = 0; row < PQntuples(r); ++row) {
      counts[PgBytes(r, row, 0)] = static_cast<std::size_t>(PgInt(r, row, 1));
    }
  }
  return PlanAndWriteGroupChange(
      *before, op,
      [&](const UserId& user) -> absl::StatusOr<std::size_t> {
        auto it = counts.find(user);  // every joining user has a row
        return it == counts.end() ? 0 : it->second;
      },
      [&](const GroupChangePlan& plan) {
        return WriteGroupChange(conn, op.group, before->has_value(), plan);
      },
      out);
}

absl::Status ApplyGroupSend(PgConnection& conn, const GroupSendOp& op,
                            absl::StatusOr<WriteResult>& out) {
  // 1. Sent before (the (sender, cid) index shared with AppendOp)? And the
  // group, locked against changes until commit.
  const PgQuery reads[] = {
      PgQuery{"group_sent", "", {TextParam(op.sender), BytesParam(op.cid)}},
      PgQuery{"group_share", "", {TextParam(op.group)}},
  };
  COURIER_ASSIGN_OR_RETURN(std::vector<PgResult> got, conn.Run(reads));
  if (PQntuples(got[0].get()) > 0) {
    GroupSendResult dup;
    dup.id = PgBytes(got[0].get(), 0, 0);
    dup.seq = static_cast<Seq>(PgInt(got[0].get(), 0, 1));
    dup.ts = PgInt(got[0].get(), 0, 2);
    dup.duplicate = true;
    out = std::move(dup);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<UserId>> recipients = RecipientsOf(got[1].get(), op.sender);
  if (!recipients.ok()) {
    out = recipients.status();
    return absl::OkStatus();
  }

  // 2. One copy per recipient with room (the sender's always).
  const Event proto = MessageEventOf(op);
  PgParam users = TextArray(*recipients);
  const PgQuery writes[] = {
      PgQuery{"heads_new", "", {users}},
      PgQuery{"heads_lock", "", {users}},
      PgQuery{"group_send", "",
              {users, TextParam(op.sender), TextParam(op.id), BytesParam(op.cid),
               BytesParam(op.body), IntParam(op.ts), TextParam(op.group),
               IntParam(ClampToBigint(op.max_undelivered)),
               IntParam(static_cast<int>(proto.status))}},
  };
  COURIER_ASSIGN_OR_RETURN(std::vector<PgResult> done, conn.Run(writes));
  const PGresult* r = done[2].get();
  GroupSendResult result;
  result.id = op.id;
  result.ts = op.ts;
  for (int row = 0; row < PQntuples(r); ++row) {
    const UserId user = PgBytes(r, row, 0);
    if (PgBool(r, row, 2)) {
      out = MessageIdTakenError(user, op.id);
      return absl::OkStatus();
    }
    if (!PgBool(r, row, 1)) {
      result.skipped.push_back(user);
      continue;
    }
    Event e = proto;
    e.seq = static_cast<Seq>(PgInt(r, row, 3));
    if (user == op.sender) result.seq = e.seq;
    result.appended.push_back(Appended{user, std::move(e)});
  }
  result.recipients = result.appended.size();
  if (result.seq == 0) {
    return absl::InternalError("postgres: a group send stored no copy for its sender");
  }
  out = std::move(result);
  return absl::OkStatus();
}

absl::StatusOr<GroupRecord> ReadGroup(PgConnection& conn, const GroupId& id) {
  const PgQuery q{"group_one", "", {TextParam(id)}};
  COURIER_ASSIGN_OR_RETURN(std::vector<PgResult> got, conn.Run(absl::MakeConstSpan(&q, 1)));
  COURIER_ASSIGN_OR_RETURN(std::optional<GroupRecord> record, RecordOf(got[0].get()));
  if (!record) return MakeGroupError(GroupError::kUnknownGroup, absl::StrCat("no group ", id));
  return *std::move(record);
}

absl::StatusOr<std::vector<GroupRecord>> ReadGroupsOf(PgConnection& conn, const UserId& user) {
  const PgQuery q{"groups_of", "", {TextParam(user)}};
  COURIER_ASSIGN_OR_RETURN(std::vector<PgResult> got, conn.Run(absl::MakeConstSpan(&q, 1)));
  std::vector<GroupRecord> records;
  const PGresult* r = got[0].get();
  for (int row = 0; row < PQntuples(r); ++row) {
    COURIER_ASSIGN_OR_RETURN(GroupRecord record, DecodeGroupRecord(PgBytes(r, row, 0)));
    records.push_back(std::move(record));
  }
  std::sort(records.begin(), records.end(),
            [](const GroupRecord& a, const GroupRecord& b) { return a.id < b.id; });
  return records;
}

}  // namespace courier::postgres
