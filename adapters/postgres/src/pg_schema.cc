#include "pg_schema.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "courier/status.h"

namespace courier::postgres {
namespace {

// The tables change by numbered migrations: migration i takes them from
// version i to i + 1. Never edit one that has shipped: append a new one.
// The functions are kept once, as they are now, in kFunctions, which every
// upgrade runs after its migrations. A change to what a function does is
// made there together with a new migration (an empty one will do), so that
// databases at the previous version re-create the functions; a rewrite
// that changes nothing they do needs none. CREATE OR REPLACE cannot change
// a function's parameters or result columns: to change those, drop the
// old function in the new migration.
const char* const kMigrations[] = {
    // --- 0 -> 1: inboxes, devices, messages, accounts.
    R"sql(
CREATE TABLE {p}heads (
  user_id text PRIMARY KEY,
  head bigint NOT NULL DEFAULT 0
);
CREATE TABLE {p}devices (
  user_id text NOT NULL,
  device_id text NOT NULL,
  acked bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, device_id)
);
CREATE TABLE {p}events (
  user_id text NOT NULL,
  seq bigint NOT NULL,
  kind smallint NOT NULL,
  message_id text NOT NULL,
  peer text NOT NULL,
  body bytea NOT NULL,
  status smallint NOT NULL,
  ts bigint NOT NULL,
  PRIMARY KEY (user_id, seq)
);
CREATE INDEX {p}events_ts ON {p}events (ts);
CREATE TABLE {p}messages (
  message_id text PRIMARY KEY,
  recipient text NOT NULL,
  sender text NOT NULL,
  cid bytea NOT NULL,
  seq bigint NOT NULL,
  ts bigint NOT NULL,
  status smallint NOT NULL
);
CREATE UNIQUE INDEX {p}messages_sender_cid ON {p}messages (sender, cid);
CREATE INDEX {p}messages_recipient_seq ON {p}messages (recipient, seq);
CREATE INDEX {p}messages_undelivered ON {p}messages (recipient, seq) WHERE status = 0;
CREATE TABLE {p}users (
  user_id text PRIMARY KEY,
  password_hash bytea NOT NULL,
  created_ms bigint NOT NULL
);
CREATE TABLE {p}last_seen (
  user_id text PRIMARY KEY,
  seen_ms bigint NOT NULL
);
CREATE TABLE {p}friend_requests (
  from_user text NOT NULL,
  to_user text NOT NULL,
  PRIMARY KEY (from_user, to_user)
);
CREATE INDEX {p}friend_requests_to ON {p}friend_requests (to_user);
CREATE TABLE {p}friends (
  user_id text NOT NULL,
  friend_id text NOT NULL,
  PRIMARY KEY (user_id, friend_id)
);
)sql",

    // --- 1 -> 2: append takes the seq with one upsert on the counter row
    // (INSERT ... ON CONFLICT DO UPDATE SET head = head + 1 RETURNING head),
    // giving it back in the rare queue-full and lost-duplicate cases while
    // the row is still locked: 5 statements instead of 7 on the common path.
    // Functions only (kFunctions).
    "",

    // --- 2 -> 3: prune in bounded chunks (prune_some in kFunctions, each
    // call its own short transaction), so that a large backlog never runs
    // into the statement timeout.
    R"sql(
DROP FUNCTION IF EXISTS {p}prune(bigint, bigint);
)sql",

    // --- 3 -> 4: groups (courier/group.h). A group copy of a message has
    // the same message id in every member's inbox, so a message row is
    // keyed by (message_id, recipient); only the sender's own copy holds
    // the (sender, cid) (the other copies' cid is NULL, which the unique
    // index lets repeat). Events carry their group ('' for 1:1 and
    // receipts). A group is one row holding EncodeGroupRecord's bytes, and
    // group_members indexes (user, group) for GroupsOf and the
    // groups-per-user count. The ack and read functions now name a message
    // row by (message_id, recipient). Re-running it on a version-4 schema
    // changes nothing (tests reset the version to replay migrations).
    R"sql(
ALTER TABLE {p}messages DROP CONSTRAINT {p}messages_pkey;
ALTER TABLE {p}messages ADD PRIMARY KEY (message_id, recipient);
ALTER TABLE {p}messages ALTER COLUMN cid DROP NOT NULL;
ALTER TABLE {p}events ADD COLUMN IF NOT EXISTS group_id text NOT NULL DEFAULT '';
CREATE TABLE IF NOT EXISTS {p}groups (
  group_id text PRIMARY KEY,
  record bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS {p}group_members (
  user_id text NOT NULL,
  group_id text NOT NULL,
  PRIMARY KEY (user_id, group_id)
);
CREATE INDEX IF NOT EXISTS {p}group_members_group ON {p}group_members (group_id);
)sql",

    // --- 4 -> 5: fewer index entries per row (issue 18). A message is
    // delivered by an ack through the (recipient, seq) index from the
    // inbox's highest cursor so far (every message at or below it is
    // delivered already), so the partial index of undelivered messages
    // goes; status is then in no index, and with room left on each page
    // (fillfactor) its changes are HOT updates, which write no index entry.
    // The events' time index, used by prune alone on an append-ordered
    // column, becomes a BRIN index (a few pages per million rows, next to
    // no cost per insert). The names are compared byte by byte (collation
    // "C": they are opaque ids, and the database's locale made every index
    // insert, sort and lock order call strcoll); counter rows are locked in
    // that order. Re-running it changes nothing.
    R"sql(
