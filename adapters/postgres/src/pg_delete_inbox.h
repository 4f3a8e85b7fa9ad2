// MessageStore::DeleteInbox on PostgreSQL, apart from the Write path.
//
// Internal to courier::postgres (not installed).
// Thread-safety: safe for concurrent calls (each takes its own pooled
//   connection).
// Blocking: one pipelined transaction, up to the pool's wait and call
//   timeouts.
#ifndef COURIER_ADAPTERS_POSTGRES_PG_DELETE_INBOX_H_
#define COURIER_ADAPTERS_POSTGRES_PG_DELETE_INBOX_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "courier/types.h"
#include "pg_connection.h"

namespace courier::postgres {

// Deletes `user`'s inbox in one transaction (courier/message_store.h,
// "Deleting an inbox"): its events, the message rows it received, its
// devices, and its head (set back to 0). The heads row is locked first, as
// every append and receipt to the inbox locks it, so a concurrent write
// runs wholly before or after. Returns the number of events removed.
absl::StatusOr<std::size_t> DeleteInbox(PgPool& pool, absl::string_view table_prefix,
                                        const UserId& user);

}  // namespace courier::postgres

#endif  // COURIER_ADAPTERS_POSTGRES_PG_DELETE_INBOX_H_
