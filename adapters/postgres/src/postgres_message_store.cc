// courier::postgres MessageStore: each Write batch is one pipelined
// transaction of calls to the server-side functions of pg_schema.cc.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <random>
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "courier/postgres.h"
#include "courier/status.h"
#include "pg_connection.h"
#include "pg_schema.h"
#include "postgres_common.h"

namespace courier::postgres {
namespace {

constexpr std::size_t kMaxBodyBytes = 16 << 20;
constexpr std::int64_t kMaxInt = std::numeric_limits<std::int64_t>::max();

std::int64_t Clamp(std::uint64_t v) {
  return v > static_cast<std::uint64_t>(kMaxInt) ? kMaxInt : static_cast<std::int64_t>(v);
}

bool ValidMessageId(absl::string_view id) {
  return ValidateMessageId(std::string_view(id.data(), id.size())).ok();
}

std::vector<PgStatement> Statements(absl::string_view p) {
  return {
      {"append", WithPrefix("SELECT * FROM {p}append($1, $2, $3, $4, $5, $6, $7)", p)},
      {"attach", WithPrefix("SELECT * FROM {p}attach($1, $2)", p)},
      {"ack", WithPrefix("SELECT * FROM {p}ack($1, $2, $3, $4)", p)},
      {"read", WithPrefix("SELECT * FROM {p}read($1, $2::text[], $3)", p)},
      {"fetch", WithPrefix("SELECT seq, kind, message_id, peer, body, status, ts "
                           "FROM {p}events WHERE user_id = $1 AND seq > $2 "
                           "ORDER BY seq LIMIT $3", p)},
      {"head", WithPrefix("SELECT head FROM {p}heads WHERE user_id = $1", p)},
      {"cursor", WithPrefix("SELECT acked FROM {p}devices "
                            "WHERE user_id = $1 AND device_id = $2", p)},
      {"status", WithPrefix("SELECT status FROM {p}messages "
                            "WHERE message_id = $2 AND recipient = $1", p)},
      {"prune", WithPrefix("SELECT {p}prune_some($1, $2, $3)", p)},
      {"ping", "SELECT pg_is_in_recovery()"},
  };
}

// The query for one op, or the op's own error (bad input).
absl::StatusOr<PgQuery> QueryFor(const WriteOp& op) {
  if (const auto* a = std::get_if<AppendOp>(&op)) {
    COURIER_RETURN_IF_ERROR(ValidateName("sender", a->sender));
    COURIER_RETURN_IF_ERROR(ValidateName("recipient", a->recipient));
    COURIER_RETURN_IF_ERROR(ValidateClientId(a->cid));
    COURIER_RETURN_IF_ERROR(ValidateMessageId(a->id));
    if (a->body.size() > kMaxBodyBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("body of ", a->body.size(), " bytes exceeds ", kMaxBodyBytes));
    }
    return PgQuery{"append", "",
                   {TextParam(a->sender), BytesParam(a->cid), TextParam(a->recipient),
                    TextParam(a->id), BytesParam(a->body), IntParam(a->ts),
                    IntParam(Clamp(a->max_undelivered))}};
  }
  if (const auto* a = std::get_if<AttachOp>(&op)) {
    COURIER_RETURN_IF_ERROR(ValidateName("user", a->user));
    COURIER_RETURN_IF_ERROR(ValidateName("device", a->device));
    return PgQuery{"attach", "", {TextParam(a->user), TextParam(a->device)}};
  }
  if (const auto* a = std::get_if<AckOp>(&op)) {
    COURIER_RETURN_IF_ERROR(ValidateName("user", a->user));
    COURIER_RETURN_IF_ERROR(ValidateName("device", a->device));
    if (a->seq > static_cast<std::uint64_t>(kMaxInt)) {
      return absl::OutOfRangeError(absl::StrCat("ack of seq ", a->seq, " beyond the head"));
    }
    return PgQuery{"ack", "",
                   {TextParam(a->user), TextParam(a->device),
                    IntParam(static_cast<std::int64_t>(a->seq)), IntParam(a->ts)}};
  }
  const auto& r = std::get<ReadOp>(op);
  COURIER_RETURN_IF_ERROR(ValidateName("user", r.user));
  // Ids that cannot name a message are ignored, as unknown ids are.
  std::string array = "{";
  bool first = true;
  for (const MessageId& id : r.ids) {
    if (!ValidMessageId(id)) continue;
    absl::StrAppend(&array, first ? "" : ",", "\"", id, "\"");
    first = false;
  }
  array += "}";
  return PgQuery{"read", "", {TextParam(r.user), TextParam(array), IntParam(r.ts)}};
}

absl::StatusOr<WriteResult> ResultFor(const WriteOp& op, const PGresult* r) {
  const int rows = PQntuples(r);
  if (const auto* a = std::get_if<AppendOp>(&op)) {
    if (rows != 1) return absl::InternalError("postgres: append returned no row");
    switch (PgInt(r, 0, 0)) {
      case 0: break;
      case 1:
        return absl::ResourceExhaustedError(absl::StrCat(
            "queue full: ", a->recipient, " has ", a->max_undelivered,
            " or more undelivered events"));
      default:
        return absl::AlreadyExistsError(
            absl::StrCat("message id ", a->id, " is already used by another message"));
    }
    AppendResult out;
    out.id = PgBytes(r, 0, 1);
    out.seq = static_cast<Seq>(PgInt(r, 0, 2));
    out.ts = PgInt(r, 0, 3);
    out.duplicate = PgBool(r, 0, 4);
    if (!out.duplicate) {
      out.appended.push_back(Appended{
          a->recipient, Event{out.seq, EventKind::kMessage, a->id, a->sender, a->body,
                              MessageStatus::kSent, a->ts}});
    }
    return out;
  }
  if (std::holds_alternative<AttachOp>(op)) {
    if (rows != 1) return absl::InternalError("postgres: attach returned no row");
    return AttachResult{static_cast<Seq>(PgInt(r, 0, 0)), static_cast<Seq>(PgInt(r, 0, 1))};
  }
  if (const auto* a = std::get_if<AckOp>(&op)) {
    if (rows < 1) return absl::InternalError("postgres: ack returned no row");
    if (PgInt(r, 0, 0) != 0) {
      return absl::OutOfRangeError(absl::StrCat("ack of seq ", a->seq, " beyond the head ",
                                                PgInt(r, 0, 1), " of ", a->user));
    }
    AckResult out;
    out.cursor = static_cast<Seq>(PgInt(r, 0, 1));
    for (int i = 1; i < rows; ++i) {
      out.appended.push_back(Appended{
          PgBytes(r, i, 2), Event{static_cast<Seq>(PgInt(r, i, 3)), EventKind::kReceipt,
                                  PgBytes(r, i, 4), a->user, "", MessageStatus::kDelivered,
                                  a->ts}});
    }
    return out;
  }
  const auto& rd = std::get<ReadOp>(op);
  ReadResult out;
  for (int i = 0; i < rows; ++i) {
    out.appended.push_back(Appended{
        PgBytes(r, i, 0),
        Event{static_cast<Seq>(PgInt(r, i, 1)), EventKind::kReceipt, PgBytes(r, i, 2),
              rd.user, "", static_cast<MessageStatus>(PgInt(r, i, 3)), rd.ts}});
  }
  return out;
}

class PostgresMessageStore final : public MessageStore {
 public:
  explicit PostgresMessageStore(const PostgresOptions& options)
      : options_(options),
        pool_(MakeSettings(options, Statements(options.table_prefix)), options.pool_size,
              options.pool_wait_timeout_ms) {}

