// tests/conformance/account_store_suite.h: the AccountStore conformance suite.
//
// Every rule of courier/account_store.h, written once and run against every
// adapter. To instantiate it, in one .cc file of the adapter's test folder:
//
//   #include "conformance/account_store_suite.h"
//
//   COURIER_ACCOUNT_STORE_CONFORMANCE("memory", [] {
//     return courier::conformance::MakeFixture<courier::AccountStore>(
//         [] { return courier::memory::OpenAccountStore(); });
//   })
//
// and, for an adapter that keeps its data when closed and opened again:
//
//   COURIER_ACCOUNT_STORE_DURABILITY_CONFORMANCE("sqlite", <the same factory>)
//
// The second argument is an expression callable with no arguments that
// returns std::unique_ptr<StoreFixture<AccountStore>> (store_fixture.h),
// called once per test case; each fixture's first Open() gives an EMPTY store
// and later Open()s reopen the same data. Test cases are named
// "AccountStore[<name>]: <behaviour>", tags [conformance][account_store].
// A suite for an unreachable server is skipped by the test's main (print
// "SKIPPED: ..." and exit 77), never inside a test case. Each case is written
// as COURIER_CONFORMANCE_CASE(Fn, "rule it checks") (conformance_suite.h).
//
// "Sorted by name" means byte order (memcmp), so "Bob" < "abe": a SQL adapter
// orders with a binary collation (COLLATE "C" in PostgreSQL).
#ifndef COURIER_TESTS_CONFORMANCE_ACCOUNT_STORE_SUITE_H_
#define COURIER_TESTS_CONFORMANCE_ACCOUNT_STORE_SUITE_H_

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "conformance/conformance_suite.h"
#include "conformance/store_fixture.h"
#include "courier/account_store.h"
#include "courier/types.h"
#include "support/status_matchers.h"

