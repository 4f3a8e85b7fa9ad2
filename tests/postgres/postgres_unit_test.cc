// courier::postgres pieces that need no server: the error mapping and the
// options URL.
#include "courier/postgres.h"

#include <catch2/catch.hpp>

#include "pg_array.h"
#include "pg_error.h"
#include "support/status_matchers.h"

namespace courier::postgres {
namespace {

using ::courier::testing::StatusIs;

TEST_CASE("PgStatus: SQLSTATE classes map to canonical codes", "[postgres]") {
  struct Case {
    const char* state;
    absl::StatusCode code;
  };
  const Case cases[] = {
      {"08006", absl::StatusCode::kUnavailable},      {"08001", absl::StatusCode::kUnavailable},
      {"57P01", absl::StatusCode::kUnavailable},      {"53300", absl::StatusCode::kUnavailable},
      {"", absl::StatusCode::kUnavailable},           {"57014", absl::StatusCode::kDeadlineExceeded},
      {"55P03", absl::StatusCode::kDeadlineExceeded}, {"40001", absl::StatusCode::kAborted},
      {"40P01", absl::StatusCode::kAborted},          {"23505", absl::StatusCode::kAlreadyExists},
      {"23503", absl::StatusCode::kInvalidArgument},  {"22021", absl::StatusCode::kInvalidArgument},
      {"28P01", absl::StatusCode::kUnauthenticated},  {"42501", absl::StatusCode::kPermissionDenied},
      {"42P01", absl::StatusCode::kInternal},         {"XX000", absl::StatusCode::kInternal},
  };
  for (const Case& c : cases) {
    INFO(c.state);
    CHECK_THAT(PgStatus("ctx", c.state, "text"), StatusIs(c.code));
  }
}

TEST_CASE("PgStatus: keeps the server's text and the SQLSTATE", "[postgres]") {
  const absl::Status s = PgStatus("append", "40P01", "ERROR:  deadlock detected\n");
  CHECK(s.message() == "postgres: append: ERROR:  deadlock detected [SQLSTATE 40P01]");
}

TEST_CASE("PostgresOptionsFromUrl: takes courier_ parameters out of the URL", "[postgres]") {
  auto o = PostgresOptionsFromUrl(
      "postgresql://u@h:5/db?sslmode=disable&courier_pool_size=8&"
      "courier_statement_timeout_ms=2000&courier_table_prefix=chat_&"
      "courier_synchronous_commit=off");
  COURIER_REQUIRE_OK(o);
  CHECK(o->url == "postgresql://u@h:5/db?sslmode=disable");
  CHECK(o->pool_size == 8);
  CHECK(o->statement_timeout_ms == 2000);
  CHECK(o->call_timeout_ms > o->statement_timeout_ms);
  CHECK(o->table_prefix == "chat_");
  CHECK(o->synchronous_commit_off);

  auto plain = PostgresOptionsFromUrl("postgres://localhost/courier");
  COURIER_REQUIRE_OK(plain);
  CHECK(plain->url == "postgres://localhost/courier");
  CHECK(plain->pool_size == PostgresOptions{}.pool_size);
}

TEST_CASE("PostgresOptionsFromUrl: refuses bad input", "[postgres]") {
  for (const char* url :
       {"mongodb://localhost", "", "postgresql://h/db?courier_pool_size=0",
        "postgresql://h/db?courier_pool_size=x", "postgresql://h/db?courier_nope=1",
        "postgresql://h/db?courier_table_prefix=Bad-Prefix",
        "postgresql://h/db?courier_synchronous_commit=maybe",
        "postgresql://h/db?courier_pool_size=5000"}) {
    INFO(url);
    CHECK_THAT(PostgresOptionsFromUrl(url).status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST_CASE("OpenMessageStore: invalid options are kInvalidArgument before connecting",
          "[postgres]") {
  PostgresOptions o;
  CHECK_THAT(OpenMessageStore(o).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  o.url = "postgresql://127.0.0.1:9/x";
  o.pool_size = 0;
  CHECK_THAT(OpenMessageStore(o).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  o.pool_size = 1;
  o.call_timeout_ms = o.statement_timeout_ms;
  CHECK_THAT(OpenAccountStore(o).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_CASE("PostgresMessageStore: an unreachable server is kUnavailable", "[postgres]") {
  PostgresOptions options;
  // A port nobody listens on (the discard port, closed on test machines).
  options.url = "postgresql://courier@127.0.0.1:9/courier";
  options.connect_timeout_ms = 2'000;
  CHECK_THAT(OpenMessageStore(options).status(), StatusIs(absl::StatusCode::kUnavailable));
  CHECK_THAT(OpenAccountStore(options).status(), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_CASE("PgArray: one-dimensional arrays in array_recv's binary layout", "[postgres]") {
  auto bytes = [](std::initializer_list<int> v) {
    std::string s;
    for (int b : v) s.push_back(static_cast<char>(b));
    return s;
  };
  PgArray text(PgElement::kText);
  text.Add("ab");
  text.Add("");
  CHECK(text.size() == 2);
  const PgParam t = std::move(text).Take();
  CHECK(t.binary);
  CHECK_FALSE(t.null);
  CHECK(t.value == bytes({0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 25, 0, 0, 0, 2, 0, 0, 0, 1,
                          0, 0, 0, 2, 'a', 'b', 0, 0, 0, 0}));
  PgArray ints(PgElement::kInt8);
  ints.AddInt(-2);
  CHECK(std::move(ints).Take().value ==
        bytes({0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 8,
               0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}));
  // No elements: no dimensions, as PostgreSQL sends '{}'.
  CHECK(PgArray(PgElement::kBytea).Take().value ==
        bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 17}));
}

}  // namespace
}  // namespace courier::postgres
