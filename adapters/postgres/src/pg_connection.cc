#include "pg_connection.h"

#include <arpa/inet.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "courier/status.h"
#include "pg_error.h"

namespace courier::postgres {
namespace {

using Clock = std::chrono::steady_clock;

std::string ConnError(PGconn* conn) {
  const char* m = conn ? PQerrorMessage(conn) : nullptr;
  return m && *m ? m : "connection lost";
}

// Waits until the socket is readable (and writable when `write`), or the
// deadline passes (kDeadlineExceeded).
absl::StatusOr<short> WaitSocket(PGconn* conn, bool write,
                                 Clock::time_point deadline) {
  const int fd = PQsocket(conn);
  if (fd < 0) return absl::UnavailableError("postgres: no socket");
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    if (left.count() <= 0) {
      return absl::DeadlineExceededError("postgres: no answer within the call timeout");
    }
    pollfd p{fd, static_cast<short>(POLLIN | (write ? POLLOUT : 0)), 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 60'000)));
    if (n > 0) return p.revents;
    if (n < 0 && errno != EINTR) {
      return absl::UnavailableError(absl::StrCat("postgres: poll: ", std::strerror(errno)));
    }
  }
}

}  // namespace

PgParam TextParam(absl::string_view v) { return PgParam{std::string(v), false, false}; }
PgParam IntParam(std::int64_t v) { return PgParam{std::to_string(v), false, false}; }
PgParam BytesParam(absl::string_view v) { return PgParam{std::string(v), true, false}; }

std::int64_t ClampToBigint(std::uint64_t v) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  return v > static_cast<std::uint64_t>(kMax) ? kMax : static_cast<std::int64_t>(v);
}

std::int64_t PgInt(const PGresult* r, int row, int col) {
  const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(r, row, col));
  const int len = PQgetlength(r, row, col);
  std::uint64_t v = 0;
  for (int i = 0; i < len; ++i) v = (v << 8) | p[i];
  switch (len) {
    case 2: return static_cast<std::int16_t>(v);
    case 4: return static_cast<std::int32_t>(v);
    default: return static_cast<std::int64_t>(v);
  }
}

bool PgBool(const PGresult* r, int row, int col) {
  return PQgetlength(r, row, col) == 1 && PQgetvalue(r, row, col)[0] != 0;
}

std::string PgBytes(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col),
                     static_cast<std::size_t>(PQgetlength(r, row, col)));
}

bool PgIsNull(const PGresult* r, int row, int col) { return PQgetisnull(r, row, col) != 0; }

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(
    const PgSettings& settings) {
  const std::string timeout =
      std::to_string(std::max<std::int64_t>(2, (settings.connect_timeout_ms + 999) / 1000));
  // A silent network is noticed by TCP within the call timeout.
  const std::string user_timeout = std::to_string(settings.call_timeout_ms);
  const char* keys[] = {"dbname", "connect_timeout", "application_name", "keepalives",
                        "keepalives_idle", "keepalives_interval", "keepalives_count",
                        "tcp_user_timeout", nullptr};
  const char* values[] = {settings.url.c_str(), timeout.c_str(),
                          settings.application_name.c_str(), "1", "30", "10", "3",
                          user_timeout.c_str(), nullptr};
  PGconn* raw = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (raw == nullptr) return absl::ResourceExhaustedError("postgres: out of memory");
  if (PQstatus(raw) != CONNECTION_OK) {
    absl::Status s = PgStatus("connect", "", ConnError(raw));
    PQfinish(raw);
    return s;
  }
  // Notices (e.g. "drop cascades to ...") are not errors; keep them out of
  // the host's stderr.
  PQsetNoticeProcessor(raw, [](void*, const char*) {}, nullptr);
  std::unique_ptr<PgConnection> conn(new PgConnection(raw, settings.call_timeout_ms));
  if (PQsetnonblocking(raw, 1) != 0) return conn->Broken("set non-blocking");
  for (const std::string& sql : settings.session_setup) {
    COURIER_RETURN_IF_ERROR(conn->RunScript(sql));
  }
  if (!settings.statements.empty()) {
    // All statements prepared in one pipelined round trip.
    const auto deadline = Clock::now() + conn->call_timeout_;
    if (PQenterPipelineMode(raw) != 1) return conn->Broken("enter pipeline mode");
    for (const PgStatement& st : settings.statements) {
      if (PQsendPrepare(raw, st.name.c_str(), st.sql.c_str(), 0, nullptr) != 1) {
        return conn->Broken("prepare");
      }
    }
    if (PQpipelineSync(raw) != 1) return conn->Broken("pipeline sync");
    COURIER_RETURN_IF_ERROR(conn->Flush(deadline));
    absl::Status first;
    for (const PgStatement& st : settings.statements) {
      COURIER_ASSIGN_OR_RETURN(PgResult r, conn->Next(deadline));
      if (!r) return conn->Broken("prepare: missing result");
      if (PQresultStatus(r.get()) == PGRES_FATAL_ERROR && first.ok()) {
        const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
        first = PgStatus(absl::StrCat("prepare ", st.name), state ? state : "",
                         PQresultErrorMessage(r.get()));
      }
      COURIER_ASSIGN_OR_RETURN(PgResult end, conn->Next(deadline));
      if (end) return conn->Broken("prepare: unexpected result");
    }
    COURIER_ASSIGN_OR_RETURN(PgResult sync, conn->Next(deadline));
    if (!sync || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) {
      return conn->Broken("prepare: missing sync");
    }
    if (PQexitPipelineMode(raw) != 1) return conn->Broken("exit pipeline mode");
    COURIER_RETURN_IF_ERROR(first);
  }
  return conn;
}

