// PostgresOptions: validation, the URL form, and per-connection settings.
#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "courier/postgres.h"
#include "courier/store_url.h"
#include "pg_schema.h"
#include "postgres_common.h"

namespace courier::postgres {

absl::Status ValidateOptions(const PostgresOptions& o) {
  if (o.url.empty()) return absl::InvalidArgumentError("postgres: url is empty");
  const std::string& p = o.table_prefix;
  const bool prefix_ok =
      !p.empty() && p.size() <= 32 && p[0] >= 'a' && p[0] <= 'z' &&
      std::all_of(p.begin(), p.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      });
  if (!prefix_ok) {
    return absl::InvalidArgumentError(
        "postgres: table_prefix must be 1-32 of [a-z0-9_] starting with a letter");
  }
  if (o.pool_size < 1 || o.pool_size > 1000) {
    return absl::InvalidArgumentError("postgres: pool_size must be 1-1000");
  }
  if (o.pool_wait_timeout_ms < 1 || o.connect_timeout_ms < 1 || o.statement_timeout_ms < 1) {
    return absl::InvalidArgumentError("postgres: timeouts must be positive");
  }
  if (o.call_timeout_ms <= o.statement_timeout_ms) {
    return absl::InvalidArgumentError(
        "postgres: call_timeout_ms must be greater than statement_timeout_ms");
  }
  if (o.max_batch_attempts < 1) {
    return absl::InvalidArgumentError("postgres: max_batch_attempts must be at least 1");
  }
  return absl::OkStatus();
}

PgSettings MakeSettings(const PostgresOptions& o, std::vector<PgStatement> statements) {
  PgSettings s;
  s.url = o.url;
  s.application_name = o.application_name;
  s.connect_timeout_ms = o.connect_timeout_ms;
  s.call_timeout_ms = o.call_timeout_ms;
  std::string setup = absl::StrCat("SET statement_timeout = ", o.statement_timeout_ms,
                                   "; SET lock_timeout = ", o.statement_timeout_ms,
                                   "; SET idle_in_transaction_session_timeout = ",
                                   o.call_timeout_ms, ";");
  if (o.synchronous_commit_off) absl::StrAppend(&setup, " SET synchronous_commit = off;");
  s.session_setup.push_back(setup);
  s.statements = std::move(statements);
  return s;
}

PgPool MakePool(const PostgresOptions& options, std::vector<PgStatement> statements) {
  return PgPool(MakeSettings(options, std::move(statements)), options.pool_size,
                options.pool_wait_timeout_ms);
}

absl::StatusOr<std::unique_ptr<PgConnection>> ConnectAndEnsureSchema(
    const PostgresOptions& options) {
  COURIER_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> setup,
                           PgConnection::Connect(MakeSettings(options, {})));
  COURIER_RETURN_IF_ERROR(EnsureSchema(*setup, options.table_prefix));
  return setup;
}

PgStore::PgStore(const PostgresOptions& options, std::vector<PgStatement> statements,
                 std::vector<const char*> own_tables)
    : options_(options),
      pool_(MakePool(options, std::move(statements))),
      own_tables_(std::move(own_tables)) {}

absl::Status PgStore::Init() {
  COURIER_ASSIGN_OR_RETURN(auto setup, ConnectAndEnsureSchema(options_));
  for (const char* tables : own_tables_) {
    COURIER_RETURN_IF_ERROR(setup->RunScript(WithPrefix(
        absl::StrCat("BEGIN;"
                     "SELECT pg_advisory_xact_lock(hashtext('{p}schema'));",
                     tables, "COMMIT;"),
        options_.table_prefix)));
  }
  setup.reset();
  return pool_.Acquire().status();
}

absl::StatusOr<PostgresOptions> PostgresOptionsFromUrl(std::string_view url_std) {
  const absl::string_view url(url_std.data(), url_std.size());
  if (!absl::StartsWith(url, "postgresql://") && !absl::StartsWith(url, "postgres://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("postgres: url must start with postgresql:// (got \"",
                     url.substr(0, 32), "\")"));
  }
  PostgresOptions o;
  StoreUrlParts parts = SplitStoreUrl(url_std);
  for (const auto& param : parts.courier_params) {
    const std::string& key = param.first;
    const std::string& value = param.second;
    auto number = [&](std::int64_t* out) -> absl::Status {
      if (!absl::SimpleAtoi(value, out) || *out < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("postgres: ", key, " must be a positive integer"));
      }
      return absl::OkStatus();
    };
    std::int64_t n = 0;
    absl::Status s;
    if (key == "courier_pool_size") {
      s = number(&n);
      o.pool_size = static_cast<int>(std::min<std::int64_t>(n, 1'000'000));
    } else if (key == "courier_statement_timeout_ms") {
      s = number(&o.statement_timeout_ms);
    } else if (key == "courier_connect_timeout_ms") {
      s = number(&o.connect_timeout_ms);
    } else if (key == "courier_call_timeout_ms") {
      s = number(&o.call_timeout_ms);
    } else if (key == "courier_table_prefix") {
      o.table_prefix = value;
    } else if (key == "courier_synchronous_commit") {
      if (value != "on" && value != "off") {
        s = absl::InvalidArgumentError("postgres: courier_synchronous_commit is on or off");
      }
      o.synchronous_commit_off = value == "off";
    } else if (key == "courier_pipelined_commits") {
      if (value != "on" && value != "off") {
        s = absl::InvalidArgumentError("postgres: courier_pipelined_commits is on or off");
      }
      o.pipelined_commits = value == "on";
    } else {
      s = absl::InvalidArgumentError(absl::StrCat("postgres: unknown parameter ", key));
    }
    if (!s.ok()) return s;
  }
  // A statement timeout given without a call timeout keeps the call timeout
  // above it.
  if (o.call_timeout_ms <= o.statement_timeout_ms) {
    o.call_timeout_ms = o.statement_timeout_ms + 5'000;
  }
  o.url = std::move(parts.driver_url);
  absl::Status s = ValidateOptions(o);
  if (!s.ok()) return s;
  return o;
}

}  // namespace courier::postgres
