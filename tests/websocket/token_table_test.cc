// Tests of examples/server/token_table.h: the cached token states and the
// open sessions of the revocation watcher, one record per user.
#include "token_table.h"

#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace courier::server {
namespace {

class NullTransport final : public Transport {
 public:
  void Send(std::vector<ServerFrame>) override {}
  void Close(CloseCode, std::string_view) override {}
};

TokenClaims ClaimsOf(const std::string& user, std::uint64_t generation, const std::string& id) {
  TokenClaims c;
  c.user = user;
  c.generation = generation;
  c.id = id;
  return c;
}

TEST_CASE("TokenTable: a session's record does not answer for the cache until the state is read",
          "[server][accounts]") {
  TokenTable t;
  auto conn = std::make_shared<NullTransport>();
  t.AddSession(ClaimsOf("alice", 3, "a"), conn);
  // Generation 0 would be revoked by any known state of generation 3:
  // nothing is known yet, so nothing is revoked.
  CHECK_FALSE(t.KnownRevoked(ClaimsOf("alice", 0, "x")));
  CHECK(t.HasSessions("alice"));
  t.Remember("alice", TokenState{3, {"b"}});
  CHECK(t.size() == 1);  // one record holds both
  CHECK(t.KnownRevoked(ClaimsOf("alice", 2, "x")));  // an older generation
  CHECK(t.KnownRevoked(ClaimsOf("alice", 3, "b")));  // a revoked id
  CHECK_FALSE(t.KnownRevoked(ClaimsOf("alice", 3, "a")));
  CHECK_FALSE(t.KnownRevoked(ClaimsOf("alice", 4, "a")));  // newer than the cache
  // An older read never undoes a newer one.
  t.Remember("alice", TokenState{2, {}});
  CHECK(t.KnownRevoked(ClaimsOf("alice", 2, "x")));
}

TEST_CASE("TokenTable: TakeRevoked returns the revoked sessions and keeps the others",
          "[server][accounts]") {
  TokenTable t;
  auto a = std::make_shared<NullTransport>();
  auto b = std::make_shared<NullTransport>();
  auto c = std::make_shared<NullTransport>();
  t.AddSession(ClaimsOf("alice", 1, "ta"), a);
  t.AddSession(ClaimsOf("alice", 1, "tb"), b);
  t.AddSession(ClaimsOf("alice", 1, "a-token-id-longer-than-23-bytes"), c);
  const TokenState state{1, {"tb"}};
  std::vector<std::shared_ptr<Transport>> revoked = t.TakeRevoked("alice", &state);
  REQUIRE(revoked.size() == 1);
  CHECK(revoked[0] == b);
  CHECK(t.TakeRevoked("alice", &state).empty());  // taken once
  // The account gone: every session left.
  revoked = t.TakeRevoked("alice", nullptr);
  CHECK(revoked.size() == 2);
  CHECK_FALSE(t.HasSessions("alice"));
  CHECK(t.UsersWithSessions().empty());
  CHECK(t.TakeRevoked("nobody", nullptr).empty());
}

TEST_CASE("TokenTable: closed connections are forgotten, their users not swept",
          "[server][accounts]") {
  TokenTable t;
  auto kept = std::make_shared<NullTransport>();
  {
    auto gone = std::make_shared<NullTransport>();
    t.AddSession(ClaimsOf("bob", 1, "x"), gone);
    t.AddSession(ClaimsOf("carol", 1, "y"), gone);
  }
  t.AddSession(ClaimsOf("carol", 1, "z"), kept);
  std::vector<NameKey> users = t.UsersWithSessions();
  REQUIRE(users.size() == 1);
  CHECK(users[0].view() == "carol");
  CHECK_FALSE(t.HasSessions("bob"));
  const TokenState state{2, {}};  // revokes every generation-1 token
  CHECK(t.TakeRevoked("carol", &state).size() == 1);
}

TEST_CASE("TokenTable: past the cache's limit only records without sessions are dropped",
          "[server][accounts]") {
  TokenTable t;
  auto conn = std::make_shared<NullTransport>();
  t.AddSession(ClaimsOf("live", 1, "x"), conn);
  t.Remember("live", TokenState{1, {}});
  for (std::size_t i = 0; t.size() < TokenTable::kMaxCachedUsers; ++i) {
    t.Remember("u" + std::to_string(i), TokenState{1, {}});
  }
  t.Remember("one-more", TokenState{1, {}});
  CHECK(t.size() == 2);  // "live" and "one-more"
  CHECK(t.HasSessions("live"));
  CHECK(t.KnownRevoked(ClaimsOf("live", 0, "x")));  // its state kept
}

}  // namespace
}  // namespace courier::server
