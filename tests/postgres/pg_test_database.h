// tests/postgres/pg_test_database.h: a private schema per test case.
//
// Every fixture creates a fresh schema in the database named by
// COURIER_TEST_POSTGRES_URL and opens the stores with search_path set to it,
// so each test case starts empty; the destructor drops the schema.
// Thread-safety: AdminConnection is used by one thread at a time.
// Blocking: every call blocks on PostgreSQL.
#ifndef COURIER_TESTS_POSTGRES_PG_TEST_DATABASE_H_
#define COURIER_TESTS_POSTGRES_PG_TEST_DATABASE_H_

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "conformance/store_fixture.h"
#include "courier/postgres.h"
#include "support/status_matchers.h"

namespace courier::postgres::testing {

inline std::string TestUrl() {
  const char* url = std::getenv("COURIER_TEST_POSTGRES_URL");
  return url ? url : "";
}

// A plain libpq connection for setting up and inspecting the database.
class AdminConnection {
 public:
  AdminConnection() : conn_(PQconnectdb(TestUrl().c_str())) {
    INFO(PQerrorMessage(conn_));
    REQUIRE(PQstatus(conn_) == CONNECTION_OK);
    Exec("SET client_min_messages = warning");
  }
  AdminConnection(const AdminConnection&) = delete;
  AdminConnection& operator=(const AdminConnection&) = delete;
  ~AdminConnection() { PQfinish(conn_); }

  // Runs `sql`; requires success; returns the first cell ("" if none).
  std::string Exec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const ExecStatusType st = PQresultStatus(r);
    std::string error = PQresultErrorMessage(r);
    std::string cell;
    if (st == PGRES_TUPLES_OK && PQntuples(r) > 0) cell = PQgetvalue(r, 0, 0);
    PQclear(r);
    INFO(sql << ": " << error);
    REQUIRE((st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK));
    return cell;
  }

  // Runs `sql`; returns its SQLSTATE when it fails, "" when it succeeds.
  std::string TryExec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const ExecStatusType st = PQresultStatus(r);
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    std::string out = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK ? ""
                      : state != nullptr                           ? state
                                                                   : "?";
    PQclear(r);
    return out;
  }

 private:
  PGconn* conn_;
};

// A schema that lives as long as this object.
class TestSchema {
 public:
  TestSchema() {
    static std::atomic<int> counter{0};
    name_ = "courier_test_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
    AdminConnection().Exec("CREATE SCHEMA " + name_);
  }
  TestSchema(const TestSchema&) = delete;
  TestSchema& operator=(const TestSchema&) = delete;
  ~TestSchema() { AdminConnection().Exec("DROP SCHEMA IF EXISTS " + name_ + " CASCADE"); }

  const std::string& name() const { return name_; }

  // Options whose connections use this schema.
  PostgresOptions Options() const {
    PostgresOptions o;
    const std::string url = TestUrl();
    o.url = url + (url.find('?') == std::string::npos ? "?" : "&") +
            "options=-c%20search_path%3D" + name_;
    o.application_name = name_;
    return o;
  }

 private:
  std::string name_;
};

// A MessageStore on `options`; the test stops if it does not open.
inline std::unique_ptr<MessageStore> OpenOrDie(const PostgresOptions& options) {
  auto store = OpenMessageStore(options);
  COURIER_REQUIRE_OK(store);
  return std::move(store).value();
}

// Writes per batch that the several-servers tests allow, as the commit
// queue would (WriteRetryingConflicts): many, for heavy contention on a few
// rows.
// Before schema version 9 an inbox's events were rows of `events` (which
// version 9 keeps, empty): moves the segments of the tables `p` (schema
// and prefix, e.g. "s.courier_") back there and drops `segments`, as a
// database of an earlier version holds them.
inline void MoveSegmentsToEvents(AdminConnection& admin, const std::string& p) {
  admin.Exec("INSERT INTO " + p + "events (user_id, seq, kind, message_id, peer, body, status, "
             "ts, group_id) SELECT s.user_id, e.* FROM " + p + "segments s CROSS JOIN LATERAL "
             "unnest(s.seqs, s.kinds, s.ids, s.peers, s.bodies, s.statuses, s.tss, s.groups) "
             "AS e");
  admin.Exec("DROP TABLE " + p + "segments");
}

inline constexpr int kBatchAttempts = 20;

// `n` MessageStore instances ("servers") on `schema`, each with a pool of 2.
inline std::vector<std::unique_ptr<MessageStore>> OpenServers(const TestSchema& schema, int n) {
  PostgresOptions options = schema.Options();
  options.pool_size = 2;
  std::vector<std::unique_ptr<MessageStore>> servers;
  for (int s = 0; s < n; ++s) servers.push_back(OpenOrDie(options));
  return servers;
}

// A conformance fixture: its own schema; every Open() reopens it.
template <class Store>
class SchemaFixture final : public conformance::StoreFixture<Store> {
 public:
  using Opener = absl::StatusOr<std::unique_ptr<Store>> (*)(const PostgresOptions&);
  explicit SchemaFixture(Opener open) : open_(open) {}
  absl::StatusOr<std::unique_ptr<Store>> Open() override { return open_(schema_.Options()); }

 private:
  TestSchema schema_;
  Opener open_;
};

}  // namespace courier::postgres::testing

#endif  // COURIER_TESTS_POSTGRES_PG_TEST_DATABASE_H_
