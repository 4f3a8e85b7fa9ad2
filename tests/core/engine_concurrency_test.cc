// Engine under real threads: the engine's own executors, several client
// threads sending, receiving and acking at once. Run under TSan in CI.
#include "absl/strings/str_cat.h"
#include "courier/engine.h"
#include "engine_threads.h"

namespace courier::testing {
namespace {

TEST_CASE("Engine: concurrent senders and receivers on real threads lose and reorder nothing",
          "[engine][concurrency]") {
  constexpr int kUsers = 6;
  constexpr int kPerUser = 300;
  ThreadedEngine threaded(/*max_batch_ops=*/64, /*with_accounts=*/true);
  ThreadedClients clients;
  clients.users = kUsers;
  clients.sends_per_user = kPerUser;
  clients.messages_per_user = kPerUser;
  // Each user sends kPerUser / (kUsers - 1) to every other user, so each
  // receives kPerUser.
  clients.send = [](Session& session, int me, int n) {
    const UserId to = absl::StrCat("u", (me + 1 + n % (kUsers - 1)) % kUsers);
    session.Send(absl::StrCat("c", n), to, absl::StrCat(n));
  };
  CHECK(clients.Run(threaded.engine()));
  threaded.engine().Shutdown();
  for (int i = 0; i < kUsers; ++i) {
    const UserId user = "u" + std::to_string(i);
    // Each user got kPerUser messages and a delivered receipt for each send.
    CHECK(threaded.store().Head(user).value() >= static_cast<Seq>(kPerUser));
  }
  const EngineStats s = threaded.engine().stats();
  CHECK(s.sends == kUsers * kPerUser);
  CHECK(s.committed_ops >= s.commits);
}

}  // namespace
}  // namespace courier::testing