absl::Status PgConnection::Broken(absl::string_view context) {
  broken_ = true;
  return PgStatus(context, "", ConnError(conn_.get()));
}

absl::Status PgConnection::Flush(Deadline deadline) {
  for (;;) {
    const int r = PQflush(conn_.get());
    if (r == 0) return absl::OkStatus();
    if (r < 0) return Broken("send");
    auto ready = WaitSocket(conn_.get(), /*write=*/true, deadline);
    if (!ready.ok()) {
      broken_ = true;
      return ready.status();
    }
    // Read what the server sends meanwhile, so that neither side blocks on
    // a full socket buffer.
    if ((*ready & (POLLIN | POLLERR | POLLHUP)) && PQconsumeInput(conn_.get()) != 1) {
      return Broken("receive");
    }
  }
}

absl::StatusOr<PgResult> PgConnection::Next(Deadline deadline) {
  while (PQisBusy(conn_.get())) {
    auto ready = WaitSocket(conn_.get(), /*write=*/false, deadline);
    if (!ready.ok()) {
      broken_ = true;
      if (absl::IsDeadlineExceeded(ready.status())) {
        // Tell the server to stop; the connection is dropped either way.
        if (PGcancel* cancel = PQgetCancel(conn_.get())) {
          char buf[256];
          PQcancel(cancel, buf, sizeof buf);
          PQfreeCancel(cancel);
        }
      }
      return ready.status();
    }
    if (PQconsumeInput(conn_.get()) != 1) return Broken("receive");
  }
  PgResult r(PQgetResult(conn_.get()));
  if (r && PQresultStatus(r.get()) == PGRES_FATAL_ERROR &&
      PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) == nullptr) {
    // A result made by libpq itself: the connection failed.
    return Broken("receive");
  }
  if (PQstatus(conn_.get()) == CONNECTION_BAD) return Broken("receive");
  return r;
}

absl::Status PgConnection::Rollback(Deadline deadline) {
  if (PQsendQuery(conn_.get(), "ROLLBACK") != 1) return Broken("rollback");
  COURIER_RETURN_IF_ERROR(Flush(deadline));
  for (;;) {
    COURIER_ASSIGN_OR_RETURN(PgResult r, Next(deadline));
    if (!r) return absl::OkStatus();
  }
}

absl::Status PgConnection::SendPipeline(absl::Span<const PgQuery> queries, Deadline deadline,
                                        bool flush_before_last) {
  if (PQenterPipelineMode(conn_.get()) != 1) return Broken("enter pipeline mode");
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  for (std::size_t k = 0; k < queries.size(); ++k) {
    const PgQuery& q = queries[k];
    // The server sends its answers when the pipeline ends (Sync) unless
    // asked to flush them: asked here, they arrive before the last query
    // has run.
    if (flush_before_last && k + 1 == queries.size() && PQsendFlushRequest(conn_.get()) != 1) {
      return Broken("flush request");
    }
    values.clear();
    lengths.clear();
    formats.clear();
    for (const PgParam& p : q.params) {
      values.push_back(p.null ? nullptr : p.value.c_str());
      lengths.push_back(static_cast<int>(p.value.size()));
      formats.push_back(p.binary ? 1 : 0);
    }
    const int n = static_cast<int>(q.params.size());
    int ok;
    if (q.statement.empty()) {
      const std::string sql(q.sql);
      ok = PQsendQueryParams(conn_.get(), sql.c_str(), n, nullptr, values.data(), lengths.data(),
                             formats.data(), /*resultFormat=*/1);
    } else {
      const std::string name(q.statement);
      ok = PQsendQueryPrepared(conn_.get(), name.c_str(), n, values.data(), lengths.data(),
                               formats.data(), /*resultFormat=*/1);
    }
    if (ok != 1) return Broken("send");
  }
  if (PQpipelineSync(conn_.get()) != 1) return Broken("pipeline sync");
  return Flush(deadline);
}