namespace courier::conformance {

using AccountStoreFactory = StoreHarness<AccountStore>::Factory;

namespace account_store_cases {

using Factory = AccountStoreFactory;
using Harness = StoreHarness<AccountStore>;

inline void CreateUsers(AccountStore& store, const std::vector<UserId>& users) {
  for (const UserId& u : users) COURIER_REQUIRE_OK(store.CreateUser(u, "hash-of-" + u, 1'000));
}

inline FriendRequestOutcome Request(AccountStore& store, const UserId& from, const UserId& to) {
  return ValueOf(store.RequestFriend(from, to));
}

inline bool Friends(AccountStore& store, const UserId& a, const UserId& b) {
  return ValueOf(store.AreFriends(a, b));
}

inline std::vector<UserId> FriendsOf(AccountStore& store, const UserId& user) {
  return ValueOf(store.Friends(user));
}

inline std::vector<UserId> PendingOf(AccountStore& store, const UserId& user) {
  return ValueOf(store.PendingRequests(user));
}

COURIER_CONFORMANCE_CASE(CreateAndLookUpUsers, "create and look up users") {
  Harness h(factory);
  auto missing = h->UserExists("alice");
  COURIER_REQUIRE_OK(missing);
  CHECK_FALSE(*missing);
  CHECK_THAT(h->PasswordHash("alice").status(), StatusIs(absl::StatusCode::kNotFound));

  const std::string hash = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$aGFzaA";
  COURIER_REQUIRE_OK(h->CreateUser("alice", hash, 1'000));
  auto exists = h->UserExists("alice");
  COURIER_REQUIRE_OK(exists);
  CHECK(*exists);
  auto stored = h->PasswordHash("alice");
  COURIER_REQUIRE_OK(stored);
  CHECK(*stored == hash);

  // Names are exact: no case folding.
  auto other_case = h->UserExists("Alice");
  COURIER_REQUIRE_OK(other_case);
  CHECK_FALSE(*other_case);
  COURIER_REQUIRE_OK(h->CreateUser("Alice", "other", 1'000));
  CHECK(*h->PasswordHash("alice") == hash);
  CHECK(*h->PasswordHash("Alice") == "other");
}

COURIER_CONFORMANCE_CASE(SetPasswordHashReplacesIt, "SetPasswordHash replaces the hash") {
  Harness h(factory);
  CHECK_THAT(h->SetPasswordHash("alice", "new"), StatusIs(absl::StatusCode::kNotFound));
  CreateUsers(*h, {"alice", "bob"});
  COURIER_REQUIRE_OK(h->SetPasswordHash("alice", "new-hash"));
  COURIER_REQUIRE_OK(h->SetPasswordHash("alice", "new-hash"));  // the same again is OK
  CHECK(*h->PasswordHash("alice") == "new-hash");
  CHECK(*h->PasswordHash("bob") == "hash-of-bob");
  auto exists = h->UserExists("alice");
  COURIER_REQUIRE_OK(exists);
  CHECK(*exists);
}

COURIER_CONFORMANCE_CASE(DuplicateUserIsAlreadyExists, "a taken name is kAlreadyExists") {
  Harness h(factory);
  COURIER_REQUIRE_OK(h->CreateUser("alice", "first", 1'000));
  CHECK_THAT(h->CreateUser("alice", "second", 2'000), StatusIs(absl::StatusCode::kAlreadyExists));
  auto stored = h->PasswordHash("alice");
  COURIER_REQUIRE_OK(stored);
  CHECK(*stored == "first");
}

COURIER_CONFORMANCE_CASE(RequestThenAccept, "request then accept makes friends") {
  Harness h(factory);
  CreateUsers(*h, {"alice", "bob"});
  CHECK(Request(*h, "alice", "bob") == FriendRequestOutcome::kRequested);
  CHECK(PendingOf(*h, "bob") == std::vector<UserId>{"alice"});
  CHECK(PendingOf(*h, "alice").empty());
  CHECK_FALSE(Friends(*h, "alice", "bob"));
  CHECK_FALSE(Friends(*h, "bob", "alice"));
  // Asking again while pending changes nothing.
  CHECK(Request(*h, "alice", "bob") == FriendRequestOutcome::kRequested);
  CHECK(PendingOf(*h, "bob") == std::vector<UserId>{"alice"});

  COURIER_REQUIRE_OK(h->AcceptFriend("bob", "alice"));
  CHECK(Friends(*h, "alice", "bob"));
  CHECK(Friends(*h, "bob", "alice"));
  CHECK(PendingOf(*h, "bob").empty());
  CHECK(FriendsOf(*h, "alice") == std::vector<UserId>{"bob"});
  CHECK(FriendsOf(*h, "bob") == std::vector<UserId>{"alice"});
  // Accepting an existing friendship again is OK.
  COURIER_REQUIRE_OK(h->AcceptFriend("bob", "alice"));
  CHECK(FriendsOf(*h, "bob") == std::vector<UserId>{"alice"});
}

COURIER_CONFORMANCE_CASE(CrossingRequestsMakeFriends, "crossing requests make friends") {
  Harness h(factory);
  CreateUsers(*h, {"alice", "bob"});
  CHECK(Request(*h, "alice", "bob") == FriendRequestOutcome::kRequested);
  CHECK(Request(*h, "bob", "alice") == FriendRequestOutcome::kBecameFriends);
  CHECK(Friends(*h, "alice", "bob"));
  CHECK(Friends(*h, "bob", "alice"));
  CHECK(PendingOf(*h, "alice").empty());
  CHECK(PendingOf(*h, "bob").empty());
}

COURIER_CONFORMANCE_CASE(RequestBetweenFriendsChangesNothing,
                         "a request between friends changes nothing") {
  Harness h(factory);
  CreateUsers(*h, {"alice", "bob"});
  Request(*h, "alice", "bob");
  COURIER_REQUIRE_OK(h->AcceptFriend("bob", "alice"));
  CHECK(Request(*h, "alice", "bob") == FriendRequestOutcome::kAlreadyFriends);
  CHECK(Request(*h, "bob", "alice") == FriendRequestOutcome::kAlreadyFriends);
  CHECK(PendingOf(*h, "alice").empty());
  CHECK(PendingOf(*h, "bob").empty());
  CHECK(FriendsOf(*h, "alice") == std::vector<UserId>{"bob"});
}

COURIER_CONFORMANCE_CASE(BadFriendRequests, "bad friend requests are refused") {
  Harness h(factory);
  CreateUsers(*h, {"alice", "bob"});
  CHECK_THAT(h->RequestFriend("alice", "nobody").status(), StatusIs(absl::StatusCode::kNotFound));
  CHECK_THAT(h->RequestFriend("alice", "alice").status(),
             StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(h->AcceptFriend("bob", "alice"), StatusIs(absl::StatusCode::kNotFound));
  // A request in the other direction is not one to accept here.
  Request(*h, "bob", "alice");
  CHECK_THAT(h->AcceptFriend("bob", "alice"), StatusIs(absl::StatusCode::kNotFound));
  CHECK_FALSE(Friends(*h, "alice", "bob"));
  CHECK(PendingOf(*h, "alice") == std::vector<UserId>{"bob"});
  CHECK(PendingOf(*h, "nobody").empty());
  CHECK(FriendsOf(*h, "nobody").empty());
  CHECK_FALSE(Friends(*h, "nobody", "alice"));
}

COURIER_CONFORMANCE_CASE(FriendsAndRequestsAreSorted, "friends and requests are sorted by name") {
  Harness h(factory);
  CreateUsers(*h, {"me", "zed", "amy", "Bob", "carl", "dora"});
  for (const char* u : {"zed", "amy", "dora"}) {
    Request(*h, u, "me");
    COURIER_REQUIRE_OK(h->AcceptFriend("me", u));
  }
  Request(*h, "me", "carl");
  Request(*h, "carl", "me");  // crossing
  Request(*h, "Bob", "me");
  CHECK(FriendsOf(*h, "me") == std::vector<UserId>{"amy", "carl", "dora", "zed"});
  CHECK(PendingOf(*h, "me") == std::vector<UserId>{"Bob"});
  CreateUsers(*h, {"yan", "abe", "mo"});
  for (const char* u : {"yan", "abe", "mo"}) Request(*h, u, "me");
  CHECK(PendingOf(*h, "me") == std::vector<UserId>{"Bob", "abe", "mo", "yan"});
  CHECK(FriendsOf(*h, "zed") == std::vector<UserId>{"me"});
}

COURIER_CONFORMANCE_CASE(LastSeenIsKept, "last seen is kept") {
  Harness h(factory);
  CreateUsers(*h, {"alice", "bob"});
  auto never = h->LastSeen("alice");
  COURIER_REQUIRE_OK(never);
  CHECK_FALSE(never->has_value());
  COURIER_REQUIRE_OK(h->SetLastSeen("alice", 1'700'000'000'123));
  auto seen = h->LastSeen("alice");
  COURIER_REQUIRE_OK(seen);
  CHECK(*seen == std::optional<TimeMs>(1'700'000'000'123));
  COURIER_REQUIRE_OK(h->SetLastSeen("alice", 1'700'000'000'999));
  CHECK(*h->LastSeen("alice") == std::optional<TimeMs>(1'700'000'000'999));
  auto other = h->LastSeen("bob");
  COURIER_REQUIRE_OK(other);
  CHECK_FALSE(other->has_value());
}

COURIER_CONFORMANCE_CASE(ConcurrentRequestsAreConsistent,
                         "concurrent crossing requests are consistent") {
  Harness h(factory);
  constexpr int kUsers = 8;
  std::vector<UserId> users;
  for (int i = 0; i < kUsers; ++i) users.push_back("u" + std::to_string(i));
  CreateUsers(*h, users);
  // Every pair asks each other at the same time from two threads.
  AccountStore* store = h.store.get();
  std::vector<std::vector<absl::StatusOr<FriendRequestOutcome>>> results(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([store, t, &users, &out = results[t]] {
      for (int a = 0; a < kUsers; ++a) {
        for (int b = a + 1; b < kUsers; ++b) {
          out.push_back(t == 0 ? store->RequestFriend(users[a], users[b])
                               : store->RequestFriend(users[b], users[a]));
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::size_t became = 0;
  for (const auto& per_thread : results) {
    for (const auto& r : per_thread) {
      COURIER_REQUIRE_OK(r);
      if (*r == FriendRequestOutcome::kBecameFriends) ++became;
    }
  }
  // Exactly one of the two crossing requests of each pair made the friendship.
  CHECK(became == kUsers * (kUsers - 1) / 2);
  for (const UserId& u : users) {
    CHECK(FriendsOf(*h, u).size() == kUsers - 1);
    CHECK(PendingOf(*h, u).empty());
  }
}

inline TokenState TokensOf(AccountStore& store, const UserId& user) {
  return ValueOf(store.GetTokenState(user));
}

COURIER_CONFORMANCE_CASE(TokenGenerationStartsAtZeroAndBumps,
                         "the token generation starts at 0 and bumps") {
  Harness h(factory);
  CHECK_THAT(h->GetTokenState("alice").status(), StatusIs(absl::StatusCode::kNotFound));
  CHECK_THAT(h->BumpTokenGeneration("alice").status(), StatusIs(absl::StatusCode::kNotFound));
  CHECK_THAT(h->RevokeToken("alice", "t1"), StatusIs(absl::StatusCode::kNotFound));
  CreateUsers(*h, {"alice", "bob"});
  TokenState fresh = TokensOf(*h, "alice");
  CHECK(fresh.generation == 0);
  CHECK(fresh.revoked.empty());
  auto g1 = h->BumpTokenGeneration("alice");
  COURIER_REQUIRE_OK(g1);
  CHECK(*g1 == 1);
  auto g2 = h->BumpTokenGeneration("alice");
  COURIER_REQUIRE_OK(g2);
  CHECK(*g2 == 2);
  CHECK(TokensOf(*h, "alice").generation == 2);
  CHECK(TokensOf(*h, "bob").generation == 0);  // per user
}

COURIER_CONFORMANCE_CASE(RevokedTokenIdsAreKeptUntilTheGenerationMoves,
                         "revoked token ids are kept until the generation moves") {
  Harness h(factory);
  CreateUsers(*h, {"alice", "bob"});
  COURIER_REQUIRE_OK(h->RevokeToken("alice", "zz-9"));
  COURIER_REQUIRE_OK(h->RevokeToken("alice", "A_1"));
  COURIER_REQUIRE_OK(h->RevokeToken("alice", "zz-9"));  // twice is OK
  TokenState state = TokensOf(*h, "alice");
  CHECK(state.generation == 0);
  CHECK(state.revoked == std::vector<std::string>{"A_1", "zz-9"});  // sorted, no duplicates
  CHECK(TokensOf(*h, "bob").revoked.empty());
  CHECK_THAT(h->RevokeToken("alice", ""), StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(h->RevokeToken("alice", "a.b"), StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(h->RevokeToken("alice", "$x"), StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(h->RevokeToken("alice", std::string(65, 'a')),
             StatusIs(absl::StatusCode::kInvalidArgument));
  auto bumped = h->BumpTokenGeneration("alice");
  COURIER_REQUIRE_OK(bumped);
  state = TokensOf(*h, "alice");
  CHECK(state.generation == 1);
  CHECK(state.revoked.empty());  // moot once the generation moved
  COURIER_REQUIRE_OK(h->RevokeToken("alice", "after"));
  CHECK(TokensOf(*h, "alice").revoked == std::vector<std::string>{"after"});
}

COURIER_CONFORMANCE_CASE(ConcurrentBumpsEachCount, "concurrent generation bumps each count") {
  Harness h(factory);
  CreateUsers(*h, {"alice"});
  constexpr int kThreads = 4;
  constexpr int kEach = 10;
  AccountStore* store = h.store.get();
  std::vector<std::vector<std::uint64_t>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([store, &out = seen[t]] {
      for (int i = 0; i < kEach; ++i) {
        auto g = store->BumpTokenGeneration("alice");
        if (g.ok()) out.push_back(*g);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::vector<std::uint64_t> all;
  for (const auto& v : seen) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  REQUIRE(all.size() == kThreads * kEach);
  for (std::size_t i = 0; i < all.size(); ++i) CHECK(all[i] == i + 1);  // each value once
  CHECK(TokensOf(*h, "alice").generation == kThreads * kEach);
}

COURIER_CONFORMANCE_DURABILITY_CASE(ReopenKeepsAccounts, "reopen keeps accounts") {
  Harness h(factory);
  CreateUsers(*h, {"alice", "bob", "carol"});
  Request(*h, "alice", "bob");
  COURIER_REQUIRE_OK(h->AcceptFriend("bob", "alice"));
  Request(*h, "carol", "alice");
  COURIER_REQUIRE_OK(h->SetLastSeen("bob", 42));
  h.Reopen();
  CHECK(*h->PasswordHash("carol") == "hash-of-carol");
  CHECK_THAT(h->CreateUser("alice", "x", 1), StatusIs(absl::StatusCode::kAlreadyExists));
  CHECK(Friends(*h, "alice", "bob"));
  CHECK(PendingOf(*h, "alice") == std::vector<UserId>{"carol"});
  CHECK(*h->LastSeen("bob") == std::optional<TimeMs>(42));
  COURIER_REQUIRE_OK(h->AcceptFriend("alice", "carol"));
  CHECK(FriendsOf(*h, "alice") == std::vector<UserId>{"bob", "carol"});
}

COURIER_CONFORMANCE_DURABILITY_CASE(ReopenKeepsTokenState, "reopen keeps token generations") {
  Harness h(factory);
  CreateUsers(*h, {"alice"});
  COURIER_REQUIRE_OK(h->BumpTokenGeneration("alice").status());
  COURIER_REQUIRE_OK(h->RevokeToken("alice", "t1"));
  h.Reopen();
  TokenState state = TokensOf(*h, "alice");
  CHECK(state.generation == 1);
  CHECK(state.revoked == std::vector<std::string>{"t1"});
}

// --- administration (the admin API)

COURIER_CONFORMANCE_CASE(DisableAndEnableUsers, "users are disabled and enabled") {
  Harness h(factory);
  CreateUsers(*h, {"alice", "bob"});
  CHECK(*h->UserDisabled("alice") == false);
  COURIER_REQUIRE_OK(h->SetUserDisabled("alice", true));
  COURIER_REQUIRE_OK(h->SetUserDisabled("alice", true));  // again: OK
  CHECK(*h->UserDisabled("alice") == true);
  CHECK(*h->UserDisabled("bob") == false);
  CHECK(*h->PasswordHash("alice") == "hash-of-alice");  // the account stays
  COURIER_REQUIRE_OK(h->SetUserDisabled("alice", false));
  CHECK(*h->UserDisabled("alice") == false);
  CHECK_THAT(h->SetUserDisabled("nobody", true), StatusIs(absl::StatusCode::kNotFound));
  CHECK_THAT(h->UserDisabled("nobody").status(), StatusIs(absl::StatusCode::kNotFound));
}

COURIER_CONFORMANCE_CASE(DeleteUserRemovesEverythingOfIt,
                         "DeleteUser removes everything of the user") {
  Harness h(factory);
  CreateUsers(*h, {"alice", "bob", "carol", "dave"});
  Request(*h, "alice", "bob");
  COURIER_REQUIRE_OK(h->AcceptFriend("bob", "alice"));
  Request(*h, "alice", "carol");  // alice asked carol
  Request(*h, "dave", "alice");   // dave asked alice
  COURIER_REQUIRE_OK(h->SetLastSeen("alice", 42));
  COURIER_REQUIRE_OK(h->RecordDevice("alice", "phone", 7));
  COURIER_REQUIRE_OK(h->SetUserDisabled("alice", true));
  COURIER_REQUIRE_OK(h->BumpTokenGeneration("alice").status());
  COURIER_REQUIRE_OK(h->SetPushSubscription("alice", "phone", "{\"endpoint\":\"e\"}"));
  COURIER_REQUIRE_OK(h->DeleteUser("alice"));
  CHECK(*h->UserExists("alice") == false);
  CHECK_THAT(h->PasswordHash("alice").status(), StatusIs(absl::StatusCode::kNotFound));
  CHECK(FriendsOf(*h, "bob").empty());
  CHECK_FALSE(Friends(*h, "bob", "alice"));
  CHECK(PendingOf(*h, "carol").empty());
  CHECK(*h->LastSeen("alice") == std::optional<TimeMs>());
  CHECK_THAT(h->DeleteUser("alice"), StatusIs(absl::StatusCode::kNotFound));
  CHECK_THAT(h->Devices("alice").status(), StatusIs(absl::StatusCode::kNotFound));
  // The name is free again, with nothing of the old account.
  COURIER_REQUIRE_OK(h->CreateUser("alice", "new-hash", 2'000));
  CHECK(*h->PasswordHash("alice") == "new-hash");
  CHECK(*h->UserDisabled("alice") == false);
  CHECK(FriendsOf(*h, "alice").empty());
  CHECK(PendingOf(*h, "alice").empty());
  auto devices = h->Devices("alice");
  COURIER_REQUIRE_OK(devices);
  CHECK(devices->empty());
  auto tokens = h->GetTokenState("alice");
  COURIER_REQUIRE_OK(tokens);
  CHECK(tokens->generation > 1);  // above the deleted account's 1: its tokens stay invalid
  CHECK(tokens->revoked.empty());
  auto subscriptions = h->PushSubscriptions("alice");
  COURIER_REQUIRE_OK(subscriptions);
  CHECK(subscriptions->empty());
  // dave's old request to alice is gone too: alice can ask dave afresh.
  CHECK(Request(*h, "alice", "dave") == FriendRequestOutcome::kRequested);
  // Others are untouched.
  CHECK(*h->PasswordHash("bob") == "hash-of-bob");
}

// A token names its user and a generation; were a re-registered name to
// start again at a generation the deleted account had, that account's tokens
// would be valid for the new one (an account takeover).
COURIER_CONFORMANCE_CASE(ARecreatedUserNeverHasADeletedAccountsGeneration,
                         "a re-created user's token generation is above every one of the "
                         "deleted account's") {
  Harness h(factory);
  CreateUsers(*h, {"alice", "bob"});
  // Deleted at generation 0 (DeleteUser alone, no bump first).
  COURIER_REQUIRE_OK(h->DeleteUser("alice"));
  COURIER_REQUIRE_OK(h->CreateUser("alice", "second", 2'000));
  const std::uint64_t second = TokensOf(*h, "alice").generation;
  CHECK(second > 0);
  // Deleted after bumps and a revoked id: none of it comes back.
  auto bumped = h->BumpTokenGeneration("alice");
  COURIER_REQUIRE_OK(bumped);
  CHECK(*bumped == second + 1);
  COURIER_REQUIRE_OK(h->RevokeToken("alice", "t1"));
  COURIER_REQUIRE_OK(h->DeleteUser("alice"));
  CHECK_THAT(h->GetTokenState("alice").status(), StatusIs(absl::StatusCode::kNotFound));
  CHECK_THAT(h->BumpTokenGeneration("alice").status(), StatusIs(absl::StatusCode::kNotFound));
  COURIER_REQUIRE_OK(h->CreateUser("alice", "third", 3'000));
  TokenState third = TokensOf(*h, "alice");
  CHECK(third.generation > *bumped);
  CHECK(third.revoked.empty());
  // Bumps go on from there, and other users are untouched.
  auto next = h->BumpTokenGeneration("alice");
  COURIER_REQUIRE_OK(next);
  CHECK(*next == third.generation + 1);
  CHECK(TokensOf(*h, "bob").generation == 0);
}

COURIER_CONFORMANCE_CASE(DevicesAreRecordedSortedWithTheirLatestTime,
                         "devices are recorded, sorted, with their latest time") {
  Harness h(factory);
  CreateUsers(*h, {"alice", "bob"});
  auto none = h->Devices("alice");
  COURIER_REQUIRE_OK(none);
  CHECK(none->empty());
  COURIER_REQUIRE_OK(h->RecordDevice("alice", "phone", 100));
  COURIER_REQUIRE_OK(h->RecordDevice("alice", "Laptop", 50));
  COURIER_REQUIRE_OK(h->RecordDevice("alice", "phone", 300));
  COURIER_REQUIRE_OK(h->RecordDevice("alice", "phone", 200));  // never lowers it
  COURIER_REQUIRE_OK(h->RecordDevice("bob", "phone", 5));
  auto devices = h->Devices("alice");
  COURIER_REQUIRE_OK(devices);
  CHECK(*devices == std::vector<DeviceRecord>{{"Laptop", 50}, {"phone", 300}});
  CHECK(*h->Devices("bob") == std::vector<DeviceRecord>{{"phone", 5}});
  CHECK_THAT(h->RecordDevice("nobody", "phone", 1), StatusIs(absl::StatusCode::kNotFound));
  CHECK_THAT(h->Devices("nobody").status(), StatusIs(absl::StatusCode::kNotFound));
}

COURIER_CONFORMANCE_CASE(RecordDevicesIsRecordDeviceForEach,
                         "RecordDevices records each sighting as RecordDevice would") {
  Harness h(factory);
  CreateUsers(*h, {"alice", "bob"});
  COURIER_REQUIRE_OK(h->RecordDevices({}));
  COURIER_REQUIRE_OK(h->RecordDevice("alice", "phone", 300));
  const std::vector<DeviceSighting> sightings = {
      {"alice", "phone", 200},  // never lowers it
      {"alice", "Laptop", 70},
      {"alice", "Laptop", 50},  // the same device twice: the later time stays
      {"nobody", "phone", 1},   // an unknown user: skipped, not an error
      {"bob", "no spaces", 5},  // refused, and the others still recorded
      {"bob", "tablet", 9},
      {"bob", "watch", 4},
  };
  CHECK_THAT(h->RecordDevices(sightings), StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK(*h->Devices("alice") == std::vector<DeviceRecord>{{"Laptop", 70}, {"phone", 300}});
  CHECK(*h->Devices("bob") == std::vector<DeviceRecord>{{"tablet", 9}, {"watch", 4}});
  CHECK_THAT(h->Devices("nobody").status(), StatusIs(absl::StatusCode::kNotFound));
  // Many at once (the device log's rounds are up to a thousand).
  std::vector<std::string> names;
  for (int i = 0; i < 300; ++i) names.push_back("d" + std::to_string(i));
  std::vector<DeviceSighting> many;
  for (int i = 0; i < 300; ++i) many.push_back({"bob", names[i], 1000 + i});
  COURIER_REQUIRE_OK(h->RecordDevices(many));
  auto bobs = h->Devices("bob");
  COURIER_REQUIRE_OK(bobs);
  REQUIRE(bobs->size() == 302);
  for (const DeviceRecord& d : *bobs) {
    if (d.device[0] == 'd') CHECK(d.last_seen == 1000 + std::stoi(d.device.substr(1)));
  }
}

COURIER_CONFORMANCE_DURABILITY_CASE(ReopenKeepsAdminState,
                                    "reopen keeps disabled users and devices") {
  Harness h(factory);
  CreateUsers(*h, {"alice", "bob"});
  COURIER_REQUIRE_OK(h->SetUserDisabled("alice", true));
  COURIER_REQUIRE_OK(h->RecordDevice("alice", "phone", 123));
  COURIER_REQUIRE_OK(h->RecordDevices(std::vector<DeviceSighting>{{"alice", "tablet", 7}}));
  COURIER_REQUIRE_OK(h->SetPushSubscription("alice", "phone", "sub-1"));
  COURIER_REQUIRE_OK(h->DeleteUser("bob"));
  h.Reopen();
  CHECK(*h->UserDisabled("alice") == true);
  CHECK(*h->Devices("alice") == std::vector<DeviceRecord>{{"phone", 123}, {"tablet", 7}});
  CHECK(*h->PushSubscriptions("alice") == std::vector<PushSubscriptionRecord>{{"phone", "sub-1"}});
  CHECK(*h->UserExists("bob") == false);
}

COURIER_CONFORMANCE_DURABILITY_CASE(ReopenKeepsADeletedNamesGeneration,
                                    "reopen keeps what a deleted name's tokens were") {
  Harness h(factory);
  CreateUsers(*h, {"alice"});
  COURIER_REQUIRE_OK(h->BumpTokenGeneration("alice").status());
  COURIER_REQUIRE_OK(h->DeleteUser("alice"));
  h.Reopen();
  COURIER_REQUIRE_OK(h->CreateUser("alice", "again", 5'000));
  CHECK(TokensOf(*h, "alice").generation > 1);
}

// --- push subscriptions (courier/notifier.h)

inline std::vector<PushSubscriptionRecord> SubscriptionsOf(AccountStore& s, const UserId& user) {
  auto subs = s.PushSubscriptions(user);
  REQUIRE(subs.ok());
  return *subs;
}

COURIER_CONFORMANCE_CASE(PushSubscriptionsAreKeptPerDevice,
                         "push subscriptions are kept per device") {
  Harness h(factory);
  CreateUsers(*h, {"alice", "bob"});
  CHECK(SubscriptionsOf(*h, "alice").empty());
  COURIER_REQUIRE_OK(h->SetPushSubscription("alice", "phone", "sub-phone-1"));
  COURIER_REQUIRE_OK(h->SetPushSubscription("alice", "Laptop", "sub-laptop"));
  COURIER_REQUIRE_OK(h->SetPushSubscription("alice", "phone", "sub-phone-2"));  // replaces
  COURIER_REQUIRE_OK(h->SetPushSubscription("bob", "phone", "sub-bob"));
  CHECK(SubscriptionsOf(*h, "alice") ==
        std::vector<PushSubscriptionRecord>{{"Laptop", "sub-laptop"}, {"phone", "sub-phone-2"}});
  // A conditional delete of an older subscription leaves the new one.
  auto stale = h->DeletePushSubscription("alice", "phone", std::string("sub-phone-1"));
  COURIER_REQUIRE_OK(stale);
  CHECK(*stale == false);
  auto current = h->DeletePushSubscription("alice", "phone", std::string("sub-phone-2"));
  COURIER_REQUIRE_OK(current);
  CHECK(*current == true);
  auto again = h->DeletePushSubscription("alice", "phone", std::nullopt);
  COURIER_REQUIRE_OK(again);
  CHECK(*again == false);
  auto any = h->DeletePushSubscription("alice", "Laptop", std::nullopt);
  COURIER_REQUIRE_OK(any);
  CHECK(*any == true);
  CHECK(SubscriptionsOf(*h, "alice").empty());
  CHECK(SubscriptionsOf(*h, "bob") == std::vector<PushSubscriptionRecord>{{"phone", "sub-bob"}});
  // A subscription of the largest size is kept whole.
  const std::string big(kMaxPushSubscriptionBytes, 'x');
  COURIER_REQUIRE_OK(h->SetPushSubscription("alice", "tab", big));
  CHECK(SubscriptionsOf(*h, "alice") == std::vector<PushSubscriptionRecord>{{"tab", big}});
}

COURIER_CONFORMANCE_CASE(BadPushSubscriptionsAreRefused, "bad push subscriptions are refused") {
  Harness h(factory);
  CreateUsers(*h, {"alice"});
  CHECK_THAT(h->SetPushSubscription("nobody", "phone", "s"), StatusIs(absl::StatusCode::kNotFound));
  CHECK_THAT(h->SetPushSubscription("alice", "bad device", "s"),
             StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(h->SetPushSubscription("alice", "phone", ""),
             StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(h->SetPushSubscription("alice", "phone", std::string(kMaxPushSubscriptionBytes + 1, 'x')),
             StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(h->PushSubscriptions("nobody").status(), StatusIs(absl::StatusCode::kNotFound));
  CHECK_THAT(h->DeletePushSubscription("nobody", "phone", std::nullopt).status(),
             StatusIs(absl::StatusCode::kNotFound));
  CHECK(SubscriptionsOf(*h, "alice").empty());
}

}  // namespace account_store_cases
}  // namespace courier::conformance

// Runs the suite's cases on one adapter (see the top of this file).
#define COURIER_ACCOUNT_STORE_CONFORMANCE(name, factory) \
  COURIER_CONFORMANCE_RUN_(AccountStore, "[account_store]", false, name, factory)

// Runs the durability cases on an adapter whose fixture reopens its data.
#define COURIER_ACCOUNT_STORE_DURABILITY_CONFORMANCE(name, factory) \
  COURIER_CONFORMANCE_RUN_(AccountStore, "[account_store]", true, name, factory)

#endif  // COURIER_TESTS_CONFORMANCE_ACCOUNT_STORE_SUITE_H_