  // Creates or upgrades the schema on a connection of its own (pooled ones
  // prepare statements that need the schema), then opens a pooled one.
  absl::Status Init() {
    COURIER_ASSIGN_OR_RETURN(auto setup, PgConnection::Connect(MakeSettings(options_, {})));
    COURIER_RETURN_IF_ERROR(EnsureSchema(*setup, options_.table_prefix));
    return pool_.Acquire().status();
  }

  std::vector<absl::StatusOr<WriteResult>> Write(absl::Span<const WriteOp> ops) override {
    std::vector<absl::StatusOr<WriteResult>> results(ops.size(),
                                                     absl::InternalError("not run"));
    std::vector<PgQuery> queries;
    std::vector<std::size_t> sent;  // op index of each query after BEGIN
    queries.reserve(ops.size() + 2);
    queries.push_back(PgQuery{"", "BEGIN", {}});
    for (std::size_t i = 0; i < ops.size(); ++i) {
      auto q = QueryFor(ops[i]);
      if (!q.ok()) {
        results[i] = q.status();
        continue;
      }
      queries.push_back(std::move(q).value());
      sent.push_back(i);
    }
    if (sent.empty()) return results;
    queries.push_back(PgQuery{"", "COMMIT", {}});

    absl::Status failure;
    for (int attempt = 1;; ++attempt) {
      auto run = RunOnce(queries);
      if (run.ok()) {
        for (std::size_t k = 0; k < sent.size(); ++k) {
          results[sent[k]] = ResultFor(ops[sent[k]], (*run)[k + 1].get());
        }
        return results;
      }
      failure = run.status();
      // A deadlock, a serialization failure or a unique violation between
      // concurrent senders: the batch is rolled back; run it again (the
      // second run sees the other side's commit: the idempotent path).
      const bool conflict = absl::IsAborted(failure) || absl::IsAlreadyExists(failure);
      if (!conflict || attempt >= options_.max_batch_attempts) break;
      thread_local std::minstd_rand jitter{std::random_device{}()};
      absl::SleepFor(absl::Milliseconds(
          std::uniform_int_distribution<int>(1, 5 * attempt)(jitter)));
    }
    if (absl::IsAlreadyExists(failure)) failure = absl::AbortedError(failure.message());
    for (std::size_t i : sent) results[i] = failure;
    return results;
  }