absl::Status PgConnection::ReadResults(absl::Span<const PgQuery> queries, std::size_t from,
                                       std::size_t to, Deadline deadline,
                                       std::vector<PgResult>& results, absl::Status& first) {
  for (std::size_t i = from; i < to; ++i) {
    COURIER_ASSIGN_OR_RETURN(PgResult r, Next(deadline));
    if (!r) return Broken("missing result");
    const ExecStatusType st = PQresultStatus(r.get());
    if (st == PGRES_FATAL_ERROR && first.ok()) {
      const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
      first = PgStatus(queries[i].statement.empty() ? queries[i].sql : queries[i].statement,
                       state ? state : "", PQresultErrorMessage(r.get()));
    } else if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK &&
               st != PGRES_PIPELINE_ABORTED && st != PGRES_FATAL_ERROR) {
      broken_ = true;
      return absl::InternalError(
          absl::StrCat("postgres: unexpected result ", PQresStatus(st)));
    }
    COURIER_ASSIGN_OR_RETURN(PgResult end, Next(deadline));
    if (end) return Broken("unexpected extra result");
    results.push_back(std::move(r));
  }
  return absl::OkStatus();
}

absl::Status PgConnection::EndPipeline(Deadline deadline) {
  COURIER_ASSIGN_OR_RETURN(PgResult sync, Next(deadline));
  if (!sync || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) {
    return Broken("missing pipeline sync");
  }
  if (PQexitPipelineMode(conn_.get()) != 1) return Broken("exit pipeline mode");
  if (PQtransactionStatus(conn_.get()) == PQTRANS_INERROR) {
    COURIER_RETURN_IF_ERROR(Rollback(deadline));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PgResult>> PgConnection::Run(absl::Span<const PgQuery> queries) {
  if (broken_) return absl::UnavailableError("postgres: connection is broken");
  if (holding()) return absl::InternalError("postgres: a held result was not read");
  const auto deadline = Clock::now() + call_timeout_;
  COURIER_RETURN_IF_ERROR(SendPipeline(queries, deadline, /*flush_before_last=*/false));
  std::vector<PgResult> results;
  results.reserve(queries.size());
  absl::Status first;
  COURIER_RETURN_IF_ERROR(ReadResults(queries, 0, queries.size(), deadline, results, first));
  COURIER_RETURN_IF_ERROR(EndPipeline(deadline));
  COURIER_RETURN_IF_ERROR(first);
  return results;
}

absl::StatusOr<std::vector<PgResult>> PgConnection::RunHoldingLast(
    absl::Span<const PgQuery> queries) {
  if (broken_) return absl::UnavailableError("postgres: connection is broken");
  if (holding()) return absl::InternalError("postgres: a held result was not read");
  if (queries.empty()) return absl::InternalError("postgres: nothing to hold");
  const auto deadline = Clock::now() + call_timeout_;
  COURIER_RETURN_IF_ERROR(SendPipeline(queries, deadline, /*flush_before_last=*/true));
  std::vector<PgResult> results;
  results.reserve(queries.size());
  absl::Status first;
  const std::size_t last = queries.size() - 1;
  COURIER_RETURN_IF_ERROR(ReadResults(queries, 0, last, deadline, results, first));
  if (!first.ok()) {
    COURIER_RETURN_IF_ERROR(ReadResults(queries, last, queries.size(), deadline, results, first));
    COURIER_RETURN_IF_ERROR(EndPipeline(deadline));
    return first;
  }
  // Only the held query's name (or text) is kept, for its error.
  held_ = std::string(queries[last].statement.empty() ? queries[last].sql
                                                      : queries[last].statement);
  return results;
}

absl::Status PgConnection::FinishHeld() {
  if (!holding()) return absl::InternalError("postgres: no held result");
  const std::string name = std::move(held_);
  held_.clear();
  const PgQuery held{"", name, {}};
  if (broken_) return absl::UnavailableError("postgres: connection is broken");
  const auto deadline = Clock::now() + call_timeout_;
  std::vector<PgResult> results;
  absl::Status first;
  COURIER_RETURN_IF_ERROR(ReadResults(absl::MakeConstSpan(&held, 1), 0, 1, deadline, results, first));
  COURIER_RETURN_IF_ERROR(EndPipeline(deadline));
  return first;
}

absl::Status PgConnection::RunScript(absl::string_view sql) {
  if (broken_) return absl::UnavailableError("postgres: connection is broken");
  const auto deadline = Clock::now() + call_timeout_;
  const std::string text(sql);
  if (PQsendQuery(conn_.get(), text.c_str()) != 1) return Broken("send");
  COURIER_RETURN_IF_ERROR(Flush(deadline));
  absl::Status first;
  for (;;) {
    COURIER_ASSIGN_OR_RETURN(PgResult r, Next(deadline));
    if (!r) break;
    if (PQresultStatus(r.get()) == PGRES_FATAL_ERROR && first.ok()) {
      const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
      first = PgStatus("script", state ? state : "", PQresultErrorMessage(r.get()));
    }
  }
  if (PQtransactionStatus(conn_.get()) == PQTRANS_INERROR) {
    COURIER_RETURN_IF_ERROR(Rollback(deadline));
  }
  return first;
}

void PgConnection::CheckIdle() {
  if (broken_) return;
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    broken_ = true;
    return;
  }
  const int fd = PQsocket(conn_.get());
  pollfd p{fd, POLLIN, 0};
  if (fd < 0) {
    broken_ = true;
    return;
  }
  // An idle connection hears from the server only when the server is
  // closing it (shutdown, pg_terminate_backend, idle timeout): replace it.
  if (::poll(&p, 1, 0) != 0) broken_ = true;
}

PgPool::PgPool(PgSettings settings, int size, std::int64_t wait_timeout_ms)
    : settings_(std::move(settings)), size_(size), wait_timeout_ms_(wait_timeout_ms) {}

PgPool::Lease::~Lease() {
  if (conn_ && conn_->holding()) conn_->FinishHeld().IgnoreError();  // never reused mid-pipeline
  if (conn_) pool_->Release(std::move(conn_));
}

absl::StatusOr<std::vector<PgResult>> PgPool::Run(absl::Span<const PgQuery> queries) {
  COURIER_ASSIGN_OR_RETURN(Lease conn, Acquire());
  return conn->Run(queries);
}

absl::StatusOr<PgResult> PgPool::RunOne(PgQuery query) {
  COURIER_ASSIGN_OR_RETURN(std::vector<PgResult> results, Run(absl::MakeConstSpan(&query, 1)));
  return std::move(results[0]);
}

absl::StatusOr<PgPool::Lease> PgPool::Acquire() {
  const auto deadline = Clock::now() + std::chrono::milliseconds(wait_timeout_ms_);
  for (;;) {
    std::unique_ptr<PgConnection> conn;
    {
      MutexLock lock(&mu_);
      while (idle_.empty() && open_ >= size_) {
        const auto now = Clock::now();
        if (now >= deadline) {
          return absl::UnavailableError(absl::StrCat("postgres: no free connection within ",
                                                     wait_timeout_ms_, " ms (pool size ", size_,
                                                     ")"));
        }
        freed_.WaitFor(&mu_, std::chrono::ceil<std::chrono::milliseconds>(deadline - now));
      }
      if (!idle_.empty()) {
        conn = std::move(idle_.back());
        idle_.pop_back();
      } else {
        ++open_;
      }
    }
    if (!conn) {
      auto made = PgConnection::Connect(settings_);
      if (!made.ok()) {
        Dropped();
        return made.status();
      }
      return Lease(this, std::move(made).value());
    }
    conn->CheckIdle();
    if (!conn->broken()) return Lease(this, std::move(conn));
    // Reconnect in place of the broken one.
    conn.reset();
    Dropped();
  }
}

void PgPool::Dropped() {
  {
    MutexLock lock(&mu_);
    --open_;
  }
  freed_.Signal();
}

void PgPool::Release(std::unique_ptr<PgConnection> conn) {
  if (conn->broken()) {
    conn.reset();
    Dropped();
    return;
  }
  {
    MutexLock lock(&mu_);
    idle_.push_back(std::move(conn));
  }
  freed_.Signal();
}

}  // namespace courier::postgres
