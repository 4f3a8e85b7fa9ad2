#include "pg_write_batch.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "courier/status.h"
#include "pg_array.h"
#include "pg_schema.h"

namespace courier::postgres {
namespace {

// $1 recipients: the counter rows that appends will move.
constexpr const char* kHeadsNewSql = R"sql(
INSERT INTO {p}heads (user_id, head)
SELECT u, 0 FROM (SELECT DISTINCT unnest($1::text[]) COLLATE "C" AS u) s ORDER BY u
ON CONFLICT (user_id) DO NOTHING)sql";

constexpr const char* kHeadsLockSql = R"sql(
SELECT 1 FROM {p}heads WHERE user_id = ANY($1::text[]) ORDER BY user_id FOR UPDATE)sql";

// A run of appends, no (sender, cid) or id twice (WritePlan answers
// repeats itself), written locked: the counter rows were created and locked
// before it (kHeadsNewSql, kHeadsLockSql), so it reads their heads as they
// stand. One row per op, in no particular order: (ord, code 0 ok / 1 queue
// full / 2 id taken, id, seq, ts, duplicate, undelivered). Lookups are index
// probes per op, each key once (a scalar subquery named by several window
// FILTERs would run once for each): a duplicate is answered with the first
// send, a taken id refused. One window per recipient numbers the new
// messages and applies the queue limit; bodies are read from their array
// only when inserted.
constexpr const char* kAppendLockedSql = R"sql(
WITH inp AS (
  SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[], $6::int8[], $7::int8[])
    WITH ORDINALITY AS t(sender, cid, recipient, id, ts, lim, ord)),
looked AS (
  SELECT i.*, s.message_id AS s_id, s.seq AS s_seq, s.ts AS s_ts,
         s.message_id IS NULL AND u.one IS NOT NULL AS taken, h.head AS head,
         coalesce(d.acked, 0) AS acked
  FROM inp i
  LEFT JOIN LATERAL (SELECT x.message_id, x.seq, x.ts FROM {p}messages x
                     WHERE x.sender = i.sender AND x.cid = i.cid LIMIT 1) s ON true
  LEFT JOIN LATERAL (SELECT 1 AS one FROM {p}messages m
                     WHERE m.message_id = i.id AND m.recipient = i.recipient LIMIT 1) u ON true
  JOIN (SELECT user_id, head FROM {p}heads WHERE user_id = ANY($3::text[])) h
    ON h.user_id = i.recipient
  LEFT JOIN (SELECT user_id, max(acked) AS acked FROM {p}devices
             WHERE user_id = ANY($3::text[]) GROUP BY user_id) d ON d.user_id = i.recipient),
ranked AS (
  SELECT l.*, count(*) FILTER (WHERE l.s_id IS NULL AND NOT l.taken) OVER w AS k,
         min(l.lim) FILTER (WHERE l.s_id IS NULL AND NOT l.taken) OVER w AS lim_so_far
  FROM looked l WINDOW w AS (PARTITION BY l.recipient ORDER BY l.ord)),
placed AS (
  SELECT r.*, r.head + r.k AS seq, r.head - r.acked + r.k - 1 AS undelivered,
         r.s_id IS NULL AND NOT r.taken AND r.head - r.acked + r.k - 1 < r.lim_so_far AS ok
  FROM ranked r),
new_messages AS (
  INSERT INTO {p}messages (message_id, recipient, sender, cid, seq, ts, status)
  SELECT id, recipient, sender, cid, seq, ts, 0 FROM placed WHERE ok),
segment_rows AS (
  SELECT recipient AS user_id, seq, 1::int2 AS kind, id AS message_id, sender AS peer,
         ($5::bytea[])[ord] AS body, 0::int2 AS status, ts, ''::text AS group_id
  FROM placed WHERE ok),
new_events AS ({segments_insert}),
moved AS (
  UPDATE {p}heads h SET head = t.top
  FROM (SELECT recipient, max(seq) AS top FROM placed WHERE ok GROUP BY recipient) t
  WHERE h.user_id = t.recipient)
SELECT p.ord,
       (CASE WHEN p.s_id IS NOT NULL OR p.ok THEN 0 WHEN p.taken THEN 2 ELSE 1 END)::int4,
       coalesce(p.s_id, p.id), coalesce(p.s_seq, p.seq), coalesce(p.s_ts, p.ts),
       p.s_id IS NOT NULL, p.undelivered
FROM placed p)sql";

// Around kAppendNumberedSql, for the rest of its transaction (the batch's
// other statements keep PostgreSQL's choice: their plans depend on the
// sizes of their arrays).
constexpr const char* kGenericPlansSql = "SET LOCAL plan_cache_mode = force_generic_plan";
constexpr const char* kCustomPlansSql = "SET LOCAL plan_cache_mode = auto";