ALTER TABLE {p}heads ALTER COLUMN user_id TYPE text COLLATE "C";
ALTER TABLE {p}devices ALTER COLUMN user_id TYPE text COLLATE "C",
  ALTER COLUMN device_id TYPE text COLLATE "C";
ALTER TABLE {p}events ALTER COLUMN user_id TYPE text COLLATE "C";
ALTER TABLE {p}messages ALTER COLUMN message_id TYPE text COLLATE "C",
  ALTER COLUMN recipient TYPE text COLLATE "C", ALTER COLUMN sender TYPE text COLLATE "C";
DROP INDEX IF EXISTS {p}messages_undelivered;
ALTER TABLE {p}messages SET (fillfactor = 50);
DROP INDEX IF EXISTS {p}events_ts;
CREATE INDEX IF NOT EXISTS {p}events_ts_brin ON {p}events USING brin (ts);
)sql",

    // --- 5 -> 6: the ack function delivers a wide range (more than 16
    // seqs between the inbox's highest cursor and the new one, as a device
    // coming back to a backlog acks) with one statement:
    // status changes, one counter move per sender (in name order) and the
    // receipt rows; a narrow one still loops, which costs less for one or
    // two messages. Functions only (kFunctions).
    "",

    // --- 6 -> 7: pipelined commits (postgres.h, PostgresOptions::
    // pipelined_commits): check_moved fails a speculative append whose
    // predicted heads another transaction moved, and attach creates the
    // counter row when missing and reads it and the cursor row FOR SHARE,
    // so that it waits for a transaction still committing on another
    // connection and sees what it wrote.
    // Functions only (kFunctions).
    "",

    // --- 7 -> 8: a message's delivered status is derived, not stored
    // (issue 18): a message at or below its inbox's highest cursor is
    // delivered (the acks already relied on that to start their scans), so
    // an ack reads the events it passes (their primary key) and changes no
    // message row, and `messages` loses its (recipient, seq) index. Its
    // status column now says read (2) or not (0; 1 in rows written before).
    // A message read before any ack covered it (its delivered receipt
    // went out with the read) is listed in early_reads until an ack covers
    // it, so that the ack gives it none. A batch's acks and reads first
    // take their inboxes' advisory locks (pg_write_batch.cc, inbox_lock),
    // so that acks and reads of one inbox see what the others committed.
    R"sql(
CREATE TABLE IF NOT EXISTS {p}early_reads (
  user_id text COLLATE "C" NOT NULL,
  seq bigint NOT NULL,
  PRIMARY KEY (user_id, seq)
);
INSERT INTO {p}early_reads (user_id, seq)
SELECT m.recipient, m.seq FROM {p}messages m
WHERE m.status = 2 AND m.seq > coalesce(
  (SELECT max(d.acked) FROM {p}devices d WHERE d.user_id = m.recipient), 0)
ON CONFLICT DO NOTHING;
DROP INDEX IF EXISTS {p}messages_recipient_seq;
)sql",

    // --- 8 -> 9: an inbox's events in segments (issue 18): the events one
    // statement appends to one inbox are one row, keyed by the inbox and
    // its last seq, holding them as parallel arrays in seq order (a batch's
    // 250 messages to one inbox: one row and one index entry, not 250 of
    // each). Reads unnest the segments that reach above a seq; prune
    // removes whole segments, or rewrites one that keeps some of its
    // events. min_ts (the oldest event's time) has the BRIN index prune
    // looks up; n_events lets Fetch take only the segments it needs. The
    // arrays are compressed with lz4 where the server has it: a segment of
    // 250 events went in 0.5 ms with lz4, 0.85 ms stored out of line
    // uncompressed and 2.6 ms with the default pglz (250 event rows:
    // 1.1 ms). The arrays are aggregated from rows sorted once by (inbox,
    // seq): an aggregate takes its rows in the order they come (an ORDER BY
    // in each of the nine sorted them nine times). The events table stays,
    // emptied: the earlier migrations, which tests replay on a current
    // schema, name it. Acks no longer change message rows, so the room left
    // on their pages for HOT status updates (version 5) goes.
    R"sql(
