#include "pg_delete_inbox.h"

#include <string>
#include <vector>

#include "courier/status.h"
#include "pg_schema.h"

namespace courier::postgres {

absl::StatusOr<std::size_t> DeleteInbox(PgPool& pool, absl::string_view table_prefix,
                                        const UserId& user) {
  COURIER_RETURN_IF_ERROR(ValidateName("user", user));
  // Upserting the heads row takes its row lock even when the inbox has none
  // yet: a first append to the inbox waits for this transaction.
  const std::string sql[] = {
      WithPrefix("INSERT INTO {p}heads AS h (user_id, head) VALUES ($1, 0) "
                 "ON CONFLICT (user_id) DO UPDATE SET head = h.head",
                 table_prefix),
      // The message rows through their events' segments (messages has no
      // index that leads with the recipient).
      WithPrefix("DELETE FROM {p}messages m USING {p}segments s CROSS JOIN LATERAL "
                 "unnest(s.kinds, s.ids) AS e(kind, message_id) WHERE s.user_id = $1 "
                 "AND e.kind = 1 AND m.message_id = e.message_id AND m.recipient = $1",
                 table_prefix),
      WithPrefix("WITH gone AS (DELETE FROM {p}segments WHERE user_id = $1 "
                 "RETURNING n_events) SELECT coalesce(sum(n_events), 0)::int8 FROM gone",
                 table_prefix),
      WithPrefix("DELETE FROM {p}early_reads WHERE user_id = $1", table_prefix),
      WithPrefix("DELETE FROM {p}devices WHERE user_id = $1", table_prefix),
      WithPrefix("UPDATE {p}heads SET head = 0 WHERE user_id = $1", table_prefix),
  };
  std::vector<PgQuery> queries;
  queries.push_back(PgQuery{"", "BEGIN", {}});
  for (const std::string& s : sql) queries.push_back(PgQuery{"", s, {TextParam(user)}});
  queries.push_back(PgQuery{"", "COMMIT", {}});
  COURIER_ASSIGN_OR_RETURN(auto conn, pool.Acquire());
  COURIER_ASSIGN_OR_RETURN(std::vector<PgResult> results, conn->Run(queries));
  // count(*) is a bigint in binary format.
  return static_cast<std::size_t>(PgInt(results[3].get(), 0, 0));
}

}  // namespace courier::postgres