// A run of appends written speculatively (pipelined commits): no lock is
// taken first, so that the statement's work overlaps the commit of the
// batch before it on another connection. It stores every op of the run or
// fails: a duplicate or a taken id fails the messages insert with a unique
// violation (so does a key that a transaction still committing holds), and
// a refusal, or a head that moved from where its seqs were taken, fails
// check_moved with SQLSTATE 40001; the store then writes the batch again,
// locked (kAppendLockedSql), which answers each op. So the server numbers
// the run itself (WritePlan::AddRun): the ops come grouped by recipient, in
// batch order within each, and the k-th of an inbox gets head + k.
//   Per op ($1-$6, $13): sender, cid, recipient, id, ts, k; body.
//   Per recipient ($7-$12): the inbox, its predicted head (NULL: the head
//   the statement reads), its number of ops, the index of its first op in
//   the op arrays, its slack and its oldest ts. The slack is the least
//   lim - k over its ops, lim the smallest limit up to the k-th op, as
//   kAppendLockedSql applies it: every op fits when head - acked - 1 < slack.
// A recipient's segment is sliced from the op arrays (no sort, no
// aggregate). The order of the work is forced: PostgreSQL runs a
// data-modifying CTE that the query reads when it is first read, and the
// others after the query. `checked` (read by the query) reads `moved`, the
// upsert of the counter rows, which waits for a transaction still
// committing (the batch before, at its WAL flush); `moved` first counts
// `new_messages`, so the messages are inserted before that wait, beside the
// flush (a 5,000-message statement, its counter row held by another
// transaction: it ended 66-73 ms after that commit, 0-3 ms with the
// order forced). The segments, whose keys a wrong prediction can collide
// with, are inserted after it (not before: a locked writer on another
// server holding the row and inserting the same segment key would wait for
// this one, which waits for it). One row per recipient: (its index, the
// head its seqs start after). Its plan is the same whatever the arrays hold
// (the heads and cursors are read by index, one probe per recipient, the
// head only when not predicted), so it runs with a generic plan, planned
// once per connection (kGenericPlansSql): planning it each time was a fifth
// of its time.
constexpr const char* kAppendNumberedSql = R"sql(
WITH grp AS MATERIALIZED (
  SELECT g.user_id, g.n, g.lo, g.slack, g.min_ts, g.gi,
         coalesce(g.base, (SELECT h.head FROM {p}heads h WHERE h.user_id = g.user_id), 0) AS head,
         coalesce((SELECT max(d.acked) FROM {p}devices d WHERE d.user_id = g.user_id), 0) AS acked
  FROM unnest($7::text[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[])
    WITH ORDINALITY AS g(user_id, base, n, lo, slack, min_ts, gi)),
new_messages AS (
  INSERT INTO {p}messages (message_id, recipient, sender, cid, seq, ts, status)
  SELECT i.id, i.recipient, i.sender, i.cid, g.head + i.k, i.ts, 0
  FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[], $5::int8[], $6::int8[])
    AS i(sender, cid, recipient, id, ts, k)
  JOIN grp g ON g.user_id = i.recipient
  RETURNING 1 AS one),
new_segments AS (
  INSERT INTO {p}segments (user_id, last_seq, first_seq, min_ts, n_events, seqs, kinds, ids, peers,
                           bodies, statuses, tss, groups)
  SELECT g.user_id, g.head + g.n, g.head + 1, g.min_ts, g.n,
         ARRAY(SELECT generate_series(g.head + 1, g.head + g.n)),
         array_fill(1::int2, ARRAY[g.n::int4]), ($4::text[])[g.lo:g.lo + g.n - 1],
         ($1::text[])[g.lo:g.lo + g.n - 1], ($13::bytea[])[g.lo:g.lo + g.n - 1],
         array_fill(0::int2, ARRAY[g.n::int4]), ($5::int8[])[g.lo:g.lo + g.n - 1],
         array_fill(''::text, ARRAY[g.n::int4])
  FROM grp g),
moved AS (
  INSERT INTO {p}heads AS h (user_id, head)
  SELECT g.user_id, g.n FROM grp g WHERE (SELECT count(*) FROM new_messages) >= 0
  ORDER BY g.user_id
  ON CONFLICT (user_id) DO UPDATE SET head = h.head + excluded.head
  RETURNING h.user_id, h.head),
checked AS (
  SELECT {p}check_moved(
    (SELECT count(*) FROM moved m JOIN grp g ON g.user_id = m.user_id AND m.head = g.head + g.n),
    (SELECT CASE WHEN bool_and(g.head - g.acked - 1 < g.slack) THEN count(*) ELSE -1 END
     FROM grp g)) AS c)
SELECT g.gi, g.head FROM grp g, checked)sql";

// Before the first ack or read of a batch: the advisory locks of every inbox
// its acks and reads name ($1), in key order (so that batches never wait
// for each other in a cycle), held to the end of the transaction. Acks of
// one inbox by different devices, and acks and reads of it, then see what
// the others committed: the delivered status is derived from the highest
// cursor (kDeliversSql), and two acks starting from the same cursor would
// both deliver what they pass. Appends do not take them.
constexpr const char* kInboxLockSql = R"sql(
SELECT pg_advisory_xact_lock(k) FROM (
  SELECT DISTINCT {key} AS k FROM unnest($1::text[]) AS t(u) ORDER BY 1) s)sql";

