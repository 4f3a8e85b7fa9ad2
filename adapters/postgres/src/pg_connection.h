// One libpq connection with client-side deadlines, and a pool of them.
//
// Internal to courier::postgres (not installed). Every round trip runs the
// socket in non-blocking mode and polls with a deadline, so a silent server
// cannot hang a caller; a connection that timed out or broke is marked
// broken and the pool replaces it on the next Acquire().
//
// Thread-safety: a PgConnection is used by one thread at a time (the pool
//   hands it out exclusively); PgPool is safe for concurrent use.
// Blocking: Connect, Run, RunScript and Acquire block up to their timeouts.
#ifndef COURIER_ADAPTERS_POSTGRES_PG_CONNECTION_H_
#define COURIER_ADAPTERS_POSTGRES_PG_CONNECTION_H_

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>


#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "courier/sync.h"

namespace courier::postgres {

// A statement prepared on every pooled connection.
struct PgStatement {
  std::string name;
  std::string sql;
};

// One parameter: text format unless `binary` (used for bytea); SQL NULL when
// `null`.
struct PgParam {
  std::string value;
  bool binary = false;
  bool null = false;
};
PgParam TextParam(absl::string_view v);
PgParam IntParam(std::int64_t v);
PgParam BytesParam(absl::string_view v);

// `v` as a bigint: values above the largest bigint become the largest.
std::int64_t ClampToBigint(std::uint64_t v);

// A call of a prepared statement, or of an unnamed one-off statement when
// `statement` is empty (then `sql` is sent; used for BEGIN/COMMIT).
struct PgQuery {
  absl::string_view statement;
  absl::string_view sql;
  std::vector<PgParam> params;
};

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

struct PgConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};

// Binary-format column readers. REQUIRES: the cell is not NULL.
std::int64_t PgInt(const PGresult* r, int row, int col);
bool PgBool(const PGresult* r, int row, int col);
std::string PgBytes(const PGresult* r, int row, int col);
bool PgIsNull(const PGresult* r, int row, int col);

struct PgSettings {
  std::string url;
  std::string application_name;
  std::int64_t connect_timeout_ms = 5'000;
  std::int64_t call_timeout_ms = 15'000;
  // Run once per new connection, before statements are prepared.
  std::vector<std::string> session_setup;
  std::vector<PgStatement> statements;
};

class PgConnection {
 public:
  static absl::StatusOr<std::unique_ptr<PgConnection>> Connect(const PgSettings& settings);

  // Sends `queries` as one pipeline (one round trip) and returns one result
  // per query. The first failing query's error is returned (later queries
  // are skipped by the server); a connection left inside a failed
  // transaction is rolled back before returning.
  absl::StatusOr<std::vector<PgResult>> Run(absl::Span<const PgQuery> queries);

  // Run, holding back the last query's result: sends `queries` (at least
  // one) as one pipeline and returns the results of all but the last, which
  // the server goes on to execute (a COMMIT, whose wait for the disk then
  // overlaps the caller's next work). FinishHeld reads it. When a returned
  // query failed, the rest is read, nothing is held and the error returned
  // (as Run). While a result is held the connection runs nothing else.
  absl::StatusOr<std::vector<PgResult>> RunHoldingLast(absl::Span<const PgQuery> queries);
  // Waits for the held result: OK when the last query succeeded, else its
  // error (a failed transaction rolled back). REQUIRES: holding().
  absl::Status FinishHeld();
  // True between a successful RunHoldingLast and FinishHeld.
  bool holding() const { return !held_.empty(); }
  // Runs a multi-statement script with the simple query protocol.
  absl::Status RunScript(absl::string_view sql);

  // True when the connection must not be reused.
  bool broken() const { return broken_; }
  // Checks an idle connection for a close notice from the server; marks it
  // broken when the server has gone.
  void CheckIdle();

 private:
  PgConnection(PGconn* conn, std::int64_t call_timeout_ms)
      : conn_(conn), call_timeout_(call_timeout_ms) {}
  using Deadline = std::chrono::steady_clock::time_point;
  absl::Status Broken(absl::string_view context);
  absl::Status Flush(Deadline deadline);
  absl::StatusOr<PgResult> Next(Deadline deadline);
  absl::Status Rollback(Deadline deadline);
  // The parts of Run: send a pipeline (the server asked to flush its
  // answers before the last query when `flush_before_last`); read the results of queries
  // [from, to) (the first error into `first`, named by its query); read the
  // pipeline's end and roll back a failed transaction.
  absl::Status SendPipeline(absl::Span<const PgQuery> queries, Deadline deadline,
                            bool flush_before_last);
  absl::Status ReadResults(absl::Span<const PgQuery> queries, std::size_t from, std::size_t to,
                           Deadline deadline, std::vector<PgResult>& results,
                           absl::Status& first);
  absl::Status EndPipeline(Deadline deadline);

  std::unique_ptr<PGconn, PgConnDeleter> conn_;  // closed on destruction
  std::chrono::milliseconds call_timeout_;
  bool broken_ = false;
  // The held query's name or text (RunHoldingLast), for its error; empty
  // when nothing is held.
  std::string held_;
};

class PgPool {
 public:
  PgPool(PgSettings settings, int size, std::int64_t wait_timeout_ms);
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // Exclusive use of one connection until destroyed; returned to the pool
  // then (or dropped when broken).
  class Lease {
   public:
    Lease(PgPool* pool, std::unique_ptr<PgConnection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    PgConnection* operator->() const { return conn_.get(); }
    PgConnection& operator*() const { return *conn_; }

   private:
    PgPool* pool_;
    std::unique_ptr<PgConnection> conn_;
  };

  // A connected connection: an idle one, a new one while fewer than `size`
  // exist, or the next one released within the wait timeout (else
  // kUnavailable).
  absl::StatusOr<Lease> Acquire();

  // PgConnection::Run, and the one result of one query, on a connection
  // leased for the call.
  absl::StatusOr<std::vector<PgResult>> Run(absl::Span<const PgQuery> queries);
  absl::StatusOr<PgResult> RunOne(PgQuery query);

 private:
  void Release(std::unique_ptr<PgConnection> conn);
  void Dropped();  // one connection fewer is open

  const PgSettings settings_;
  const int size_;
  const std::int64_t wait_timeout_ms_;
  Mutex mu_;
  CondVar freed_;  // a connection was released or dropped
  std::vector<std::unique_ptr<PgConnection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + leased + being connected
};

}  // namespace courier::postgres

#endif  // COURIER_ADAPTERS_POSTGRES_PG_CONNECTION_H_
