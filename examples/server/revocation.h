// revocation.h: closes the WebSocket sessions whose tokens are revoked.
//
// The server tells the watcher of every accepted hello (the token and the
// connection, websocket::ServerHooks::on_token_session). The watcher's own
// thread then checks, against the account store (Accounts::Refresh):
//  * that user right away (so a token revoked on another node, which this
//    node's cache did not know about at hello, is closed within moments);
//  * a user right away whenever a revocation is made on this node (Check);
//  * every user with an open session every `check_every` (so a revocation
//    made on another node of the cluster closes this node's sessions within
//    that time).
// A session whose token is revoked, or whose account the store no longer
// has (deleted), is closed with 4401 "token revoked",
// or with 4403 "account disabled" when the account is disabled (read from
// `store`, if given, only when there is a session to close): disabling a
// user revokes their tokens, and the client must be told not to come back
// whichever node's check sees it first (cluster_close.h).
//
// Cost: one store read per user with open sessions per `check_every`.
// Memory: none per session of its own: the sessions (their tokens'
// generations and ids, weak pointers to their connections) are kept in the
// user's record of the accounts' token table (token_table.h), beside the
// cached token state the watcher's Refresh fills; a user waiting for a
// check is a name in `urgent_` (inline up to 23 bytes).
// Ownership: borrows `accounts`, which must outlive it.
// Thread-safety: safe for concurrent use.
// Blocking: SessionOpened and Check never block (they queue); the
//   destructor joins the thread (waiting for a store read under way).
#ifndef COURIER_EXAMPLES_SERVER_REVOCATION_H_
#define COURIER_EXAMPLES_SERVER_REVOCATION_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "accounts.h"
#include "courier/account_store.h"
#include "courier/name_key.h"
#include "courier/transport.h"

namespace courier::server {

class RevocationWatcher {
 public:
  // `store` may be null (then every revoked session gets 4401); it must
  // outlive the watcher.
  RevocationWatcher(Accounts& accounts, std::chrono::milliseconds check_every,
                    AccountStore* store = nullptr);
  ~RevocationWatcher();
  RevocationWatcher(const RevocationWatcher&) = delete;
  RevocationWatcher& operator=(const RevocationWatcher&) = delete;

  void SessionOpened(std::string_view token, std::weak_ptr<Transport> connection);
  void Check(const UserId& user);

  std::uint64_t closed() const;  // sessions closed with 4401 so far

 private:
  void Loop();
  void CheckUser(const UserId& user);

  Accounts& accounts_;
  AccountStore* const store_;
  const std::chrono::milliseconds check_every_;
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<NameKey, NameHash, NameEq> urgent_ ABSL_GUARDED_BY(mu_);
  std::uint64_t closed_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_REVOCATION_H_
