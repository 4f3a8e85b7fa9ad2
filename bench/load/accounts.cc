// accounts.cc: store and HTTP set-ups of a Plan.
#include "accounts.h"

#include <sodium.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "courier/sqlite.h"
#if defined(COURIER_LOAD_WITH_ROCKSDB)
#include "courier/rocksdb.h"
#endif
#include "http_client.h"
#include "jwt.h"
#include "rapidjson/document.h"

namespace courier::load {
namespace {

// A 24-hour token for `user`, issued as the server issues them.
std::string MintToken(const server::TokenSigner& signer, const std::string& user) {
  constexpr TimeMs kDayMs = 24 * 3600 * 1000;
  const TimeMs now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  return signer.Issue(user, now, kDayMs).token;
}

absl::Status Check(const absl::StatusOr<HttpAnswer>& a, int want, const std::string& what) {
  if (!a.ok()) return absl::Status(a.status().code(), absl::StrCat(what, ": ", a.status().message()));
  if (a->status != want) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": HTTP ", a->status, " (wanted ", want, "): ", a->body));
  }
  return absl::OkStatus();
}

// Runs fn(i) for i in [0, n) on `parallel` threads; the first error wins.
absl::Status ParallelFor(std::size_t n, std::size_t parallel,
                         const std::function<absl::Status(std::size_t, HttpClient&)>& fn,
                         const boost::asio::ip::tcp::endpoint& endpoint) {
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  absl::Status first;
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < std::max<std::size_t>(1, parallel); ++t) {
    threads.emplace_back([&] {
      HttpClient client(endpoint);
      for (;;) {
        const std::size_t i = next.fetch_add(1);
        if (i >= n) return;
        absl::Status s = fn(i, client);
        if (!s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (first.ok()) first = s;
          next.store(n);
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return first;
}

// The account store behind a --store URL, opened for seeding only:
// process-crash durability (no fsync per user); the server opens the same
// store with its own (default power-loss) durability.
absl::StatusOr<std::unique_ptr<AccountStore>> OpenForSeeding(const std::string& url) {
  if (url.rfind("sqlite:", 0) == 0) {
    return sqlite::OpenAccountStore(sqlite::SqliteOptions::Fast(url.substr(7)));
  }
  if (url.rfind("rocksdb:", 0) == 0) {
#if defined(COURIER_LOAD_WITH_ROCKSDB)
    return rocksdb::OpenAccountStore(rocksdb::RocksdbOptions::Fast(url.substr(8)));
#else
    return absl::InvalidArgumentError("this courier-load was built without courier::rocksdb");
#endif
  }
  return absl::InvalidArgumentError(absl::StrCat("cannot seed the store ", url));
}

}  // namespace

absl::Status WriteSecretFile(const std::string& path) {
  if (sodium_init() < 0) return absl::InternalError("libsodium failed to initialise");
  std::string secret(48, '\0');
  randombytes_buf(secret.data(), secret.size());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << secret;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

namespace {

// The server's signer: the content of its --jwt-secret-file (32+ bytes).
absl::StatusOr<server::TokenSigner> ReadSigner(const std::string& jwt_secret_path) {
  if (sodium_init() < 0) return absl::InternalError("libsodium failed to initialise");
  std::ifstream in(jwt_secret_path, std::ios::binary);
  std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (secret.size() < 32) return absl::FailedPreconditionError("the jwt secret file is too short");
  return server::TokenSigner::Create(std::move(secret));
}

}  // namespace

absl::Status SeedStore(const std::string& store_url, const std::string& jwt_secret_path,
                       Plan& plan) {
  absl::StatusOr<server::TokenSigner> signer = ReadSigner(jwt_secret_path);
  if (!signer.ok()) return signer.status();
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(hash, kPassword, sizeof kPassword - 1, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    return absl::ResourceExhaustedError("Argon2id: out of memory");
  }
  absl::StatusOr<std::unique_ptr<AccountStore>> store = OpenForSeeding(store_url);
  if (!store.ok()) return store.status();
  const TimeMs now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  for (Account& a : plan.users) {
    if (absl::Status s = (*store)->CreateUser(a.user, hash, now); !s.ok()) return s;
    a.token = MintToken(*signer, a.user);
  }
  for (const auto& [x, y] : plan.friendships) {
    absl::StatusOr<FriendRequestOutcome> r =
        (*store)->RequestFriend(plan.users[x].user, plan.users[y].user);
    if (!r.ok()) return r.status();
    if (*r == FriendRequestOutcome::kRequested) {
      if (absl::Status s = (*store)->AcceptFriend(plan.users[y].user, plan.users[x].user); !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status SeedHttp(const boost::asio::ip::tcp::endpoint& endpoint, Plan& plan,
                      std::size_t parallel, const std::string& jwt_secret_path) {
  const std::string password = kPassword;
  std::vector<std::size_t> to_register(plan.users.size());
  for (std::size_t i = 0; i < to_register.size(); ++i) to_register[i] = i;
  std::optional<server::TokenSigner> signer;  // none: log in
  if (!jwt_secret_path.empty()) {
    absl::StatusOr<server::TokenSigner> read = ReadSigner(jwt_secret_path);
    if (!read.ok()) return read.status();
    signer = *std::move(read);
    std::vector<bool> befriended(plan.users.size(), false);
    for (const auto& [x, y] : plan.friendships) befriended[x] = befriended[y] = true;
    to_register.clear();
    for (std::size_t i = 0; i < plan.users.size(); ++i) {
      if (befriended[i]) to_register.push_back(i);
      plan.users[i].token = MintToken(*signer, plan.users[i].user);
    }
  }
  absl::Status s = ParallelFor(
      to_register.size(), parallel,
      [&](std::size_t i, HttpClient& http) -> absl::Status {
        Account& a = plan.users[to_register[i]];
        const std::string creds =
            absl::StrCat(R"({"user":")", a.user, R"(","password":")", password, R"("})");
        absl::StatusOr<HttpAnswer> reg = http.Post("/v1/register", creds);
        if (absl::Status c = Check(reg, 201, "register " + a.user); !c.ok()) return c;
        if (signer.has_value()) return absl::OkStatus();  // token signed above
        absl::StatusOr<HttpAnswer> login = http.Post("/v1/login", creds);
        if (absl::Status c = Check(login, 200, "login " + a.user); !c.ok()) return c;
        rapidjson::Document doc;
        doc.Parse(login->body.data(), login->body.size());
        if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("token") ||
            !doc["token"].IsString()) {
          return absl::InternalError("login answered no token");
        }
        a.token = doc["token"].GetString();
        return absl::OkStatus();
      },
      endpoint);
  if (!s.ok()) return s;
  return ParallelFor(
      plan.friendships.size(), parallel,
      [&](std::size_t i, HttpClient& http) -> absl::Status {
        const Account& a = plan.users[plan.friendships[i].first];
        const Account& b = plan.users[plan.friendships[i].second];
        absl::StatusOr<HttpAnswer> req =
            http.Post("/v1/friends/request", absl::StrCat(R"({"user":")", b.user, R"("})"), a.token);
        if (absl::Status c = Check(req, 200, "friend request"); !c.ok()) return c;
        absl::StatusOr<HttpAnswer> acc =
            http.Post("/v1/friends/accept", absl::StrCat(R"({"user":")", a.user, R"("})"), b.token);
        return Check(acc, 200, "friend accept");
      },
      endpoint);
}

}  // namespace courier::load
