// What a speculative append predicts (pipelined commits, postgres.h): the
// heads of the inboxes that batches still committing wrote to.
//
// With pipelined commits a batch's COMMIT is still on its way to the disk
// when the next batch is written on another connection. That batch's
// appends do not wait for the counter rows the first one holds: they take
// their seqs from the heads recorded here (from the first batch's results)
// and check at the end that the rows moved exactly from there
// (pg_write_batch.cc, kAppendNumberedSql). An inbox no batch still committing
// wrote to is not listed: its head is read as it stands.
//
// Internal to courier::postgres (not installed).
// Thread-safety: safe for concurrent use (one mutex): batches are recorded
//   by the commit queue's writing thread and committed by its sync thread.
// Blocking: never (the mutex is held for a map update).
#ifndef COURIER_ADAPTERS_POSTGRES_PG_STAGED_HEADS_H_
#define COURIER_ADAPTERS_POSTGRES_PG_STAGED_HEADS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "courier/message_store.h"
#include "courier/sync.h"
#include "pg_write_batch.h"

namespace courier::postgres {

class StagedHeads {
 public:
  // After a failed speculation, this many batches are written locked: a
  // head another server keeps moving is not predicted over and over.
  static constexpr int kBackoffBatches = 16;

  // Fills `out` with the recorded heads of the recipients of `ops`'
  // appends; false when this batch should not speculate (backing off).
  bool Predict(absl::Span<const WriteOp> ops, HeadPredictions& out);
  // Records the heads that a batch's results moved (the highest seq it
  // appended to each inbox: messages and receipts); returns the batch's
  // number for Committed.
  std::uint64_t Record(absl::Span<const absl::StatusOr<WriteResult>> results);
  // Batch `batch` committed (`ok`): its heads are what every reader sees
  // now, and the entries no later batch rewrote go. Not committed (or not
  // known to be): every entry goes, since later batches' records may rest
  // on it (their own checks fail, and their rewrites find the heads again).
  void Committed(std::uint64_t batch, bool ok);
  // A speculative batch failed: the next kBackoffBatches do not speculate.
  void Failed();
  // A batch was written and committed outside the pipeline (Write): the
  // heads it moved are not recorded, so nothing recorded is trusted.
  void Forget();

  // Entries held (for tests).
  std::size_t size() const;

 private:
  struct Entry {
    Seq head = 0;
    std::uint64_t batch = 0;
  };
  mutable Mutex mu_;
  absl::flat_hash_map<std::string, Entry> heads_ ABSL_GUARDED_BY(mu_);
  std::uint64_t next_batch_ ABSL_GUARDED_BY(mu_) = 1;
  int backoff_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace courier::postgres

#endif  // COURIER_ADAPTERS_POSTGRES_PG_STAGED_HEADS_H_