// A run of acks. Rows ordered by (ord, pos): per op one row (ord, code 0 ok
// / 1 beyond the head, cursor or head, NULL, NULL, NULL, 0), then one row
// per receipt it made (ord, 0, 0, sender, seq, id, message seq). A delivered
// message belongs to the first ack of its inbox whose cursor covers it
// ({items}: kAckItemsSql, or kAckItemsOneEachSql when no inbox is acked
// twice in the run; AckSql puts one in). Every
// message at or below the inbox's highest cursor before the run (`floor`,
// over all its devices' rows, whether or not the acking device has one yet:
// taken from the acking device's row alone, an ack by a device with no row
// gave the messages below the others' cursors a second delivered receipt)
// is delivered already: the scan of the inbox's events starts above it
// (kDeliversSql says which of the events passed are delivered now). The
// batch holds the inboxes' locks (kInboxLockSql): no other ack or read of
// them runs.
constexpr const char* kAckSql = R"sql(
WITH inp AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[])
    WITH ORDINALITY AS t(user_id, device, seq, ts, ord)),
acks AS (
  SELECT i.*, coalesce(h.head, 0) AS head, coalesce(d.acked, 0) AS was,
         coalesce(t.top, 0) AS floor
  FROM inp i
  LEFT JOIN (SELECT user_id, head FROM {p}heads WHERE user_id = ANY($1::text[])) h
    ON h.user_id = i.user_id
  LEFT JOIN (SELECT user_id, device_id, acked FROM {p}devices
             WHERE user_id = ANY($1::text[])) d
    ON d.user_id = i.user_id AND d.device_id = i.device
  LEFT JOIN (SELECT user_id, max(acked) AS top FROM {p}devices
             WHERE user_id = ANY($1::text[]) GROUP BY user_id) t
    ON t.user_id = i.user_id),
cursors AS (
  SELECT a.*, a.seq <= a.head AS ok,
         greatest(a.was, max(a.seq) FILTER (WHERE a.seq <= a.head)
                           OVER (PARTITION BY a.user_id, a.device ORDER BY a.ord)) AS cursor
  FROM acks a),
reach AS (
  SELECT c.*,
         coalesce(max(c.cursor) FILTER (WHERE c.ok) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING
                                                          AND 1 PRECEDING), 0) AS lo,
         coalesce(max(c.cursor) FILTER (WHERE c.ok) OVER (w ROWS UNBOUNDED PRECEDING), 0) AS hi
  FROM cursors c WINDOW w AS (PARTITION BY c.user_id ORDER BY c.ord)),
moved AS (
  INSERT INTO {p}devices AS d (user_id, device_id, acked)
  SELECT user_id, device, max(cursor) FROM reach WHERE ok GROUP BY user_id, device
  ORDER BY user_id, device
  ON CONFLICT (user_id, device_id) DO UPDATE SET acked = greatest(d.acked, excluded.acked)),
spans AS (
  SELECT user_id, max(floor) AS lo, max(hi) AS hi FROM reach WHERE ok GROUP BY user_id),
early AS (
  DELETE FROM {p}early_reads r USING spans t
  WHERE r.user_id = t.user_id AND r.seq > t.lo AND r.seq <= t.hi
  RETURNING r.user_id, r.seq),
delivered AS (
  SELECT s.user_id AS recipient, e.seq, e.message_id, e.peer AS sender
  FROM spans t JOIN {p}segments s
    ON s.user_id = t.user_id AND s.last_seq > t.lo AND s.first_seq <= t.hi
  CROSS JOIN LATERAL unnest(s.seqs, s.kinds, s.ids, s.peers, s.groups)
    AS e(seq, kind, message_id, peer, group_id)
  WHERE e.seq > t.lo AND e.seq <= t.hi{delivers}),
{items}
{receipts}
SELECT r.ord, (NOT r.ok)::int4, CASE WHEN r.ok THEN r.cursor ELSE r.head END,
       NULL::text, NULL::int8, NULL::text, 0::int8 AS pos
FROM reach r
UNION ALL
SELECT x.ord, 0, 0, x.sender, x.seq, x.message_id, x.pos FROM receipts x
ORDER BY 1, 7)sql";

// kAckSql's CTE `items` (ord, pos, sender, message_id, by_user, st, ts):
// the delivered messages, each with the ack that delivers it. Several acks
// of one inbox in the run: a message belongs to the first whose cursor
// covers it (acks at their cursor and messages at their seq on one line per
// inbox, read from the top: the smallest ack so far owns each message).
constexpr absl::string_view kAckItemsSql = R"sql(line AS (
  SELECT r.user_id, r.hi AS at, 1 AS tag, ARRAY[r.ord, r.ts] AS ack, NULL::text AS sender,
         NULL::text AS message_id
  FROM reach r WHERE r.ok AND r.hi > r.lo
  UNION ALL
  SELECT d.recipient, d.seq, 0, NULL, d.sender, d.message_id FROM delivered d),
owned AS (
  SELECT l.*, min(l.ack) OVER (PARTITION BY l.user_id ORDER BY l.at DESC, l.tag DESC
                               ROWS UNBOUNDED PRECEDING) AS owner
  FROM line l),
items AS (
  SELECT o.owner[1] AS ord, o.at AS pos, o.sender, o.message_id, o.user_id AS by_user,
         1::int2 AS st, o.owner[2] AS ts
  FROM owned o WHERE o.tag = 0))sql";
