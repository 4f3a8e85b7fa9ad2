// Schema versioning: the tables and functions of courier::postgres.
//
// Internal to courier::postgres (not installed).
// Thread-safety: EnsureSchema may run from several processes at once (it
//   serializes on an advisory lock).
// Blocking: one transaction on `conn`.
#ifndef COURIER_ADAPTERS_POSTGRES_PG_SCHEMA_H_
#define COURIER_ADAPTERS_POSTGRES_PG_SCHEMA_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "pg_connection.h"

namespace courier::postgres {

// The schema version this build writes.
int CurrentSchemaVersion();

// The CTEs that append receipts (pg_schema.cc says what they need and
// define); shared by the batch statements and the ack function.
extern const char kReceiptsSql[];

// The delivered rule, as conditions on an event `e` (seq, kind, peer,
// group_id) of a segment `s` (user_id) that an ack moving its inbox's
// highest cursor from lo to hi passes (lo < e.seq <= hi, which the caller
// states): a message, not a group sender's own copy (stored read), not
// read before (listed in the CTE `early` (user_id, seq), the caller's
// DELETE of its inbox's early_reads rows in (lo, hi]).
extern const char kDeliversSql[];

// One INSERT of segments (schema version 9: an inbox's events of one
// statement as one row) from the CTE `segment_rows` (user_id, seq, kind
// int2, message_id, peer, body, status int2, ts, group_id): one segment per
// user_id, its events in seq order (the rows are sorted once and each
// array_agg takes them in that order, as PostgreSQL's aggregates do).
extern const char kSegmentsInsertSql[];

// `sql` with "{receipts}" (kReceiptsSql), "{delivers}" (kDeliversSql) and
// "{segments_insert}" (kSegmentsInsertSql) written out.
std::string ExpandFragments(absl::string_view sql);

// The key of an inbox's advisory lock as SQL on the text expression `user`
// (pg_write_batch.cc): held by a batch's acks and reads.
std::string InboxLockKeySql(absl::string_view user, absl::string_view prefix);

// Replaces every "{p}" of `sql` with `prefix`.
std::string WithPrefix(absl::string_view sql, absl::string_view prefix);

// Creates the schema when missing and applies the migrations from the
// stored version up to CurrentSchemaVersion(), then (re)creates the current
// functions, in one transaction.
// kFailedPrecondition when the stored version is newer than this build.
absl::Status EnsureSchema(PgConnection& conn, absl::string_view prefix);

}  // namespace courier::postgres

#endif  // COURIER_ADAPTERS_POSTGRES_PG_SCHEMA_H_