  absl::StatusOr<std::vector<Event>> Fetch(const UserId& user, Seq after,
                                           std::size_t limit) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    if (limit == 0) return absl::InvalidArgumentError("fetch limit must be at least 1");
    std::vector<Event> events;
    if (after >= static_cast<std::uint64_t>(kMaxInt)) return events;
    COURIER_ASSIGN_OR_RETURN(
        PgResult r, RunOne({"fetch", "",
                            {TextParam(user), IntParam(static_cast<std::int64_t>(after)),
                             IntParam(Clamp(limit))}}));
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
      events.push_back(std::move(e));
    }
    return events;
  }

  absl::StatusOr<Seq> Head(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_ASSIGN_OR_RETURN(PgResult r, RunOne({"head", "", {TextParam(user)}}));
    if (PQntuples(r.get()) == 0) return 0;
    return static_cast<Seq>(PgInt(r.get(), 0, 0));
  }

  absl::StatusOr<Seq> Cursor(const UserId& user, const DeviceId& device) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_RETURN_IF_ERROR(ValidateName("device", device));
    COURIER_ASSIGN_OR_RETURN(PgResult r,
                             RunOne({"cursor", "", {TextParam(user), TextParam(device)}}));
    if (PQntuples(r.get()) == 0) return 0;
    return static_cast<Seq>(PgInt(r.get(), 0, 0));
  }

  absl::StatusOr<MessageStatus> Status(const UserId& recipient,
                                       const MessageId& id) override {
    COURIER_RETURN_IF_ERROR(ValidateName("recipient", recipient));
    if (!ValidMessageId(id)) {
      return absl::NotFoundError(absl::StrCat("no message ", id, " for ", recipient));
    }
    COURIER_ASSIGN_OR_RETURN(PgResult r,
                             RunOne({"status", "", {TextParam(recipient), TextParam(id)}}));
    if (PQntuples(r.get()) == 0) {
      return absl::NotFoundError(absl::StrCat("no message ", id, " for ", recipient));
    }
    return static_cast<MessageStatus>(PgInt(r.get(), 0, 0));
  }

  // Chunks of kPruneChunk events, each its own transaction, until a chunk
  // comes back short or about four call timeouts have passed (the rest waits
  // for the next Prune).
  absl::StatusOr<std::size_t> Prune(const PruneOptions& options) override {
    constexpr std::int64_t kPruneChunk = 5'000;
    const absl::Time give_up = absl::Now() + absl::Milliseconds(4 * options_.call_timeout_ms);
    std::size_t removed = 0;
    for (;;) {
      COURIER_ASSIGN_OR_RETURN(
          PgResult r, RunOne({"prune", "",
                              {IntParam(options.now - options.ttl_ms),
                               IntParam(options.now - options.acked_retention_ms),
                               IntParam(kPruneChunk)}}));
      const std::int64_t n = PgInt(r.get(), 0, 0);
      removed += static_cast<std::size_t>(n);
      if (n < kPruneChunk || absl::Now() > give_up) return removed;
    }
  }

  absl::Status Ping() override {
    COURIER_ASSIGN_OR_RETURN(PgResult r, RunOne({"ping", "", {}}));
    if (PgBool(r.get(), 0, 0)) {
      return absl::UnavailableError("postgres: the server is a read-only standby");
    }
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<std::vector<PgResult>> RunOnce(absl::Span<const PgQuery> queries) {
    COURIER_ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
    return conn->Run(queries);
  }

  absl::StatusOr<PgResult> RunOne(PgQuery query) {
    COURIER_ASSIGN_OR_RETURN(auto results, RunOnce(absl::MakeConstSpan(&query, 1)));
    return std::move(results[0]);
  }

  const PostgresOptions options_;
  PgPool pool_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MessageStore>> OpenMessageStore(const PostgresOptions& options) {
  COURIER_RETURN_IF_ERROR(ValidateOptions(options));
  auto store = std::make_unique<PostgresMessageStore>(options);
  COURIER_RETURN_IF_ERROR(store->Init());
  return store;
}

}  // namespace courier::postgres