// One ack per inbox in the run (a device coming back to its backlog, or
// W1's acks of different users): that ack delivers every message of its
// inbox's span, with no sort to find the owner (a drain's ack of 4,000
// messages: 4 of its 25 ms were that sort and window).
constexpr absl::string_view kAckItemsOneEachSql = R"sql(items AS (
  SELECT r.ord, d.seq AS pos, d.sender, d.message_id, d.recipient AS by_user, 1::int2 AS st, r.ts
  FROM delivered d JOIN reach r ON r.user_id = d.recipient AND r.ok))sql";

// kAckSql with the items of `one_each`, for tables `prefix`.
std::string AckSql(bool one_each, absl::string_view prefix) {
  return WithPrefix(
      ExpandFragments(absl::StrReplaceAll(
          kAckSql, {{"{items}", one_each ? kAckItemsOneEachSql : kAckItemsSql}})),
      prefix);
}

// A run of reads, flattened to one row per id: $4 is the op's index in the
// run. Rows: (op, receipt's sender, seq, id, status) in op and id order. A
// message is delivered when its seq is at or below its inbox's highest
// cursor (the batch holds the inbox's lock, kInboxLockSql): read before
// that, it gets its delivered receipt here and an early_reads row, which
// keeps the ack that covers it from giving a second one.
constexpr const char* kReadSql = R"sql(
WITH inp AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[])
    WITH ORDINALITY AS t(user_id, id, ts, op, pos)),
firsts AS (
  SELECT DISTINCT ON (i.id, i.user_id) i.* FROM inp i ORDER BY i.id, i.user_id, i.pos),
locked AS (
  SELECT m.message_id, m.status, m.seq, m.sender, f.op, f.pos, f.user_id, f.ts
  FROM firsts f JOIN {p}messages m ON m.message_id = f.id AND m.recipient = f.user_id
  WHERE m.status < 2 ORDER BY m.message_id FOR UPDATE OF m),
was AS (
  SELECT l.*, CASE WHEN l.seq <= coalesce(d.acked, 0) THEN 1 ELSE 0 END AS was_status
  FROM locked l
  LEFT JOIN (SELECT user_id, max(acked) AS acked FROM {p}devices
             WHERE user_id = ANY($1::text[]) GROUP BY user_id) d ON d.user_id = l.user_id),
marked AS (
  UPDATE {p}messages m SET status = 2 FROM was w
  WHERE m.message_id = w.message_id AND m.recipient = w.user_id),
early AS (
  INSERT INTO {p}early_reads (user_id, seq)
  SELECT w.user_id, w.seq FROM was w WHERE w.was_status = 0
  ON CONFLICT DO NOTHING),
items AS (
  SELECT w.op AS ord, w.pos, w.sender, w.message_id, w.user_id AS by_user, s.st, w.ts
  FROM was w CROSS JOIN (VALUES (1::int2), (2::int2)) s(st) WHERE s.st > w.was_status)
{receipts}
SELECT x.ord, x.sender, x.seq, x.message_id, x.st FROM receipts x ORDER BY x.ord, x.pos, x.st)sql";

// A receipt a query returned: ReceiptEventOf(id, by, status, ts) at `seq`
// in `sender`'s inbox.
Appended ReceiptRow(UserId sender, std::int64_t seq, MessageId id, const UserId& by,
                    MessageStatus status, TimeMs ts) {
  Event e = ReceiptEventOf(id, by, status, ts);
  e.seq = static_cast<Seq>(seq);
  return Appended{std::move(sender), std::move(e)};
}

std::string WithReceipts(const char* sql, absl::string_view prefix) {
  return WithPrefix(ExpandFragments(sql), prefix);
}

std::int64_t Ord(const PGresult* r, int row) { return PgInt(r, row, 0); }


