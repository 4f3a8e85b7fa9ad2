// token_table.h: what this process knows of each user's tokens, in one
// record per user: the token state last read from the store (the cache
// Accounts::Authenticate checks) and the user's open WebSocket sessions with
// their tokens (what the RevocationWatcher closes when the store says
// revoked).
//
// The two used to be two maps with the same keys (every hello's user is
// added to the watcher and, by the watcher's Refresh right after, to the
// cache): one record holds both, one node and one table slot per user
// instead of two (bench/README.md, W4).
//
// Records. A record is made by Remember (state known) or AddSession (state
// not known yet: Authenticate lets every token of it through, as for a
// user not in the table). A record whose sessions are all gone stays as a
// cache entry. Past kMaxCachedUsers records, Remember of a new user first
// drops every record without an open session (a cache: the store is the
// truth); records with sessions are never dropped (the watcher needs them).
//
// Memory: per user a 96-byte node (tcmalloc's 96 class; the name inline up
// to 23 bytes, the first session inline) and an 8-byte table slot; a
// revoked-id list or a second session in blocks of their own.
// Ownership: sessions are held by weak pointer (the table never keeps a
//   connection open).
// Thread-safety: safe for concurrent use (one mutex; no call made under it).
// Blocking: never (no store access; callers read the store).
#ifndef COURIER_EXAMPLES_SERVER_TOKEN_TABLE_H_
#define COURIER_EXAMPLES_SERVER_TOKEN_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/synchronization/mutex.h"
#include "courier/account_store.h"
#include "courier/name_key.h"
#include "courier/transport.h"
#include "jwt.h"

namespace courier::server {

// A token of `generation` and `token_id` against a user's `state_generation`
// and sorted `revoked` ids.
bool RevokedBy(std::uint64_t generation, std::string_view token_id,
               std::uint64_t state_generation, const std::vector<std::string>& revoked);

class TokenTable {
 public:
  static constexpr std::size_t kMaxCachedUsers = 100'000;

  // Caches `state` as the user's (never replacing a newer generation).
  void Remember(const UserId& user, const TokenState& state);
  // True when the cached state of `claims.user` is known to revoke a token
  // with `claims` (false when nothing is cached, or the token's generation
  // is newer than the cached one: the cache is behind the store).
  bool KnownRevoked(const TokenClaims& claims) const;
  // The number of users with a record (tests).
  std::size_t size() const;

  // Adds an open session of `claims.user` with that token, and forgets
  // the user's sessions whose connections are gone.
  void AddSession(const TokenClaims& claims, std::weak_ptr<Transport> connection);
  bool HasSessions(const UserId& user) const;
  // Forgets the sessions whose connections are gone, and returns every
  // user that still has one.
  std::vector<NameKey> UsersWithSessions();
  // Removes and returns the user's open sessions whose tokens `state`
  // revokes (every one when `state` is null: the account is gone); forgets
  // the ones whose connections are gone.
  std::vector<std::shared_ptr<Transport>> TakeRevoked(const UserId& user,
                                                       const TokenState* state);

 private:
  // One open session: what RevokedBy reads of its token, and its
  // connection (the user is the map's key).
  struct Session {
    std::uint64_t generation = 0;
    NameKey token_id;  // inline up to 23 bytes
    std::weak_ptr<Transport> connection;
  };
  struct Record {
    static constexpr std::uint64_t kUnknown = ~std::uint64_t{0};
    // The store's generation as last read here; kUnknown: not read yet.
    std::uint64_t generation = kUnknown;
    std::unique_ptr<const std::vector<std::string>> revoked;  // null: none
    absl::InlinedVector<Session, 1> sessions;
  };
  static_assert(sizeof(std::pair<const NameKey, Record>) <= 96,
                "a 96-byte node per user (above, Memory)");

  static void ForgetClosed(Record& record);

  mutable absl::Mutex mu_;
  NameNodeMap<Record> users_ ABSL_GUARDED_BY(mu_);
};

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_TOKEN_TABLE_H_
