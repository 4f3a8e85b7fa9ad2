// stores.cc: URL -> adapter, for the adapters this binary was built with.
#include "stores.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "courier/body_cipher.h"
#include "courier/memory.h"
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

struct Stores {
  std::unique_ptr<MessageStore> messages;
  std::unique_ptr<AccountStore> accounts;
};

absl::StatusOr<Stores> OpenStores(const ServerFlags& flags, std::string& description) {
  std::string url = flags.store.empty() ? "sqlite:" + flags.data_dir + "/courier.db" : flags.store;
  if (StartsWith(url, "sqlite:")) {
    std::string path = url.substr(7);
    if (StartsWith(path, "//")) path = path.substr(2);  // sqlite:///abs/path
    if (path.empty()) return absl::InvalidArgumentError("--store sqlite:PATH needs a path");
    sqlite::SqliteOptions options = flags.durability == "process"
                                        ? sqlite::SqliteOptions::Fast(path)
                                        : sqlite::SqliteOptions::Durable(path);
    Stores s;
    COURIER_ASSIGN_OR_RETURN(s.messages, sqlite::OpenMessageStore(options));
    COURIER_ASSIGN_OR_RETURN(s.accounts, sqlite::OpenAccountStore(options));
    description = absl::StrCat("sqlite:", path, " durability=", flags.durability);
    return s;
  }
  if (StartsWith(url, "postgresql://") || StartsWith(url, "postgres://")) {
#if defined(COURIER_SERVER_WITH_POSTGRES)
    COURIER_ASSIGN_OR_RETURN(postgres::PostgresOptions options,
                             postgres::PostgresOptionsFromUrl(url));
    if (flags.durability == "process") options.synchronous_commit_off = true;
    Stores s;
    COURIER_ASSIGN_OR_RETURN(s.messages, postgres::OpenMessageStore(options));
    COURIER_ASSIGN_OR_RETURN(s.accounts, postgres::OpenAccountStore(options));
    description = Redacted(url);
    return s;
#else
    return NotBuilt("courier::postgres (PostgreSQL)", "COURIER_WITH_POSTGRES", "libpq-dev",
                    "use --store sqlite:PATH");
#endif
  }
  if (StartsWith(url, "mongodb://") || StartsWith(url, "mongodb+srv://")) {
#if defined(COURIER_SERVER_WITH_MONGO)
    COURIER_ASSIGN_OR_RETURN(mongo::MongoOptions options, mongo::MongoOptionsFromUrl(url));
    if (flags.durability == "process") options.journal = false;
    Stores s;
    COURIER_ASSIGN_OR_RETURN(s.messages, mongo::OpenMessageStore(options));
    COURIER_ASSIGN_OR_RETURN(s.accounts, mongo::OpenAccountStore(options));
    description = Redacted(url);
    return s;
#else
    return NotBuilt("courier::mongo (MongoDB)", "COURIER_WITH_MONGO", "libmongoc-dev",
                    "use --store sqlite:PATH");
#endif
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--store must be sqlite:PATH, postgresql://... or mongodb://..., got \"", Redacted(url), "\""));
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