// The receipts of ack_grouped's rows after the first (pg_schema.cc): each
// row a sender's run of them, (sender, base, ids, positions) with the k-th
// id at seq base + k of the sender's inbox for the message at the k-th
// position of the acked inbox. In the acked inbox's seq order, as the
// statements give theirs.
absl::StatusOr<std::vector<Appended>> GroupedReceipts(const PGresult* r, const AckOp& ack) {
  std::vector<std::pair<std::int64_t, Appended>> placed;
  for (int i = 1; i < PQntuples(r); ++i) {
    const std::string sender = PgBytes(r, i, 2);
    const std::int64_t base = PgInt(r, i, 3);
    const std::vector<absl::string_view> ids =
        absl::StrSplit(absl::string_view(PQgetvalue(r, i, 4), PQgetlength(r, i, 4)), ',');
    const std::vector<absl::string_view> positions =
        absl::StrSplit(absl::string_view(PQgetvalue(r, i, 5), PQgetlength(r, i, 5)), ',');
    if (ids.size() != positions.size()) {
      return absl::InternalError("postgres: ack_grouped gave ids and positions of unlike counts");
    }
    for (std::size_t k = 0; k < ids.size(); ++k) {
      std::int64_t pos = 0;
      if (!absl::SimpleAtoi(positions[k], &pos)) {
        return absl::InternalError("postgres: ack_grouped gave a position that is no number");
      }
      placed.emplace_back(pos, ReceiptRow(sender, base + static_cast<std::int64_t>(k) + 1,
                                          MessageId(ids[k]), ack.user, MessageStatus::kDelivered,
                                          ack.ts));
    }
  }
  std::sort(placed.begin(), placed.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<Appended> out;
  out.reserve(placed.size());
  for (auto& p : placed) out.push_back(std::move(p.second));
  return out;
}

// The call of one valid op (not an attach) to its schema function.
PgQuery OneQuery(const WriteOp& op) {
  if (const auto* a = std::get_if<AppendOp>(&op)) {
    return PgQuery{"append", "",
                   {TextParam(a->sender), BytesParam(a->cid), TextParam(a->recipient),
                    TextParam(a->id), BytesParam(a->body), IntParam(a->ts),
                    IntParam(ClampToBigint(a->max_undelivered))}};
  }
  if (const auto* a = std::get_if<AckOp>(&op)) {
    return PgQuery{"ack_grouped", "",
                   {TextParam(a->user), TextParam(a->device),
                    IntParam(static_cast<std::int64_t>(a->seq)), IntParam(a->ts)}};
  }
  const auto& r = std::get<ReadOp>(op);
  // Ids that cannot name a message are ignored, as unknown ids are (valid
  // ids need no quoting inside the array literal).
  std::string array = "{";
  for (const MessageId& id : r.ids) {
    if (!ValidateMessageId(id).ok()) continue;
    absl::StrAppend(&array, array.size() > 1 ? "," : "", "\"", id, "\"");
  }
  array += "}";
  return PgQuery{"read", "", {TextParam(r.user), TextParam(array), IntParam(r.ts)}};
}

// The answer of one op's function call.
absl::StatusOr<WriteResult> OneResult(const WriteOp& op, const PGresult* r) {
  const int rows = PQntuples(r);
  if (const auto* a = std::get_if<AppendOp>(&op)) {
    if (rows != 1) return absl::InternalError("postgres: append returned no row");
    switch (PgInt(r, 0, 0)) {
      case 0: break;
      case 1:  // the function tells no count: at least the limit
        return QueueFullError(a->recipient, a->max_undelivered, a->max_undelivered);
      default: return MessageIdTakenError(a->recipient, a->id);
    }
    AppendResult out;
    out.id = PgBytes(r, 0, 1);
    out.seq = static_cast<Seq>(PgInt(r, 0, 2));
    out.ts = PgInt(r, 0, 3);
    out.duplicate = PgBool(r, 0, 4);
    if (!out.duplicate) {
      Event e = MessageEventOf(*a);
      e.seq = out.seq;
      out.appended.push_back(Appended{a->recipient, std::move(e)});
    }
    return out;
  }
  if (const auto* a = std::get_if<AckOp>(&op)) {
    if (rows < 1) return absl::InternalError("postgres: ack returned no row");
    if (PgInt(r, 0, 0) != 0) {
      return AckBeyondHeadError(*a, static_cast<Seq>(PgInt(r, 0, 1)));
    }
    AckResult out;
    out.cursor = static_cast<Seq>(PgInt(r, 0, 1));
    COURIER_ASSIGN_OR_RETURN(out.appended, GroupedReceipts(r, *a));
    return out;
  }
  const auto& rd = std::get<ReadOp>(op);
  ReadResult out;
  for (int i = 0; i < rows; ++i) {
    out.appended.push_back(ReceiptRow(PgBytes(r, i, 0), PgInt(r, i, 1), PgBytes(r, i, 2), rd.user,
                                      static_cast<MessageStatus>(PgInt(r, i, 3)), rd.ts));
  }
  return out;
}

}  // namespace

bool OpensWithSetBasedAppends(absl::Span<const WriteOp> ops) {
  if (ops.size() < kSetBasedMinRun) return false;
  for (std::size_t i = 0; i < kSetBasedMinRun; ++i) {
    if (!std::holds_alternative<AppendOp>(ops[i])) return false;
  }
  return true;
}

std::vector<PgStatement> WriteStatements(absl::string_view prefix) {
  return {
      {"heads_new", WithPrefix(kHeadsNewSql, prefix)},
      {"heads_lock", WithPrefix(kHeadsLockSql, prefix)},
      {"append_many", WithReceipts(kAppendLockedSql, prefix)},
      {"append_speculative", WithPrefix(kAppendNumberedSql, prefix)},
      {"inbox_lock", absl::StrReplaceAll(kInboxLockSql,
                                         {{"{key}", InboxLockKeySql("u", prefix)}})},
      {"ack_many", AckSql(/*one_each=*/false, prefix)},
      {"ack_one_each", AckSql(/*one_each=*/true, prefix)},
      {"read_many", WithReceipts(kReadSql, prefix)},
      {"attach", WithPrefix("SELECT * FROM {p}attach($1, $2)", prefix)},
      {"append", WithPrefix("SELECT * FROM {p}append($1, $2, $3, $4, $5, $6, $7)", prefix)},
      {"ack_grouped", WithPrefix("SELECT * FROM {p}ack_grouped($1, $2, $3, $4)", prefix)},
      {"read", WithPrefix("SELECT * FROM {p}read($1, $2::text[], $3)", prefix)},
  };
}

