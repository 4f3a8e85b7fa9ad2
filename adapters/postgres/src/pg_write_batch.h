// The PostgreSQL MessageStore's Write path: a batch of any size as a
// constant number of set-based statements, sent as one pipeline.
//
// A batch is cut into runs of consecutive ops of one kind. A run of appends
// is three prepared statements (create the missing counter rows, lock the
// recipients' counter rows in name order, then one statement that inserts
// every message and event and moves every counter); a run of acks is one
// statement (cursors, status changes, receipts); a run of reads is one
// statement (status changes, receipts); attaches are one call each (rare:
// once per connection), and so is every op of a run shorter than eight,
// where a call of the schema's per-op function (pg_schema.cc) costs less
// than a set-based statement's fixed cost. The statements read the batch
// from binary arrays (pg_array.h) with `unnest(...) WITH ORDINALITY` and
// keep the contract's in-order semantics inside a run with window
// functions: the k-th new message to an inbox gets head + k, the queue
// limit counts the earlier appends of the run, a device's cursor is the
// highest of its acks so far, and a message is delivered by the first ack
// that covers it.
//
// A (sender, cid) or an id repeated among appends starts a new run, which
// sees the first one's effect (the duplicate, or the id taken). Two
// deliberate approximations inside one run (no client can
// produce them): an ack is checked against the head its inbox had when the
// run began (not counting receipts added by earlier acks of the same run),
// and once an append to an inbox is refused as queue-full, the later new
// appends of the run to that inbox are too (the smallest limit so far
// applies), which keeps seqs gapless.
//
// Concurrency: counter rows are locked before seqs are taken and in name
// order (receipts too), so servers writing to the same inboxes wait rather
// than deadlock; a concurrent insert of the same (sender, cid) or id fails
// the batch with a unique violation, which the store answers kAborted; the
// commit queue writes it again, when the first insert is visible as a
// duplicate.
//
// Internal to courier::postgres (not installed).
// Thread-safety: a WritePlan is used by one thread; the functions are pure.
// Blocking: nothing here blocks.
#ifndef COURIER_ADAPTERS_POSTGRES_PG_WRITE_BATCH_H_
#define COURIER_ADAPTERS_POSTGRES_PG_WRITE_BATCH_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "courier/message_store.h"
#include "pg_connection.h"

namespace courier::postgres {

// The statements the write path prepares on every pooled connection, for
// tables named with `prefix`.
std::vector<PgStatement> WriteStatements(absl::string_view prefix);

// A short run costs less as one call per op of the schema's functions
// (pg_schema.cc) than as a set-based statement, whose plan has a fixed cost
// of its own: runs shorter than this go op by op (still one pipeline).
inline constexpr std::size_t kSetBasedMinRun = 8;

// True when `ops` open with kSetBasedMinRun appends: a run that is
// set-based (unless a repeated key or an invalid op cuts it), the one a
// staged batch can write speculatively.
bool OpensWithSetBasedAppends(absl::Span<const WriteOp> ops);

// Inbox -> the head it will have once the transactions still committing
// have committed (pg_staged_heads.h): a speculative append's seqs start
// there.
using HeadPredictions = absl::flat_hash_map<std::string, Seq>;

// One batch: the ops that failed validation, and the queries of the rest.
class WritePlan {
 public:
  // Validates every op; the invalid ones get their error in `results`
  // (which must have ops.size() entries) and are left out. `ops` must
  // outlive the plan. REQUIRES: no op is a GroupSendOp or GroupChangeOp
  // (pg_groups.h applies those, one at a time, between plans).
  // `own_transaction`: the queries begin with BEGIN and end with COMMIT;
  // false, they run inside a transaction the caller opened.
  // `staged` and `predictions` non-null: the batch may be written while a
  // staged one is still committing (pipelined commits), and a run of
  // appends that opens the batch is written speculatively and numbered here
  // (kAppendNumberedSql in pg_write_batch.cc): no counter row is locked
  // first, and the batch fails with kAborted or kAlreadyExists (nothing
  // stored) when another transaction moved one of its inboxes' heads or
  // holds one of its keys, or when an op of the run is a duplicate, names a
  // taken id or is refused (the locked form answers those).
  // The map must outlive the plan. Every plan with acks or reads first takes
  // their inboxes' advisory locks (kInboxLockSql), which also makes them
  // wait for a staged batch that acked or read the same inboxes.
  WritePlan(absl::Span<const WriteOp> ops,
            std::vector<absl::StatusOr<WriteResult>>& results,
            bool own_transaction = true, bool staged = false,
            const HeadPredictions* predictions = nullptr);

  // False when no op is left to send.
  bool empty() const { return runs_.empty(); }
  // [BEGIN], the runs' statements, [COMMIT].
  absl::Span<const PgQuery> queries() const { return queries_; }
  // The indexes of the ops that were sent.
  const std::vector<std::size_t>& sent() const { return sent_; }
  // True when a run was planned speculatively.
  bool speculative() const { return speculative_; }

  // Reads one result per query (as PgConnection::Run returns them for
  // queries()) into `results`.
  void Collect(absl::Span<const PgResult> answers,
               std::vector<absl::StatusOr<WriteResult>>& results) const;

 private:
  enum class Kind { kAppend, kAttach, kAck, kRead };
  struct Run {
    Kind kind = Kind::kAppend;
    std::vector<std::size_t> ops;  // op indexes, in batch order
    std::size_t first_query = 0;   // index in queries_ of its first query
    std::size_t answer = 0;        // a set-based run: the query whose rows answer it
    bool one_by_one = false;       // one schema function call per op
    bool sent_nothing = false;     // a run of reads naming no valid id
    // Appends written speculatively, numbered here (kAppendNumberedSql):
    // per op, its recipient's group (from 1) and its rank k in it.
    bool numbered = false;
    std::vector<std::pair<std::uint32_t, Seq>> place;
  };
  void AddRun(Run run);
  void AddLockedAppends(Run& run);
  void AddNumberedAppends(Run& run);
  void CollectNumbered(const Run& run, const PGresult* r,
                       std::vector<absl::StatusOr<WriteResult>>& results) const;

  absl::Span<const WriteOp> ops_;
  const HeadPredictions* predictions_;
  bool speculative_ = false;
  std::vector<Run> runs_;
  std::vector<PgQuery> queries_;
  std::vector<std::size_t> sent_;
};

}  // namespace courier::postgres

#endif  // COURIER_ADAPTERS_POSTGRES_PG_WRITE_BATCH_H_