CREATE TABLE IF NOT EXISTS {p}segments (
  user_id text COLLATE "C" NOT NULL,
  last_seq bigint NOT NULL,
  first_seq bigint NOT NULL,
  min_ts bigint NOT NULL,
  n_events int NOT NULL,
  seqs int8[] NOT NULL,
  kinds int2[] NOT NULL,
  ids text[] NOT NULL,
  peers text[] NOT NULL,
  bodies bytea[] NOT NULL,
  statuses int2[] NOT NULL,
  tss int8[] NOT NULL,
  groups text[] NOT NULL,
  PRIMARY KEY (user_id, last_seq)
);
DO $$
BEGIN
  EXECUTE 'ALTER TABLE {p}segments ALTER COLUMN seqs SET COMPRESSION lz4, '
    'ALTER COLUMN kinds SET COMPRESSION lz4, ALTER COLUMN ids SET COMPRESSION lz4, '
    'ALTER COLUMN peers SET COMPRESSION lz4, ALTER COLUMN bodies SET COMPRESSION lz4, '
    'ALTER COLUMN statuses SET COMPRESSION lz4, ALTER COLUMN tss SET COMPRESSION lz4, '
    'ALTER COLUMN groups SET COMPRESSION lz4';
EXCEPTION WHEN OTHERS THEN
  -- A server built without lz4 (or older than 14): stored out of line
  -- uncompressed, which costs less than pglz's attempts.
  EXECUTE 'ALTER TABLE {p}segments ALTER COLUMN seqs SET STORAGE EXTERNAL, '
    'ALTER COLUMN kinds SET STORAGE EXTERNAL, ALTER COLUMN ids SET STORAGE EXTERNAL, '
    'ALTER COLUMN peers SET STORAGE EXTERNAL, ALTER COLUMN bodies SET STORAGE EXTERNAL, '
    'ALTER COLUMN statuses SET STORAGE EXTERNAL, ALTER COLUMN tss SET STORAGE EXTERNAL, '
    'ALTER COLUMN groups SET STORAGE EXTERNAL';
END $$;
CREATE INDEX IF NOT EXISTS {p}segments_min_ts_brin ON {p}segments USING brin (min_ts);
INSERT INTO {p}segments (user_id, last_seq, first_seq, min_ts, n_events, seqs, kinds, ids, peers,
                         bodies, statuses, tss, groups)
SELECT e.user_id, e.seq, e.seq, e.ts, 1, ARRAY[e.seq], ARRAY[e.kind], ARRAY[e.message_id],
       ARRAY[e.peer], ARRAY[e.body], ARRAY[e.status], ARRAY[e.ts], ARRAY[e.group_id]
FROM {p}events e
ON CONFLICT DO NOTHING;
TRUNCATE {p}events;
ALTER TABLE {p}messages SET (fillfactor = 100);
DROP FUNCTION IF EXISTS {p}prune_some(bigint, bigint, bigint);
)sql",

    // --- 9 -> 10: receipts numbered with one sort (kReceiptsSql: a sender's
    // receipts gathered into arrays in order, its segment made of them, no
    // window). Functions only (kFunctions): the ack function's wide range.
    "",

    // --- 10 -> 11: an ack answers one row per sender's run of receipts
    // (ack_grouped in kFunctions), not one per receipt; the old function goes
    // (a server of an older version fails its acks with "function ... does
    // not exist" rather than reading rows of another shape).
    R"sql(
DROP FUNCTION IF EXISTS {p}ack(text, text, bigint, bigint);
)sql",
};