WritePlan::WritePlan(absl::Span<const WriteOp> ops,
                     std::vector<absl::StatusOr<WriteResult>>& results, bool own_transaction,
                     bool staged, const HeadPredictions* predictions)
    : ops_(ops), predictions_(staged ? predictions : nullptr) {
  if (own_transaction) queries_.push_back(PgQuery{"", "BEGIN", {}});
  std::vector<bool> valid_ops(ops.size(), false);
  PgArray locked_inboxes(PgElement::kText);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    absl::Status valid = ValidateWriteOp(ops[i]);
    if (!valid.ok()) {
      results[i] = std::move(valid);
      continue;
    }
    valid_ops[i] = true;
    if (const auto* a = std::get_if<AckOp>(&ops[i])) locked_inboxes.Add(a->user);
    if (const auto* r = std::get_if<ReadOp>(&ops[i])) locked_inboxes.Add(r->user);
  }
  if (locked_inboxes.size() > 0) {
    queries_.push_back(PgQuery{"inbox_lock", "", {std::move(locked_inboxes).Take()}});
  }
  Run run;
  absl::flat_hash_set<std::pair<std::string_view, std::string_view>> keys;  // (sender, cid)
  absl::flat_hash_set<std::string_view> ids;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (!valid_ops[i]) continue;
    const auto kind = static_cast<Kind>(ops[i].index());
    // A run of appends holds each (sender, cid) and each id once: a repeat
    // starts the next run, which sees the first one's effect.
    bool repeat = false;
    if (const auto* a = std::get_if<AppendOp>(&ops[i])) {
      repeat = !keys.emplace(a->sender, a->cid).second;
      repeat = !ids.emplace(a->id).second || repeat;
    }
    if (!run.ops.empty() && (run.kind != kind || repeat)) {
      AddRun(std::move(run));
      run = Run();
      keys.clear();
      ids.clear();
      if (const auto* a = std::get_if<AppendOp>(&ops[i])) {
        keys.emplace(a->sender, a->cid);
        ids.emplace(a->id);
      }
    }
    run.kind = kind;
    run.ops.push_back(i);
    sent_.push_back(i);
  }
  if (!run.ops.empty()) AddRun(std::move(run));
  if (own_transaction) queries_.push_back(PgQuery{"", "COMMIT", {}});
}

void WritePlan::AddRun(Run run) {
  run.first_query = queries_.size();
  run.one_by_one = run.kind != Kind::kAttach && run.ops.size() < kSetBasedMinRun;
  if (run.one_by_one) {
    for (std::size_t i : run.ops) queries_.push_back(OneQuery(ops_[i]));
    runs_.push_back(std::move(run));
    return;
  }
  switch (run.kind) {
    case Kind::kAppend:
      // Only a run that opens the batch speculates: a later one would have
      // to predict the effects of the runs before it.
      if (predictions_ != nullptr && runs_.empty()) {
        AddNumberedAppends(run);
      } else {
        AddLockedAppends(run);
      }
      break;
    case Kind::kAttach:
      for (std::size_t i : run.ops) {
        const auto& a = std::get<AttachOp>(ops_[i]);
        queries_.push_back(PgQuery{"attach", "", {TextParam(a.user), TextParam(a.device)}});
      }
      break;
    case Kind::kAck: {
      PgArray user(PgElement::kText), device(PgElement::kText), seq(PgElement::kInt8),
          ts(PgElement::kInt8);
      absl::flat_hash_set<absl::string_view> users;
      bool one_each = true;
      for (std::size_t i : run.ops) {
        const auto& a = std::get<AckOp>(ops_[i]);
        one_each = users.insert(a.user).second && one_each;
        user.Add(a.user);
        device.Add(a.device);
        seq.AddInt(static_cast<std::int64_t>(a.seq));
        ts.AddInt(a.ts);
      }
      run.answer = queries_.size();
      queries_.push_back(PgQuery{one_each ? "ack_one_each" : "ack_many", "",
                                 {std::move(user).Take(), std::move(device).Take(),
                                  std::move(seq).Take(), std::move(ts).Take()}});
      break;
    }
    case Kind::kRead: {
      // Ids that cannot name a message are ignored, as unknown ids are.
      PgArray user(PgElement::kText), id(PgElement::kText), ts(PgElement::kInt8),
          op(PgElement::kInt8);
      for (std::size_t k = 0; k < run.ops.size(); ++k) {
        const auto& r = std::get<ReadOp>(ops_[run.ops[k]]);
        for (const MessageId& m : r.ids) {
          if (!ValidateMessageId(m).ok()) continue;
          user.Add(r.user);
          id.Add(m);
          ts.AddInt(r.ts);
          op.AddInt(static_cast<std::int64_t>(k));
        }
      }
      if (id.size() == 0) {
        run.sent_nothing = true;  // every result is empty
        break;
      }
      queries_.push_back(PgQuery{"read_many", "",
                                 {std::move(user).Take(), std::move(id).Take(),
                                  std::move(ts).Take(), std::move(op).Take()}});
      break;
    }
  }
  runs_.push_back(std::move(run));
}

void WritePlan::AddLockedAppends(Run& run) {
  PgArray sender(PgElement::kText), cid(PgElement::kBytea), recipient(PgElement::kText),
      id(PgElement::kText), body(PgElement::kBytea), ts(PgElement::kInt8), limit(PgElement::kInt8);
  for (std::size_t i : run.ops) {
    const auto& a = std::get<AppendOp>(ops_[i]);
    sender.Add(a.sender);
    cid.Add(a.cid);
    recipient.Add(a.recipient);
    id.Add(a.id);
    body.Add(a.body);
    ts.AddInt(a.ts);
    limit.AddInt(ClampToBigint(a.max_undelivered));
  }
  PgParam recipients = std::move(recipient).Take();
  queries_.push_back(PgQuery{"heads_new", "", {recipients}});
  queries_.push_back(PgQuery{"heads_lock", "", {recipients}});
  run.answer = queries_.size();
  queries_.push_back(PgQuery{"append_many", "",
                             {std::move(sender).Take(), std::move(cid).Take(),
                              std::move(recipients), std::move(id).Take(), std::move(body).Take(),
                              std::move(ts).Take(), std::move(limit).Take()}});
}

