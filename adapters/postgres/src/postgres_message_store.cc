// courier::postgres MessageStore: each Write batch is one pipelined
// transaction of set-based statements (pg_write_batch.h); with pipelined
// commits a batch's COMMIT overlaps the next batch (WriteStaged below,
// postgres.h).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "courier/postgres.h"
#include "courier/status.h"
#include "pg_connection.h"
#include "pg_delete_inbox.h"
#include "pg_groups.h"
#include "pg_schema.h"
#include "pg_staged_heads.h"
#include "pg_write_batch.h"
#include "postgres_common.h"

namespace courier::postgres {
namespace {

// The read-side statements; the write path's come from pg_write_batch.h.
std::vector<PgStatement> Statements(absl::string_view p) {
  std::vector<PgStatement> all = WriteStatements(p);
  for (PgStatement& st : GroupStatements(p)) all.push_back(std::move(st));
  std::vector<PgStatement> reads = {
      // The segments reaching above $2, walked one index probe at a time
      // until they hold $3 events above it (the first one counted as none,
      // so never one too few; every probe has a constant LIMIT 1, which
      // keeps the plan an index scan when the statement's plan is generic:
      // a LIMIT $3 subquery was planned as a bitmap scan of the whole inbox
      // and a sort, 23 ms a page), then unnested and sorted; a one-event
      // segment is read without unnest, which costs twice as much (schema
      // version 9).
      {"fetch", WithPrefix(R"sql(
WITH RECURSIVE walk AS (
  (SELECT s.last_seq, (CASE WHEN s.first_seq > $2 THEN s.n_events ELSE 0 END)::int8 AS got
   FROM {p}segments s WHERE s.user_id = $1 AND s.last_seq > $2 ORDER BY s.last_seq LIMIT 1)
  UNION ALL
  SELECT nx.last_seq, w.got + nx.n_events
  FROM walk w CROSS JOIN LATERAL (
    SELECT s.last_seq, s.n_events FROM {p}segments s
    WHERE s.user_id = $1 AND s.last_seq > w.last_seq ORDER BY s.last_seq LIMIT 1) nx
  WHERE w.got < $3)
SELECT e.seq, e.kind, e.message_id, e.peer, e.body, e.status, e.ts, e.group_id
FROM walk w JOIN {p}segments s ON s.user_id = $1 AND s.last_seq = w.last_seq
CROSS JOIN LATERAL (
  SELECT s.seqs[1], s.kinds[1], s.ids[1], s.peers[1], s.bodies[1], s.statuses[1], s.tss[1],
         s.groups[1]
  WHERE s.n_events = 1
  UNION ALL
  SELECT * FROM unnest(s.seqs, s.kinds, s.ids, s.peers, s.bodies, s.statuses, s.tss, s.groups)
  WHERE s.n_events > 1) AS e(seq, kind, message_id, peer, body, status, ts, group_id)
WHERE e.seq > $2
ORDER BY e.seq LIMIT $3)sql", p)},
      {"head", WithPrefix("SELECT head FROM {p}heads WHERE user_id = $1", p)},
      {"cursor", WithPrefix("SELECT acked FROM {p}devices "
                            "WHERE user_id = $1 AND device_id = $2", p)},
      // Read when marked so; else delivered at or below the inbox's highest
      // cursor (schema version 8).
      {"status", WithPrefix("SELECT CASE WHEN m.status = 2 THEN 2 WHEN m.seq <= coalesce("
                            "(SELECT max(d.acked) FROM {p}devices d WHERE d.user_id = $1), 0) "
                            "THEN 1 ELSE 0 END::int2 FROM {p}messages m "
                            "WHERE m.message_id = $2 AND m.recipient = $1", p)},
      {"prune", WithPrefix("SELECT * FROM {p}prune_some($1, $2, $3)", p)},
      {"ping", "SELECT pg_is_in_recovery()"},
  };
  for (PgStatement& st : reads) all.push_back(std::move(st));
  return all;
}

class PostgresMessageStore final : public MessageStore, public PgStore {
 public:
  explicit PostgresMessageStore(const PostgresOptions& options)
      : PgStore(options, Statements(options.table_prefix)),
        pipelined_(options.pipelined_commits && options.pool_size >= kPipelinedPoolSize) {}

  bool StagesWrites() const override { return pipelined_; }

  // A batch's pipeline ends in its COMMIT, whose result the PendingSync
  // reads (postgres.h, "Pipelined commits").
  StagedWrite WriteStaged(absl::Span<const WriteOp> ops) override {
    if (!pipelined_) return MessageStore::WriteStaged(ops);
    StagedWrite out;
    // Only a batch that opens with a set-based run of appends is staged,
    // where its statement can run beside the committing batch's WAL flush.
    // The rest (acks, reads, short runs, group ops) would wait for the
    // committing batch's rows anyway, and staged they held one more
    // connection from the reads: in W2's drain, 15 % fewer msgs/s. They are
    // written as Write, committed on return.
    if (!OpensWithSetBasedAppends(ops) || std::any_of(ops.begin(), ops.end(), IsGroupOp)) {
      out.results = WriteLocked(ops);
      return out;
    }
    out.results.assign(ops.size(), absl::InternalError("not run"));
    HeadPredictions predictions;
    const bool speculate = heads_.Predict(ops, predictions);
    const WritePlan plan(ops, out.results, /*own_transaction=*/true, /*staged=*/true,
                         speculate ? &predictions : nullptr);
    if (plan.empty()) return out;
    absl::Status failure;
    {
      absl::StatusOr<PgPool::Lease> lease = pool_.Acquire();
      if (!lease.ok()) {
        failure = lease.status();
      } else {
        absl::StatusOr<std::vector<PgResult>> run = (*lease)->RunHoldingLast(plan.queries());
        if (run.ok()) {
          plan.Collect(*run, out.results);
          const std::uint64_t batch = heads_.Record(out.results);
          out.sync = std::make_unique<PendingCommit>(heads_, std::move(*lease), batch);
          return out;
        }
        failure = run.status();
      }
    }
    if (!IsConflict(failure)) {
      for (std::size_t i : plan.sent()) out.results[i] = failure;
      return out;
    }
    // A conflict: another server's key or head, or (speculating) a batch
    // still committing. Written again the locked way, committed here.
    // A head moved elsewhere (kAborted) stops speculation for a while; a
    // duplicate send (kAlreadyExists: a retransmit) does not.
    if (plan.speculative() && absl::IsAborted(failure)) heads_.Failed();
    out.results = WriteLocked(ops);
    return out;
  }

  std::vector<absl::StatusOr<WriteResult>> Write(absl::Span<const WriteOp> ops) override {
    if (std::any_of(ops.begin(), ops.end(), IsGroupOp)) return WriteWithGroups(ops);
    std::vector<absl::StatusOr<WriteResult>> results(ops.size(),
                                                     absl::InternalError("not run"));
    // With pipelined commits a batch may be written while a staged one is
    // still committing: its acks lock their devices' rows first (staged).
    const WritePlan plan(ops, results, /*own_transaction=*/true, /*staged=*/pipelined_);
    if (plan.empty()) return results;

    absl::StatusOr<std::vector<PgResult>> run = pool_.Run(plan.queries());
    if (run.ok()) {
      plan.Collect(*run, results);
    } else {
      const absl::Status failure = BatchFailure(run.status());
      for (std::size_t i : plan.sent()) results[i] = failure;
    }
    return results;
  }

  absl::StatusOr<std::vector<Event>> Fetch(const UserId& user, Seq after,
                                           std::size_t limit) override {
    COURIER_RETURN_IF_ERROR(ValidateFetch(user, limit));
    // No seq is above the largest bigint, so a clamped `after` finds none.
    COURIER_ASSIGN_OR_RETURN(
        PgResult r, pool_.RunOne({"fetch", "",
                            {TextParam(user), IntParam(ClampToBigint(after)),
                             IntParam(ClampToBigint(limit))}}));
    std::vector<Event> events;
    const int rows = PQntuples(r.get());
    events.reserve(static_cast<std::size_t>(rows));
    for (int i = 0; i < rows; ++i) {
      Event e;
      e.seq = static_cast<Seq>(PgInt(r.get(), i, 0));
      e.kind = static_cast<EventKind>(PgInt(r.get(), i, 1));
      e.id = PgBytes(r.get(), i, 2);
      e.peer = PgBytes(r.get(), i, 3);
      e.body = PgBytes(r.get(), i, 4);
      e.status = static_cast<MessageStatus>(PgInt(r.get(), i, 5));
      e.ts = PgInt(r.get(), i, 6);
      e.group = PgBytes(r.get(), i, 7);
      events.push_back(std::move(e));
    }
    return events;
  }

  absl::StatusOr<GroupRecord> Group(const GroupId& id) override {
    if (!ValidateGroupId(id).ok()) {  // names no group, as with every store
      return MakeGroupError(GroupError::kUnknownGroup, absl::StrCat("no group ", id));
    }
    COURIER_ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
    return ReadGroup(*conn, id);
  }

  absl::StatusOr<std::vector<GroupRecord>> GroupsOf(const UserId& user) override {
    if (!ValidateName("user", user).ok()) return std::vector<GroupRecord>();  // in no group
    COURIER_ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
    return ReadGroupsOf(*conn, user);
  }

  absl::StatusOr<Seq> Head(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_ASSIGN_OR_RETURN(PgResult r, pool_.RunOne({"head", "", {TextParam(user)}}));
    if (PQntuples(r.get()) == 0) return 0;
    return static_cast<Seq>(PgInt(r.get(), 0, 0));
  }

  absl::StatusOr<Seq> Cursor(const UserId& user, const DeviceId& device) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_RETURN_IF_ERROR(ValidateName("device", device));
    COURIER_ASSIGN_OR_RETURN(PgResult r,
                             pool_.RunOne({"cursor", "", {TextParam(user), TextParam(device)}}));
    if (PQntuples(r.get()) == 0) return 0;
    return static_cast<Seq>(PgInt(r.get(), 0, 0));
  }

  absl::StatusOr<MessageStatus> Status(const UserId& recipient,
                                       const MessageId& id) override {
    COURIER_RETURN_IF_ERROR(ValidateName("recipient", recipient));
    if (!ValidateMessageId(id).ok()) {
      return absl::NotFoundError(absl::StrCat("no message ", id, " for ", recipient));
    }
    COURIER_ASSIGN_OR_RETURN(PgResult r,
                             pool_.RunOne({"status", "", {TextParam(recipient), TextParam(id)}}));
    if (PQntuples(r.get()) == 0) {
      return absl::NotFoundError(absl::StrCat("no message ", id, " for ", recipient));
    }
    return static_cast<MessageStatus>(PgInt(r.get(), 0, 0));
  }

  // Chunks of about kPruneChunk events, each its own transaction, until a
  // chunk comes back short or about four call timeouts have passed (the rest
  // waits for the next Prune).
  absl::StatusOr<std::size_t> Prune(const PruneOptions& options) override {
    constexpr std::int64_t kPruneChunk = 5'000;
    const absl::Time give_up = absl::Now() + absl::Milliseconds(4 * options_.call_timeout_ms);
    std::size_t removed = 0;
    for (;;) {
      COURIER_ASSIGN_OR_RETURN(
          PgResult r, pool_.RunOne({"prune", "",
                              {IntParam(options.now - options.ttl_ms),
                               IntParam(options.now - options.acked_retention_ms),
                               IntParam(kPruneChunk)}}));
      if (PQntuples(r.get()) != 1) return absl::InternalError("postgres: prune returned no row");
      removed += static_cast<std::size_t>(PgInt(r.get(), 0, 0));
      if (!PgBool(r.get(), 0, 1) || absl::Now() > give_up) return removed;
    }
  }

  absl::StatusOr<std::size_t> DeleteInbox(const UserId& user) override {
    return postgres::DeleteInbox(pool_, options_.table_prefix, user);
  }

  absl::Status Ping() override {
    COURIER_ASSIGN_OR_RETURN(PgResult r, pool_.RunOne({"ping", "", {}}));
    if (PgBool(r.get(), 0, 0)) {
      return absl::UnavailableError("postgres: the server is a read-only standby");
    }
    return absl::OkStatus();
  }

 private:
  // Pipelined commits keep up to three connections writing (two batches
  // waiting for their COMMIT, one being written): with a smaller pool the
  // store writes as before, so that reads always find a connection.
  static constexpr int kPipelinedPoolSize = 4;
  // Attempts of a batch written locked inside WriteStaged, which may not
  // answer kAborted (the commit queue writes no staged op again).
  static constexpr int kLockedAttempts = 5;

  // A staged batch's COMMIT, sent at the end of its pipeline.
  class PendingCommit final : public PendingSync {
   public:
    PendingCommit(StagedHeads& heads, PgPool::Lease lease, std::uint64_t batch)
        : heads_(heads), lease_(std::move(lease)), batch_(batch) {}
    ~PendingCommit() override {
      if (!done_) Sync().IgnoreError();  // committed, as a later Sync would
    }
    absl::Status Sync() override {
      done_ = true;
      absl::Status s = lease_->FinishHeld();
      heads_.Committed(batch_, s.ok());
      // Not kAborted: no staged op is written again.
      if (absl::IsAborted(s)) s = absl::UnavailableError(s.message());
      return s;
    }

   private:
    StagedHeads& heads_;
    PgPool::Lease lease_;
    const std::uint64_t batch_;
    bool done_ = false;
  };

  static bool IsConflict(const absl::Status& s) {
    return absl::IsAborted(s) || absl::IsAlreadyExists(s);
  }

  // Write inside WriteStaged: durable on return, conflicts written again
  // (a last one answered kUnavailable), and nothing recorded trusted after.
  std::vector<absl::StatusOr<WriteResult>> WriteLocked(absl::Span<const WriteOp> ops) {
    std::vector<absl::StatusOr<WriteResult>> results =
        WriteRetryingConflicts(*this, ops, kLockedAttempts);
    heads_.Forget();
    for (auto& r : results) {
      if (!r.ok() && absl::IsAborted(r.status())) {
        r = absl::UnavailableError(r.status().message());
      }
    }
    return results;
  }

  static bool IsGroupOp(const WriteOp& op) {
    return std::holds_alternative<GroupSendOp>(op) || std::holds_alternative<GroupChangeOp>(op);
  }

  // A batch with group ops: one transaction on one connection, over a few
  // round trips, since a group op reads its record before it can plan its
  // writes (pg_groups.h). The ops between two group ops go as one
  // WritePlan (set-based runs), sent before the group op that follows
  // them, so that every op sees the effects of the earlier ones.
  std::vector<absl::StatusOr<WriteResult>> WriteWithGroups(absl::Span<const WriteOp> ops) {
    std::vector<absl::StatusOr<WriteResult>> results(ops.size(),
                                                     absl::InternalError("not run"));
    std::vector<std::size_t> sent;
    const absl::Status failure = WriteWithGroupsOnce(ops, results, sent);
    if (!failure.ok()) {
      for (std::size_t i : sent) results[i] = BatchFailure(failure);
    }
    return results;
  }

  // The failure of a batch's transaction, as every op that reached the
  // backend answers it. A unique violation there is a concurrent writer's
  // key racing in (a (sender, cid), a message id, a group created at once;
  // a taken id known beforehand is the op's own result, not a failure): a
  // conflict, kAborted like a deadlock or a serialization failure, so that
  // the commit queue writes the ops again (WriteRetryingConflicts) and the
  // rerun takes the idempotent path.
  static absl::Status BatchFailure(const absl::Status& failure) {
    if (absl::IsAlreadyExists(failure)) return absl::AbortedError(failure.message());
    return failure;
  }

  // One attempt; `sent` gets the indexes of the ops that reached the
  // backend (a failure is theirs). On failure the transaction is rolled
  // back.
  absl::Status WriteWithGroupsOnce(absl::Span<const WriteOp> ops,
                                   std::vector<absl::StatusOr<WriteResult>>& results,
                                   std::vector<std::size_t>& sent) {
    COURIER_ASSIGN_OR_RETURN(auto lease, pool_.Acquire());
    PgConnection& conn = *lease;
    const PgQuery begin{"", "BEGIN", {}};
    COURIER_RETURN_IF_ERROR(conn.Run(absl::MakeConstSpan(&begin, 1)).status());
    absl::Status s = [&]() -> absl::Status {
      for (std::size_t k = 0; k < ops.size();) {
        if (IsGroupOp(ops[k])) {
          absl::StatusOr<WriteResult>& out = results[k];
          if (absl::Status valid = ValidateWriteOp(ops[k]); !valid.ok()) {
            out = std::move(valid);
          } else {
            sent.push_back(k);
            if (const auto* send = std::get_if<GroupSendOp>(&ops[k])) {
              COURIER_RETURN_IF_ERROR(ApplyGroupSend(conn, *send, out));
            } else {
              COURIER_RETURN_IF_ERROR(
                  ApplyGroupChange(conn, std::get<GroupChangeOp>(ops[k]), out));
            }
          }
          ++k;
          continue;
        }
        std::size_t end = k;
        while (end < ops.size() && !IsGroupOp(ops[end])) ++end;
        const auto part = ops.subspan(k, end - k);
        std::vector<absl::StatusOr<WriteResult>> part_results(
            part.size(), absl::InternalError("not run"));
        const WritePlan plan(part, part_results, /*own_transaction=*/false,
                             /*staged=*/pipelined_);
        for (std::size_t i : plan.sent()) sent.push_back(k + i);
        if (!plan.empty()) {
          COURIER_ASSIGN_OR_RETURN(std::vector<PgResult> answers, conn.Run(plan.queries()));
          plan.Collect(answers, part_results);
        }
        for (std::size_t i = 0; i < part.size(); ++i) results[k + i] = std::move(part_results[i]);
        k = end;
      }
      const PgQuery commit{"", "COMMIT", {}};
      return conn.Run(absl::MakeConstSpan(&commit, 1)).status();
    }();
    if (!s.ok() && !conn.broken()) conn.RunScript("ROLLBACK").IgnoreError();
    return s;
  }

  const bool pipelined_;     // StagesWrites()
  StagedHeads heads_;        // what speculative appends predict
};

}  // namespace

absl::StatusOr<std::unique_ptr<MessageStore>> OpenMessageStore(const PostgresOptions& options) {
  return OpenStore<MessageStore, PostgresMessageStore>(options);
}

}  // namespace courier::postgres
