// cache_probe.h (internal, for tests): what the RocksDB message store's
// writer caches, so that a test can hold the cache to its memory bound
// (courier/rocksdb.h, "What is cached").
#ifndef COURIER_ADAPTERS_ROCKSDB_SRC_CACHE_PROBE_H_
#define COURIER_ADAPTERS_ROCKSDB_SRC_CACHE_PROBE_H_

#include <cstddef>
#include <optional>

#include "courier/message_store.h"

namespace courier::rocksdb::internal {

// The number of inboxes whose state the writer of `store` caches now;
// nullopt when `store` is not one that OpenMessageStore returned.
// Thread-safety: any thread (takes the writer's lock).
// Blocking: waits for a Write under way.
std::optional<std::size_t> CachedInboxes(MessageStore& store);

// The number of messages that Fetches of `store` remember for the acks
// now (its fetched runs); nullopt as above.
// Thread-safety: any thread. Blocking: never for long (one small lock).
std::optional<std::size_t> FetchedMessages(MessageStore& store);

}  // namespace courier::rocksdb::internal

#endif  // COURIER_ADAPTERS_ROCKSDB_SRC_CACHE_PROBE_H_
