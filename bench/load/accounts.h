// accounts.h: the users and friendships a run needs, and their tokens.
//
// Workloads add users and friendships to a Plan; then one of two set-ups
// makes them real:
//  * SeedStore (when courier-load starts the server itself): before the
//    server starts, the users and friendships are written into the fresh
//    data dir's account store (the server's --store URL: rocksdb:PATH or
//    sqlite:PATH) with ONE Argon2id hash shared by all users, and tokens are
//    signed with the data dir's JWT secret. Setting up
//    2,000+ users through POST /v1/register and /v1/login would cost two
//    Argon2id hashes (64 MiB, about 0.1-1.5 s each on this machine) per user.
//  * SeedHttp (--connect, or --setup http): the HTTP API of PROTOCOL.md:
//    register, login, friend request and accept, `parallel` at a time.
//    Given the JWT secret (a server on --store memory, whose accounts live in
//    its memory, so they cannot be written before it starts): only the users
//    with a friend are registered, nobody logs in, and the tokens are signed
//    here as with SeedStore. That saves Argon2id hashes: one per befriended
//    user instead of two per user. A user who is not registered gets a
//    token too, but the server refuses a token whose account does not exist
//    (so W4 on a memory store registers a few users of its own, w4_idle.cc).
//
// Thread-safety: plain values and blocking functions; one caller at a time.
// Blocking: both set-ups block until done.
#ifndef COURIER_BENCH_LOAD_ACCOUNTS_H_
#define COURIER_BENCH_LOAD_ACCOUNTS_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "absl/status/status.h"

namespace courier::load {

struct Account {
  std::string user;
  std::string token;  // filled by the set-up
};

struct Plan {
  std::vector<Account> users;
  std::vector<std::pair<std::size_t, std::size_t>> friendships;  // indices into users

  std::size_t AddUser(std::string name) {
    users.push_back(Account{std::move(name), {}});
    return users.size() - 1;
  }
  void AddFriends(std::size_t a, std::size_t b) { friendships.emplace_back(a, b); }
};

inline constexpr char kPassword[] = "courier-load-password";

// Writes 32+ random bytes to `path` (the server's --jwt-secret-file).
absl::Status WriteSecretFile(const std::string& path);
// `store_url` is what the server gets as --store: "rocksdb:PATH" or
// "sqlite:PATH" (kInvalidArgument for a kind this courier-load was built
// without). The store is closed again before this returns.
absl::Status SeedStore(const std::string& store_url, const std::string& jwt_secret_path,
                       Plan& plan);
// `jwt_secret_path`: "" (register and log in everyone) or the server's
// --jwt-secret-file (see above).
absl::Status SeedHttp(const boost::asio::ip::tcp::endpoint& endpoint, Plan& plan,
                      std::size_t parallel, const std::string& jwt_secret_path = "");

}  // namespace courier::load

#endif  // COURIER_BENCH_LOAD_ACCOUNTS_H_
