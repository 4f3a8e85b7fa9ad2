// stores.h: the storage and presence backends that --store and --redis name.
//
//   --store sqlite:PATH (default sqlite:DIR/courier.db) -> courier::sqlite
//   --store postgresql://... | postgres://...          -> courier::postgres
//   --store mongodb://...                              -> courier::mongo
//   --redis redis://...  (default: memory)             -> courier::redis
// The message store is wrapped by OpenEncryptingStore with the storage key.
// An adapter that this binary was built without is a kFailedPrecondition
// that names the missing target and how to build it.
//
// Ownership: the caller owns the Backends; `clock` must outlive them.
// Thread-safety: call once at start-up.
// Blocking: opens files and connects to servers.
#ifndef COURIER_EXAMPLES_SERVER_STORES_H_
#define COURIER_EXAMPLES_SERVER_STORES_H_

#include <memory>
#include <string>

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

// `storage_secret` is the content of the storage key file (32+ bytes).
absl::StatusOr<Backends> OpenBackends(const ServerFlags& flags, const std::string& storage_secret,
                                      const Clock& clock);

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_STORES_H_
