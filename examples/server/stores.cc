// stores.cc: URL -> adapter, for the adapters this binary was built with.
#include "stores.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "courier/body_cipher.h"
#include "courier/memory.h"
#include "courier/rocksdb.h"
#include "courier/sqlite.h"
#include "courier/status.h"
#if defined(COURIER_SERVER_WITH_POSTGRES)
#include "courier/postgres.h"
#endif
#if defined(COURIER_SERVER_WITH_MONGO)
#include "courier/mongo.h"
#endif
#if defined(COURIER_SERVER_WITH_REDIS)
#include "courier/redis.h"
#endif

namespace courier::server {
namespace {

[[maybe_unused]] absl::Status NotBuilt(const char* what, const char* option, const char* package,
                      const char* instead) {
  return absl::FailedPreconditionError(
      absl::StrCat("this courier-server was built without ", what, ": install ", package,
                   " and configure with -D", option, "=ON, or ", instead));
}

// NotBuilt for a database server named in --store.
[[maybe_unused]] absl::Status NotBuiltStore(const char* what, const char* option,
                                            const char* package) {
  return NotBuilt(what, option, package, "leave --store out (RocksDB in the data dir)");
}

bool StartsWith(const std::string& s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// The database URL without its password, for logs.
std::string Redacted(const std::string& url) {
  std::size_t scheme = url.find("://");
  std::size_t at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  std::size_t colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

// Per embedded kind: its --store scheme, its name in messages, and its
// default place in the data dir.
struct KindInfo {
  const char* scheme;
  const char* title;
  const char* in_data_dir;
};

const KindInfo& Info(EmbeddedStore::Kind kind) {
  static constexpr KindInfo kRocksdb{"rocksdb", "RocksDB", "rocksdb"};
  static constexpr KindInfo kSqlite{"sqlite", "SQLite", "courier.db"};
  return kind == EmbeddedStore::Kind::kRocksdb ? kRocksdb : kSqlite;
}

EmbeddedStore InDataDir(const std::string& data_dir, EmbeddedStore::Kind kind) {
  return {kind, (std::filesystem::path(data_dir) / Info(kind).in_data_dir).string()};
}

bool Exists(const EmbeddedStore& store) {
  if (store.kind == EmbeddedStore::Kind::kRocksdb) return rocksdb::LooksLikeRocksdb(store.path);
  std::error_code ec;
  return std::filesystem::exists(store.path, ec);
}

// "rocksdb:PATH" or "sqlite:PATH" (also SCHEME:///abs/path).
absl::StatusOr<EmbeddedStore> ParseEmbedded(const std::string& url) {
  EmbeddedStore store;
  store.kind = StartsWith(url, "rocksdb:") ? EmbeddedStore::Kind::kRocksdb
                                           : EmbeddedStore::Kind::kSqlite;
  store.path = url.substr(url.find(':') + 1);
  if (StartsWith(store.path, "//")) store.path = store.path.substr(2);
  if (store.path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--store ", Info(store.kind).scheme, ":PATH needs a path"));
  }
  return store;
}

struct Stores {
  std::unique_ptr<MessageStore> messages;
  std::unique_ptr<AccountStore> accounts;
};

// Both stores of one backend, opened with the same options.
template <typename Options>
absl::StatusOr<Stores> OpenBoth(
    const Options& options,
    absl::StatusOr<std::unique_ptr<MessageStore>> (*open_messages)(const Options&),
    absl::StatusOr<std::unique_ptr<AccountStore>> (*open_accounts)(const Options&)) {
  Stores s;
  COURIER_ASSIGN_OR_RETURN(s.messages, open_messages(options));
  COURIER_ASSIGN_OR_RETURN(s.accounts, open_accounts(options));
  return s;
}

absl::StatusOr<Stores> OpenEmbedded(const ServerFlags& flags, const std::string& url,
                                    std::string& description) {
  COURIER_ASSIGN_OR_RETURN(EmbeddedStore store, ParseEmbedded(url));
  COURIER_RETURN_IF_ERROR(CheckDataDir(flags.data_dir, store));
  const bool fast = flags.durability == "process";
  description = absl::StrCat(Info(store.kind).scheme, ":", store.path, " durability=",
                             flags.durability);
  if (store.kind == EmbeddedStore::Kind::kRocksdb) {
    return OpenBoth(fast ? rocksdb::RocksdbOptions::Fast(store.path)
                         : rocksdb::RocksdbOptions::Durable(store.path),
                    rocksdb::OpenMessageStore, rocksdb::OpenAccountStore);
  }
  return OpenBoth(fast ? sqlite::SqliteOptions::Fast(store.path)
                       : sqlite::SqliteOptions::Durable(store.path),
                  sqlite::OpenMessageStore, sqlite::OpenAccountStore);
}

absl::StatusOr<Stores> OpenStores(const ServerFlags& flags, std::string& description) {
  const std::string url =
      flags.store.empty()
          ? "rocksdb:" + InDataDir(flags.data_dir, EmbeddedStore::Kind::kRocksdb).path
          : flags.store;
  if (IsMemoryStore(url)) {
    // No files, so no data dir rule: a store in the data dir stays untouched
    // (and unserved) while this one runs. --durability has nothing to do.
    Stores s;
    s.messages = memory::OpenMessageStore();
    s.accounts = memory::OpenAccountStore();
    description = std::string(kMemoryStoreDescription);
    return s;
  }
  if (IsEmbeddedStore(url)) return OpenEmbedded(flags, url, description);
  description = Redacted(url);  // a database server's URL
  if (StartsWith(url, "postgresql://") || StartsWith(url, "postgres://")) {
#if defined(COURIER_SERVER_WITH_POSTGRES)
    COURIER_ASSIGN_OR_RETURN(postgres::PostgresOptions options,
                             postgres::PostgresOptionsFromUrl(url));
    if (flags.durability == "process") options.synchronous_commit_off = true;
    return OpenBoth(options, postgres::OpenMessageStore, postgres::OpenAccountStore);
#else
    return NotBuiltStore("courier::postgres (PostgreSQL)", "COURIER_WITH_POSTGRES", "libpq-dev");
#endif
  }
  if (StartsWith(url, "mongodb://") || StartsWith(url, "mongodb+srv://")) {
#if defined(COURIER_SERVER_WITH_MONGO)
    COURIER_ASSIGN_OR_RETURN(mongo::MongoOptions options, mongo::MongoOptionsFromUrl(url));
    if (flags.durability == "process") options.journal = false;
    return OpenBoth(options, mongo::OpenMessageStore, mongo::OpenAccountStore);
#else
    return NotBuiltStore("courier::mongo (MongoDB)", "COURIER_WITH_MONGO", "libmongoc-dev");
#endif
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--store must be rocksdb:PATH, sqlite:PATH, postgresql://..., mongodb://... or "
                   "memory, got \"", Redacted(url), "\""));
}

absl::StatusOr<std::unique_ptr<PresenceStore>> OpenPresence(const ServerFlags& flags,
                                                            const Clock& clock,
                                                            std::string& description) {
  if (flags.redis.empty()) {
    description = "memory";
    return memory::OpenPresenceStore(clock, static_cast<TimeMs>(flags.presence_ttl_ms));
  }
  if (!StartsWith(flags.redis, "redis://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--redis must be redis://host:port, got \"", Redacted(flags.redis), "\""));
  }
#if defined(COURIER_SERVER_WITH_REDIS)
  COURIER_ASSIGN_OR_RETURN(redis::RedisPresenceOptions options,
                           redis::RedisOptionsFromUrl(flags.redis));
  options.open_while_unreachable = true;  // serve from memory until Redis answers
  options.ttl_ms = static_cast<TimeMs>(flags.presence_ttl_ms);
  description = Redacted(flags.redis);
  return redis::OpenPresenceStore(options, clock);
#else
  return NotBuilt("courier::redis (Redis presence)", "COURIER_WITH_REDIS", "libhiredis-dev",
                  "leave --redis out (presence in memory)");
#endif
}

}  // namespace

bool IsMemoryStore(const std::string& store) { return store == "memory"; }

bool IsEmbeddedStore(const std::string& store) {
  return store.empty() || StartsWith(store, "rocksdb:") || StartsWith(store, "sqlite:") ||
         IsMemoryStore(store);
}

absl::Status CheckDataDir(const std::string& data_dir, const EmbeddedStore& asked) {
  if (Exists(asked)) return absl::OkStatus();
  for (EmbeddedStore::Kind kind : {EmbeddedStore::Kind::kRocksdb, EmbeddedStore::Kind::kSqlite}) {
    const EmbeddedStore held = InDataDir(data_dir, kind);
    if (!Exists(held)) continue;
    const KindInfo& info = Info(kind);
    return absl::FailedPreconditionError(
        absl::StrCat("data dir ", data_dir, " holds a ", info.title, " store (", info.in_data_dir,
                     "); start with --store ", info.scheme, ":", held.path, " to use it"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Backends> OpenBackends(const ServerFlags& flags, const std::string& storage_secret,
                                      const Clock& clock) {
  Backends b;
  COURIER_ASSIGN_OR_RETURN(Stores stores, OpenStores(flags, b.store_description));
  COURIER_ASSIGN_OR_RETURN(std::string key, DeriveStorageKey(storage_secret));
  COURIER_ASSIGN_OR_RETURN(b.messages, OpenEncryptingStore(std::move(stores.messages), key));
  b.accounts = std::move(stores.accounts);
  COURIER_ASSIGN_OR_RETURN(b.presence, OpenPresence(flags, clock, b.presence_description));
  return b;
}

}  // namespace courier::server