// The last CTEs of a prune statement (prune_some below), given the CTE
// `elems` (user_id, last_seq, seq, kind, message_id, gone) of the
// segments it took apart (every event of each): the segments all of whose
// events go are deleted, the others rewritten with the events that stay;
// the message and early_reads rows of the messages that go go with them.
const char kDeleteDoomed[] = R"sql(whole AS (
    DELETE FROM {p}segments s USING (
      SELECT user_id, last_seq FROM elems GROUP BY user_id, last_seq HAVING bool_and(gone)) w
    WHERE s.user_id = w.user_id AND s.last_seq = w.last_seq),
  kept AS (
    SELECT x.user_id, x.last_seq, max(e.seq) AS new_last, min(e.seq) AS new_first,
           min(e.ts) AS new_min_ts, count(*) AS n, array_agg(e.seq ORDER BY e.seq) AS seqs,
           array_agg(e.kind ORDER BY e.seq) AS kinds, array_agg(e.message_id ORDER BY e.seq) AS ids,
           array_agg(e.peer ORDER BY e.seq) AS peers, array_agg(e.body ORDER BY e.seq) AS bodies,
           array_agg(e.status ORDER BY e.seq) AS statuses, array_agg(e.ts ORDER BY e.seq) AS tss,
           array_agg(e.group_id ORDER BY e.seq) AS groups
    FROM (SELECT user_id, last_seq FROM elems GROUP BY user_id, last_seq
          HAVING bool_or(gone) AND NOT bool_and(gone)) x
    JOIN {p}segments s ON s.user_id = x.user_id AND s.last_seq = x.last_seq
    CROSS JOIN LATERAL unnest(s.seqs, s.kinds, s.ids, s.peers, s.bodies, s.statuses, s.tss,
                              s.groups) AS e(seq, kind, message_id, peer, body, status, ts, group_id)
    WHERE NOT EXISTS (SELECT 1 FROM elems g WHERE g.gone AND g.user_id = x.user_id
                        AND g.last_seq = x.last_seq AND g.seq = e.seq)
    GROUP BY x.user_id, x.last_seq),
  rewritten AS (
    UPDATE {p}segments s SET last_seq = k.new_last, first_seq = k.new_first,
      min_ts = k.new_min_ts, n_events = k.n, seqs = k.seqs, kinds = k.kinds, ids = k.ids, peers = k.peers,
      bodies = k.bodies, statuses = k.statuses, tss = k.tss, groups = k.groups
    FROM kept k WHERE s.user_id = k.user_id AND s.last_seq = k.last_seq),
  msgs AS (
    DELETE FROM {p}messages m USING elems g
    WHERE g.gone AND g.kind = 1 AND m.message_id = g.message_id AND m.recipient = g.user_id),
  reads AS (
    DELETE FROM {p}early_reads r USING elems g
    WHERE g.gone AND g.kind = 1 AND r.user_id = g.user_id AND r.seq = g.seq))sql";

}  // namespace

// Receipts, as one rule for acks and reads (the batch statements of
// pg_write_batch.cc and the ack function below): from a CTE `items` with columns
// (ord, pos, sender, message_id, by_user, st, ts), one receipt event per row
// in the sender's inbox, numbered in (ord, pos, st) order per sender after
// its counter, which is moved once per sender (locked in name order). The
// rows are sorted once: each sender's receipts are gathered into arrays in
// that order (an aggregate takes its rows in the order they come), which
// give its segment as they are (its seqs are consecutive: the counter's
// new head less the count, plus 1 to n) and, unnested with their positions,
// the receipts' seqs. (Until schema version 10 a window per sender numbered
// them, and the segment was aggregated from a second sort.)
// Defines the CTEs `per_sender`, `tops`, `placed`, `receipt_events` (the
// segments) and `receipts` (ord, pos, sender, message_id, by_user, st, ts,
// seq).
const char kReceiptsSql[] = R"sql(,
per_sender AS (
  SELECT x.sender, count(*) AS n, min(x.ts) AS min_ts, array_agg(x.ord) AS ords,
         array_agg(x.pos) AS poss, array_agg(x.message_id) AS ids, array_agg(x.by_user) AS bys,
         array_agg(x.st) AS sts, array_agg(x.ts) AS tss
  FROM (SELECT * FROM items ORDER BY sender, ord, pos, st) x GROUP BY x.sender),
tops AS (
  INSERT INTO {p}heads AS h (user_id, head)
  SELECT sender, n FROM per_sender ORDER BY sender
  ON CONFLICT (user_id) DO UPDATE SET head = h.head + excluded.head
  RETURNING h.user_id, h.head),
placed AS (
  SELECT p.*, t.head - p.n AS base FROM per_sender p JOIN tops t ON t.user_id = p.sender),
receipt_events AS (
  INSERT INTO {p}segments (user_id, last_seq, first_seq, min_ts, n_events, seqs, kinds, ids, peers,
                           bodies, statuses, tss, groups)
  SELECT sender, base + n, base + 1, min_ts, n, ARRAY(SELECT generate_series(base + 1, base + n)),
         array_fill(2::int2, ARRAY[n::int4]), ids, bys, array_fill(''::bytea, ARRAY[n::int4]),
         sts, tss, array_fill(''::text, ARRAY[n::int4])
  FROM placed),
receipts AS (
  SELECT e.ord, e.pos, p.sender, e.message_id, e.by_user, e.st, e.ts, p.base + e.k AS seq
  FROM placed p CROSS JOIN LATERAL unnest(p.ords, p.poss, p.ids, p.bys, p.sts, p.tss)
    WITH ORDINALITY AS e(ord, pos, message_id, by_user, st, ts, k))
)sql";

const char kSegmentsInsertSql[] = R"sql(
  INSERT INTO {p}segments (user_id, last_seq, first_seq, min_ts, n_events, seqs, kinds, ids, peers,
                           bodies, statuses, tss, groups)
  SELECT r.user_id, max(r.seq), min(r.seq), min(r.ts), count(*), array_agg(r.seq),
         array_agg(r.kind), array_agg(r.message_id), array_agg(r.peer), array_agg(r.body),
         array_agg(r.status), array_agg(r.ts), array_agg(r.group_id)
  FROM (SELECT * FROM segment_rows ORDER BY user_id, seq) r GROUP BY r.user_id)sql";