void WritePlan::AddNumberedAppends(Run& run) {
  // The recipients in the order they first appear, each with its ops in
  // batch order.
  struct Group {
    absl::string_view user;
    std::vector<std::size_t> at;  // indexes into run.ops
  };
  std::vector<Group> groups;
  absl::flat_hash_map<absl::string_view, std::size_t> group_of;
  for (std::size_t k = 0; k < run.ops.size(); ++k) {
    const auto& a = std::get<AppendOp>(ops_[run.ops[k]]);
    const auto [it, added] = group_of.try_emplace(a.recipient, groups.size());
    if (added) groups.push_back(Group{a.recipient, {}});
    groups[it->second].at.push_back(k);
  }
  PgArray sender(PgElement::kText), cid(PgElement::kBytea), recipient(PgElement::kText),
      id(PgElement::kText), ts(PgElement::kInt8), rank(PgElement::kInt8), body(PgElement::kBytea);
  PgArray g_user(PgElement::kText), g_base(PgElement::kInt8), g_n(PgElement::kInt8),
      g_lo(PgElement::kInt8), g_slack(PgElement::kInt8), g_min_ts(PgElement::kInt8);
  run.place.assign(run.ops.size(), {0, 0});
  std::int64_t lo = 1;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    std::int64_t k = 0;
    std::int64_t limit_so_far = std::numeric_limits<std::int64_t>::max();
    std::int64_t slack = std::numeric_limits<std::int64_t>::max();
    std::int64_t min_ts = std::numeric_limits<std::int64_t>::max();
    for (std::size_t at : groups[g].at) {
      const auto& a = std::get<AppendOp>(ops_[run.ops[at]]);
      ++k;
      limit_so_far = std::min(limit_so_far, ClampToBigint(a.max_undelivered));
      slack = std::min(slack, limit_so_far - k);
      min_ts = std::min(min_ts, a.ts);
      run.place[at] = {static_cast<std::uint32_t>(g + 1), static_cast<Seq>(k)};
      sender.Add(a.sender);
      cid.Add(a.cid);
      recipient.Add(a.recipient);
      id.Add(a.id);
      ts.AddInt(a.ts);
      rank.AddInt(k);
      body.Add(a.body);
    }
    g_user.Add(groups[g].user);
    const auto predicted = predictions_->find(groups[g].user);
    if (predicted != predictions_->end()) {
      g_base.AddInt(static_cast<std::int64_t>(predicted->second));
    } else {
      g_base.AddNull();
    }
    g_n.AddInt(k);
    g_lo.AddInt(lo);
    g_slack.AddInt(slack);
    g_min_ts.AddInt(min_ts);
    lo += k;
  }
  run.numbered = true;
  queries_.push_back(PgQuery{"", kGenericPlansSql, {}});
  run.answer = queries_.size();
  queries_.push_back(PgQuery{
      "append_speculative", "",
      {std::move(sender).Take(), std::move(cid).Take(), std::move(recipient).Take(),
       std::move(id).Take(), std::move(ts).Take(), std::move(rank).Take(),
       std::move(g_user).Take(), std::move(g_base).Take(), std::move(g_n).Take(),
       std::move(g_lo).Take(), std::move(g_slack).Take(), std::move(g_min_ts).Take(),
       std::move(body).Take()}});
  queries_.push_back(PgQuery{"", kCustomPlansSql, {}});
  speculative_ = true;
}

void WritePlan::CollectNumbered(const Run& run, const PGresult* r,
                                std::vector<absl::StatusOr<WriteResult>>& results) const {
  // Every op was stored (the statement fails otherwise): the k-th of its
  // recipient's ops is at the head the row gives + k.
  std::uint32_t groups = 0;
  for (const auto& [g, k] : run.place) groups = std::max(groups, g);
  std::vector<std::optional<Seq>> heads(groups + 1);
  for (int row = 0; row < PQntuples(r); ++row) {
    const std::int64_t g = PgInt(r, row, 0);
    if (g >= 1 && g <= static_cast<std::int64_t>(groups)) {
      heads[static_cast<std::size_t>(g)] = static_cast<Seq>(PgInt(r, row, 1));
    }
  }
  for (std::size_t k = 0; k < run.ops.size(); ++k) {
    const auto& a = std::get<AppendOp>(ops_[run.ops[k]]);
    const auto [g, rank] = run.place[k];
    if (!heads[g].has_value()) {
      results[run.ops[k]] = absl::InternalError("postgres: append returned no row");
      continue;
    }
    AppendResult res;
    res.id = a.id;
    res.seq = *heads[g] + rank;
    res.ts = a.ts;
    Event e = MessageEventOf(a);
    e.seq = res.seq;
    res.appended.push_back(Appended{a.recipient, std::move(e)});
    results[run.ops[k]] = std::move(res);
  }
}

