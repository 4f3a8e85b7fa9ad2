// stores.h: the storage and presence backends that --store and --redis name.
//
//   --store rocksdb:PATH (default rocksdb:DIR/rocksdb) -> courier::rocksdb
//   --store sqlite:PATH                                -> courier::sqlite
//   --store postgresql://... | postgres://...          -> courier::postgres
//   --store mongodb://...                              -> courier::mongo
//   --store memory                                     -> courier::memory (NOT
//                        durable: everything is lost when the process ends;
//                        for benchmarks of the network path, courier-load)
//   --redis redis://...  (default: memory)             -> courier::redis
// The message store is wrapped by OpenEncryptingStore with the storage key.
// An adapter that this binary was built without is a kFailedPrecondition
// that names the missing target and how to build it. An embedded store
// (RocksDB, SQLite) is opened only as CheckDataDir allows.
//
// Ownership: the caller owns the Backends; `clock` must outlive them.
// Thread-safety: call once at start-up.
// Blocking: opens files and connects to servers.
#ifndef COURIER_EXAMPLES_SERVER_STORES_H_
#define COURIER_EXAMPLES_SERVER_STORES_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "courier/account_store.h"
#include "courier/clock.h"
#include "courier/message_store.h"
#include "courier/presence_store.h"
#include "options.h"

namespace courier::server {

struct Backends {
  std::unique_ptr<MessageStore> messages;  // encrypting wrapper around the store
  std::unique_ptr<AccountStore> accounts;
  std::unique_ptr<PresenceStore> presence;
  std::string store_description;     // for the start-up log, without secrets
  std::string presence_description;
};

// True when --store names a store inside this process (RocksDB, SQLite,
// memory; also the default): alone, with presence in memory, the server sees
// every write.
bool IsEmbeddedStore(const std::string& store);

// True for --store memory: the stores of courier::memory, which keep nothing
// when the process ends. It has no files, so no data dir rule applies.
bool IsMemoryStore(const std::string& store);

// The store in the start-up log line for --store memory.
inline constexpr std::string_view kMemoryStoreDescription =
    "memory (NOT durable: everything is lost when the process ends)";

// An embedded store that --store (or the default) asks for.
struct EmbeddedStore {
  enum class Kind { kRocksdb, kSqlite };
  Kind kind;
  std::string path;
};

// The data dir rule: the server opens the store it is asked for when that
// store exists; it makes a new one only when the data dir holds no store at
// the default places (DIR/rocksdb, DIR/courier.db). So a changed default or a
// wrong --store never serves a new, empty store while the users' store sits
// in the data dir. Remote stores (PostgreSQL, MongoDB) are not checked.
// Errors: kFailedPrecondition naming the --store that opens the store found,
// e.g. "data dir D holds a SQLite store (courier.db); start with
// --store sqlite:D/courier.db to use it".
absl::Status CheckDataDir(const std::string& data_dir, const EmbeddedStore& asked);

// `storage_secret` is the content of the storage key file (32+ bytes).
absl::StatusOr<Backends> OpenBackends(const ServerFlags& flags, const std::string& storage_secret,
                                      const Clock& clock);

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_STORES_H_