const char kDeliversSql[] = R"sql(
        AND e.kind = 1 AND NOT (e.group_id <> '' AND e.peer = s.user_id)
        AND NOT EXISTS (SELECT 1 FROM early r WHERE r.user_id = s.user_id AND r.seq = e.seq))sql";

namespace {

// The functions of the current schema (see kMigrations), where
// "{delete_doomed}" stands for kDeleteDoomed and the rest as in
// ExpandFragments.
const char kFunctions[] = R"sql(
-- Appends a receipt event to p_sender's inbox; returns its seq.
CREATE OR REPLACE FUNCTION {p}receipt(p_sender text, p_id text, p_by text, p_status smallint,
                                      p_ts bigint) RETURNS bigint LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE v_seq bigint;
BEGIN
  INSERT INTO {p}heads AS h (user_id, head) VALUES (p_sender, 1)
    ON CONFLICT (user_id) DO UPDATE SET head = h.head + 1
    RETURNING h.head INTO v_seq;
  INSERT INTO {p}segments (user_id, last_seq, first_seq, min_ts, n_events, seqs, kinds, ids, peers,
                           bodies, statuses, tss, groups)
    VALUES (p_sender, v_seq, v_seq, p_ts, 1, ARRAY[v_seq], ARRAY[2::int2], ARRAY[p_id], ARRAY[p_by],
            ARRAY[''::bytea], ARRAY[p_status], ARRAY[p_ts], ARRAY[''::text]);
  RETURN v_seq;
END $$;

-- AppendOp. r_code: 0 ok, 1 queue full (r_seq = head), 2 id already used.
CREATE OR REPLACE FUNCTION {p}append(p_sender text, p_cid bytea, p_recipient text,
                                     p_id text, p_body bytea, p_ts bigint, p_max bigint,
                                     OUT r_code int, OUT r_id text, OUT r_seq bigint,
                                     OUT r_ts bigint, OUT r_dup boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE v_seq bigint; v_acked bigint;
BEGIN
  r_code := 0; r_dup := true;
  SELECT m.message_id, m.seq, m.ts INTO r_id, r_seq, r_ts
    FROM {p}messages m WHERE m.sender = p_sender AND m.cid = p_cid;
  IF FOUND THEN RETURN; END IF;
  -- Takes the next seq and locks the counter row until commit.
  INSERT INTO {p}heads AS h (user_id, head) VALUES (p_recipient, 1)
    ON CONFLICT (user_id) DO UPDATE SET head = h.head + 1
    RETURNING h.head INTO v_seq;
  SELECT coalesce(max(d.acked), 0) INTO v_acked FROM {p}devices d
    WHERE d.user_id = p_recipient;
  IF v_seq - 1 - v_acked >= p_max THEN
    UPDATE {p}heads SET head = head - 1 WHERE user_id = p_recipient;
    r_code := 1; r_seq := v_seq - 1; r_dup := false; RETURN;
  END IF;
  -- A concurrent send of the same (sender, cid) makes this wait for its
  -- transaction; when that one commits, this one becomes the duplicate.
  INSERT INTO {p}messages (message_id, recipient, sender, cid, seq, ts, status)
    VALUES (p_id, p_recipient, p_sender, p_cid, v_seq, p_ts, 0)
    ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN
    UPDATE {p}heads SET head = head - 1 WHERE user_id = p_recipient;
    SELECT m.message_id, m.seq, m.ts INTO r_id, r_seq, r_ts
      FROM {p}messages m WHERE m.sender = p_sender AND m.cid = p_cid;
    IF FOUND THEN RETURN; END IF;
    r_code := 2; r_dup := false; RETURN;
  END IF;
  INSERT INTO {p}segments (user_id, last_seq, first_seq, min_ts, n_events, seqs, kinds, ids, peers,
                           bodies, statuses, tss, groups)
    VALUES (p_recipient, v_seq, v_seq, p_ts, 1, ARRAY[v_seq], ARRAY[1::int2], ARRAY[p_id],
            ARRAY[p_sender], ARRAY[p_body], ARRAY[0::int2], ARRAY[p_ts], ARRAY[''::text]);
  r_id := p_id; r_seq := v_seq; r_ts := p_ts; r_dup := false;
END $$;

-- AttachOp.
CREATE OR REPLACE FUNCTION {p}attach(p_user text, p_device text, OUT r_cursor bigint,
                                     OUT r_head bigint) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  -- Both inserts wait for a transaction still committing that creates the
  -- row; the reads below, FOR SHARE, for one that moves it: they see the
  -- latest committed rows.
  INSERT INTO {p}devices (user_id, device_id, acked) VALUES (p_user, p_device, 0)
    ON CONFLICT (user_id, device_id) DO NOTHING;
  INSERT INTO {p}heads (user_id, head) VALUES (p_user, 0) ON CONFLICT (user_id) DO NOTHING;
  SELECT d.acked INTO r_cursor FROM {p}devices d
    WHERE d.user_id = p_user AND d.device_id = p_device FOR SHARE;
  r_head := coalesce((SELECT h.head FROM {p}heads h WHERE h.user_id = p_user FOR SHARE), 0);
END $$;

-- Fails a speculative append (pg_write_batch.cc) when fewer counter rows
-- moved from their predicted heads than it wrote to: SQLSTATE 40001, a
-- conflict, which the store answers by writing the batch again.
CREATE OR REPLACE FUNCTION {p}check_moved(p_moved bigint, p_want bigint) RETURNS int
LANGUAGE plpgsql AS $$
BEGIN
  IF p_moved <> p_want THEN
    RAISE EXCEPTION 'courier: an inbox head moved under a pipelined append'
      USING ERRCODE = '40001';
  END IF;
  RETURN 0;
END $$;

-- AckOp. The first row: (r_code, r_cursor, NULLs) with r_code 0 ok, 1 seq >
-- head; then the receipts it made, one row per sender's run of them:
-- (e_user the sender, e_base, e_ids, e_poss), the k-th id of e_ids (comma
-- separated: a message id has no comma) at seq e_base + k of the sender's
-- inbox, for the message at seq k-th of e_poss of the acked inbox. A range of
-- more than 16 seqs is one statement (about five times cheaper per receipt
-- than the loop, which costs less for a message or two; the loop gives a row
-- per receipt). One row per sender, not per receipt (schema version 11): a
-- drain's ack of 2,048 messages from ten senders cost 30 % less backend CPU
-- without the unnest, sort and row per receipt.
CREATE OR REPLACE FUNCTION {p}ack_grouped(p_user text, p_device text, p_seq bigint, p_ts bigint)
  RETURNS TABLE(r_code int, r_cursor bigint, e_user text, e_base bigint, e_ids text,
                e_poss text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE v_head bigint; v_cursor bigint; v_from bigint; m record;
BEGIN
  v_head := coalesce((SELECT h.head FROM {p}heads h WHERE h.user_id = p_user), 0);
  IF p_seq > v_head THEN
    RETURN QUERY SELECT 1, v_head, NULL::text, NULL::bigint, NULL::text, NULL::text;
    RETURN;
  END IF;
  -- Every message up to the inbox's highest cursor is delivered already
  -- (the caller holds the inbox's lock: no other ack or read of it runs).
  v_from := coalesce((SELECT max(d.acked) FROM {p}devices d WHERE d.user_id = p_user), 0);
  INSERT INTO {p}devices AS d (user_id, device_id, acked) VALUES (p_user, p_device, p_seq)
    ON CONFLICT (user_id, device_id) DO UPDATE SET acked = greatest(d.acked, excluded.acked)
    RETURNING d.acked INTO v_cursor;
  RETURN QUERY SELECT 0, v_cursor, NULL::text, NULL::bigint, NULL::text, NULL::text;
  IF v_cursor <= v_from THEN RETURN; END IF;
  IF v_cursor - v_from > 16 THEN
    -- One statement: the batch statements' receipts rule (kReceiptsSql),
    -- its items the delivered messages in seq order; its `placed` rows (a
    -- sender's receipts in order, and where they start) are the answer.
    RETURN QUERY
    WITH early AS (
      DELETE FROM {p}early_reads r
      WHERE r.user_id = p_user AND r.seq > v_from AND r.seq <= v_cursor
      RETURNING r.user_id, r.seq),
    delivered AS (
      SELECT e.message_id, e.peer AS sender, e.seq
      FROM {p}segments s
      CROSS JOIN LATERAL unnest(s.seqs, s.kinds, s.ids, s.peers, s.groups)
        AS e(seq, kind, message_id, peer, group_id)
      WHERE s.user_id = p_user AND s.last_seq > v_from AND s.first_seq <= v_cursor
        AND e.seq > v_from AND e.seq <= v_cursor{delivers}),
    items AS (
      SELECT 0 AS ord, d.seq AS pos, d.sender, d.message_id, p_user AS by_user,
             1::int2 AS st, p_ts AS ts
      FROM delivered d){receipts}
    SELECT 0, v_cursor, p.sender, p.base, array_to_string(p.ids, ','),
           array_to_string(p.poss, ',')
    FROM placed p;
    RETURN;
  END IF;
  FOR m IN WITH early AS (
             DELETE FROM {p}early_reads r
             WHERE r.user_id = p_user AND r.seq > v_from AND r.seq <= v_cursor
             RETURNING r.user_id, r.seq)
           SELECT e.message_id, e.peer AS sender, e.seq
           FROM {p}segments s
           CROSS JOIN LATERAL unnest(s.seqs, s.kinds, s.ids, s.peers, s.groups)
             AS e(seq, kind, message_id, peer, group_id)
           WHERE s.user_id = p_user AND s.last_seq > v_from AND s.first_seq <= v_cursor
             AND e.seq > v_from AND e.seq <= v_cursor{delivers}
           ORDER BY e.seq LOOP
    RETURN QUERY SELECT 0, v_cursor, m.sender,
      {p}receipt(m.sender, m.message_id, p_user, 1::smallint, p_ts) - 1, m.message_id,
      m.seq::text;
  END LOOP;
END $$;

-- ReadOp: one row per receipt (e_user, e_seq, e_id, e_status).
CREATE OR REPLACE FUNCTION {p}read(p_user text, p_ids text[], p_ts bigint)
  RETURNS TABLE(e_user text, e_seq bigint, e_id text, e_status smallint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE v_id text; v_sender text; v_status smallint; v_seq bigint; v_acked bigint;
BEGIN
  -- The highest cursor says which messages are delivered (the caller
  -- holds the inbox's lock: no ack of it runs).
  v_acked := coalesce((SELECT max(d.acked) FROM {p}devices d WHERE d.user_id = p_user), 0);
  FOREACH v_id IN ARRAY p_ids LOOP
    SELECT m.sender, m.status, m.seq INTO v_sender, v_status, v_seq FROM {p}messages m
      WHERE m.message_id = v_id AND m.recipient = p_user FOR UPDATE;
    CONTINUE WHEN NOT FOUND OR v_status >= 2;
    IF v_seq > v_acked THEN
      INSERT INTO {p}early_reads (user_id, seq) VALUES (p_user, v_seq)
        ON CONFLICT DO NOTHING;
      RETURN QUERY SELECT v_sender,
        {p}receipt(v_sender, v_id, p_user, 1::smallint, p_ts), v_id, 1::smallint;
    END IF;
    UPDATE {p}messages SET status = 2 WHERE message_id = v_id AND recipient = p_user;
    RETURN QUERY SELECT v_sender,
      {p}receipt(v_sender, v_id, p_user, 2::smallint, p_ts), v_id, 2::smallint;
  END LOOP;
END $$;

-- Removes events older than p_ttl_before, and those acked by every known
-- device of their inbox and older than p_acked_before, with their message
-- rows, from at most p_limit segments holding about p_limit events (the
-- first segment past the limit is the last one taken). r_removed: how many
-- went; r_more: the limit was reached (call again).
CREATE OR REPLACE FUNCTION {p}prune_some(p_ttl_before bigint, p_acked_before bigint, p_limit bigint)
  RETURNS TABLE(r_removed bigint, r_more boolean) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH floor AS (
    SELECT d.user_id, min(d.acked) AS acked FROM {p}devices d GROUP BY d.user_id),
  cand AS (
    SELECT s.user_id, s.last_seq, coalesce(f.acked, 0) AS acked, s.n_events AS n
    FROM {p}segments s LEFT JOIN floor f ON f.user_id = s.user_id
    WHERE s.min_ts < p_ttl_before
       OR (s.first_seq <= f.acked AND s.min_ts < p_acked_before
           AND EXISTS (SELECT 1 FROM unnest(s.seqs, s.tss) AS x(q, t)
                       WHERE x.q <= f.acked AND x.t < p_acked_before))
    LIMIT p_limit),
  counted AS (
    SELECT c.*, sum(c.n) OVER (ORDER BY c.user_id, c.last_seq) - c.n AS before FROM cand c),
  taken AS (SELECT * FROM counted WHERE before < p_limit),
  elems AS (
    SELECT t.user_id, t.last_seq, e.seq, e.kind, e.message_id,
           e.ts < p_ttl_before OR (e.seq <= t.acked AND e.ts < p_acked_before) AS gone
    FROM taken t JOIN {p}segments s ON s.user_id = t.user_id AND s.last_seq = t.last_seq
    CROSS JOIN LATERAL unnest(s.seqs, s.kinds, s.ids, s.tss) AS e(seq, kind, message_id, ts)),
  {delete_doomed}
  SELECT (SELECT count(*) FROM elems WHERE gone),
         (SELECT count(*) FROM cand) >= p_limit OR (SELECT count(*) FROM elems) >= p_limit;
END $$;

-- Serializes the friendship calls on one pair of users, in either order:
-- the transaction's lock on the pair.
CREATE OR REPLACE FUNCTION {p}lock_pair(p_a text, p_b text) RETURNS void
LANGUAGE sql AS $$
  SELECT pg_advisory_xact_lock(hashtext('{p}' || least(p_a, p_b) || '/' || greatest(p_a, p_b)));
$$;

-- AccountStore.RequestFriend: -1 no such user, 0 requested, 1 became
-- friends, 2 already friends. Serialized per pair so that crossing requests
-- always meet.
CREATE OR REPLACE FUNCTION {p}request_friend(p_from text, p_to text) RETURNS int
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  PERFORM {p}lock_pair(p_from, p_to);
  PERFORM 1 FROM {p}users u WHERE u.user_id = p_to;
  IF NOT FOUND THEN RETURN -1; END IF;
  PERFORM 1 FROM {p}friends f WHERE f.user_id = p_from AND f.friend_id = p_to;
  IF FOUND THEN RETURN 2; END IF;
  DELETE FROM {p}friend_requests r WHERE r.from_user = p_to AND r.to_user = p_from;
  IF FOUND THEN
    INSERT INTO {p}friends (user_id, friend_id) VALUES (p_from, p_to), (p_to, p_from)
      ON CONFLICT DO NOTHING;
    RETURN 1;
  END IF;
  INSERT INTO {p}friend_requests (from_user, to_user) VALUES (p_from, p_to)
    ON CONFLICT DO NOTHING;
  RETURN 0;
END $$;

-- AccountStore.AcceptFriend: false when there is no such request.
CREATE OR REPLACE FUNCTION {p}accept_friend(p_user text, p_requester text) RETURNS boolean
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  PERFORM {p}lock_pair(p_user, p_requester);
  PERFORM 1 FROM {p}friends f WHERE f.user_id = p_user AND f.friend_id = p_requester;
  IF FOUND THEN RETURN true; END IF;
  DELETE FROM {p}friend_requests r WHERE r.from_user = p_requester AND r.to_user = p_user;
  IF NOT FOUND THEN RETURN false; END IF;
  INSERT INTO {p}friends (user_id, friend_id) VALUES (p_user, p_requester),
    (p_requester, p_user) ON CONFLICT DO NOTHING;
  RETURN true;
END $$;
)sql";

}  // namespace

int CurrentSchemaVersion() { return static_cast<int>(std::size(kMigrations)); }

std::string WithPrefix(absl::string_view sql, absl::string_view prefix) {
  return absl::StrReplaceAll(sql, {{"{p}", prefix}});
}

std::string ExpandFragments(absl::string_view sql) {
  return absl::StrReplaceAll(sql, {{"{receipts}", kReceiptsSql},
                                   {"{delivers}", kDeliversSql},
                                   {"{segments_insert}", kSegmentsInsertSql}});
}

std::string InboxLockKeySql(absl::string_view user, absl::string_view prefix) {
  return absl::StrCat("hashtextextended('", prefix, "inbox/' || ", user, ", 0)");
}

absl::Status EnsureSchema(PgConnection& conn, absl::string_view prefix) {
  // The advisory lock makes concurrent openers wait for the first one; the
  // version table is created outside any version.
  COURIER_RETURN_IF_ERROR(conn.RunScript(WithPrefix(
      "BEGIN;"
      "SELECT pg_advisory_xact_lock(hashtext('{p}schema'));"
      "CREATE TABLE IF NOT EXISTS {p}schema_version (version integer NOT NULL);",
      prefix)));
  const std::string version_sql =
      WithPrefix("SELECT coalesce(max(version), 0)::bigint FROM {p}schema_version", prefix);
  PgQuery version_query{"", version_sql, {}};
  auto result = conn.Run(absl::MakeConstSpan(&version_query, 1));
  if (!result.ok()) {
    conn.RunScript("ROLLBACK").IgnoreError();
    return result.status();
  }
  const int version = static_cast<int>(PgInt((*result)[0].get(), 0, 0));
  if (version > CurrentSchemaVersion()) {
    conn.RunScript("ROLLBACK").IgnoreError();
    return absl::FailedPreconditionError(absl::StrCat(
        "postgres: the database schema (", prefix, "schema_version) is version ", version,
        ", newer than this build's ", CurrentSchemaVersion(), "; upgrade courier"));
  }
  std::string script;
  for (int v = version; v < CurrentSchemaVersion(); ++v) {
    absl::StrAppend(&script, WithPrefix(kMigrations[v], prefix));
  }
  if (version < CurrentSchemaVersion()) {
    const std::string functions =
        ExpandFragments(absl::StrReplaceAll(kFunctions, {{"{delete_doomed}", kDeleteDoomed}}));
    absl::StrAppend(&script, WithPrefix(functions, prefix),
                    WithPrefix("DELETE FROM {p}schema_version;", prefix),
                    WithPrefix("INSERT INTO {p}schema_version (version) VALUES (", prefix),
                    CurrentSchemaVersion(), ");");
  }
  absl::StrAppend(&script, "COMMIT;");
  absl::Status s = conn.RunScript(script);
  if (!s.ok()) conn.RunScript("ROLLBACK").IgnoreError();
  return s;
}

}  // namespace courier::postgres