void WritePlan::Collect(absl::Span<const PgResult> answers,
                        std::vector<absl::StatusOr<WriteResult>>& results) const {
  for (const Run& run : runs_) {
    const std::size_t n = run.ops.size();
    if (run.one_by_one) {
      for (std::size_t k = 0; k < n; ++k) {
        results[run.ops[k]] =
            OneResult(ops_[run.ops[k]], answers[run.first_query + k].get());
      }
      continue;
    }
    switch (run.kind) {
      case Kind::kAppend: {
        const PGresult* r = answers[run.answer].get();
        if (run.numbered) {
          CollectNumbered(run, r, results);
          break;
        }
        const std::size_t rows = n;
        if (PQntuples(r) != static_cast<int>(rows)) {
          for (std::size_t i : run.ops) {
            results[i] = absl::InternalError("postgres: append returned no row");
          }
          break;
        }
        for (int row = 0; row < static_cast<int>(rows); ++row) {
          const std::int64_t ord = Ord(r, row);
          if (ord < 1 || ord > static_cast<std::int64_t>(rows)) continue;
          const std::size_t k = static_cast<std::size_t>(ord - 1);
          const auto& a = std::get<AppendOp>(ops_[run.ops[k]]);
          auto& out = results[run.ops[k]];
          switch (PgInt(r, row, 1)) {
            case 0: break;
            case 1:
              out = QueueFullError(a.recipient, static_cast<std::uint64_t>(PgInt(r, row, 6)),
                                   a.max_undelivered);
              continue;
            default:
              out = MessageIdTakenError(a.recipient, a.id);
              continue;
          }
          AppendResult res;
          res.id = PgBytes(r, row, 2);
          res.seq = static_cast<Seq>(PgInt(r, row, 3));
          res.ts = PgInt(r, row, 4);
          res.duplicate = PgBool(r, row, 5);
          if (!res.duplicate) {
            Event e = MessageEventOf(a);
            e.seq = res.seq;
            res.appended.push_back(Appended{a.recipient, std::move(e)});
          }
          out = std::move(res);
        }
        break;
      }
      case Kind::kAttach:
        for (std::size_t k = 0; k < n; ++k) {
          const PGresult* r = answers[run.first_query + k].get();
          if (PQntuples(r) != 1) {
            results[run.ops[k]] = absl::InternalError("postgres: attach returned no row");
            continue;
          }
          results[run.ops[k]] =
              AttachResult{static_cast<Seq>(PgInt(r, 0, 0)), static_cast<Seq>(PgInt(r, 0, 1))};
        }
        break;
      case Kind::kAck: {
        const PGresult* r = answers[run.answer].get();
        std::vector<AckResult> acks(n);
        std::vector<bool> refused(n, false);
        std::vector<std::int64_t> heads(n, 0);
        std::vector<bool> seen(n, false);
        for (int row = 0; row < PQntuples(r); ++row) {
          const std::int64_t ord = Ord(r, row);
          if (ord < 1 || ord > static_cast<std::int64_t>(n)) continue;
          const std::size_t k = static_cast<std::size_t>(ord - 1);
          if (PgIsNull(r, row, 3)) {  // the op's own row
            seen[k] = true;
            refused[k] = PgInt(r, row, 1) != 0;
            if (refused[k]) {
              heads[k] = PgInt(r, row, 2);
            } else {
              acks[k].cursor = static_cast<Seq>(PgInt(r, row, 2));
            }
            continue;
          }
          const auto& a = std::get<AckOp>(ops_[run.ops[k]]);
          acks[k].appended.push_back(ReceiptRow(PgBytes(r, row, 3), PgInt(r, row, 4),
                                                PgBytes(r, row, 5), a.user,
                                                MessageStatus::kDelivered, a.ts));
        }
        for (std::size_t k = 0; k < n; ++k) {
          const auto& a = std::get<AckOp>(ops_[run.ops[k]]);
          if (!seen[k]) {
            results[run.ops[k]] = absl::InternalError("postgres: ack returned no row");
          } else if (refused[k]) {
            results[run.ops[k]] = AckBeyondHeadError(a, static_cast<Seq>(heads[k]));
          } else {
            results[run.ops[k]] = std::move(acks[k]);
          }
        }
        break;
      }
      case Kind::kRead: {
        std::vector<ReadResult> reads(n);
        if (!run.sent_nothing) {
          const PGresult* r = answers[run.first_query].get();
          for (int row = 0; row < PQntuples(r); ++row) {
            const std::int64_t k = Ord(r, row);
            if (k < 0 || k >= static_cast<std::int64_t>(n)) continue;
            const auto& rd = std::get<ReadOp>(ops_[run.ops[static_cast<std::size_t>(k)]]);
            reads[static_cast<std::size_t>(k)].appended.push_back(
                ReceiptRow(PgBytes(r, row, 1), PgInt(r, row, 2), PgBytes(r, row, 3), rd.user,
                           static_cast<MessageStatus>(PgInt(r, row, 4)), rd.ts));
          }
        }
        for (std::size_t k = 0; k < n; ++k) results[run.ops[k]] = std::move(reads[k]);
        break;
      }
    }
  }
}

}  // namespace courier::postgres
