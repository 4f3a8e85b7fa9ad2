// Engine under real threads: the engine's own executors, several client
// threads sending, receiving and acking at once. Run under TSan in CI.
#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "courier/body_cipher.h"
#include "courier/contact_policy.h"
#include "courier/engine.h"
#include "courier/memory.h"
#include "support/status_matchers.h"

namespace courier::testing {
namespace {

TEST_CASE("Engine: concurrent senders and receivers on real threads lose and reorder nothing",
          "[engine][concurrency]") {
  constexpr int kUsers = 6;
  constexpr int kPerUser = 300;
  auto store = memory::OpenMessageStore();
  auto accounts = memory::OpenAccountStore();
  auto presence = memory::OpenPresenceStore(SystemClock());
  auto contacts = MakeOpenPolicy();
  EngineOptions o;
  o.rate_limit.count = 1'000'000;
  o.limits.window = 16;
  o.limits.fetch_page = 7;
  o.max_batch_ops = 64;
  auto engine = Engine::Create(o, Engine::Deps{store.get(), presence.get(), contacts.get(),
                                               accounts.get()});
  COURIER_REQUIRE_OK(engine);

  std::atomic<bool> failed{false};
  std::atomic<int> done_users{0};
  auto client = [&](int me) {
    const UserId user = "u" + std::to_string(me);
    auto transport = std::make_shared<memory::RecordingTransport>();
    auto session = (*engine)->Connect(user, "d", std::nullopt, transport);
    if (!session.ok()) {
      failed = true;
      return;
    }
    int sent_ok = 0, next_send = 0;
    Seq next_seq = 0;
    std::map<UserId, int> last_from;  // per sender, bodies arrive in send order
    int messages_in = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
    while (std::chrono::steady_clock::now() < deadline) {
      if (next_send < kPerUser && next_send - sent_ok < 8) {
        const UserId to = "u" + std::to_string((me + 1 + next_send % (kUsers - 1)) % kUsers);
        (*session)->Send("c" + std::to_string(next_send), to, std::to_string(next_send));
        ++next_send;
      }
      Seq ack = 0;
      for (ServerFrame& f : transport->Take()) {
        if (auto* w = std::get_if<WelcomeFrame>(&f)) {
          next_seq = w->cursor + 1;
        } else if (auto* e = std::get_if<EventFrame>(&f)) {
          if (e->event.seq != next_seq) failed = true;
          next_seq = e->event.seq + 1;
          ack = e->event.seq;
          if (e->event.kind == EventKind::kMessage) {
            const int n = std::stoi(e->event.body);
            auto [it, fresh] = last_from.try_emplace(e->event.peer, -1);
            if (n <= it->second) failed = true;
            it->second = n;
            ++messages_in;
          }
        } else if (std::holds_alternative<SentFrame>(f)) {
          ++sent_ok;
        } else if (std::holds_alternative<ErrorFrame>(f)) {
          failed = true;
        }
      }
      if (ack > 0) (*session)->Ack(ack);
      if (sent_ok == kPerUser && messages_in == kPerUser) break;
      if (ack == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (sent_ok != kPerUser || messages_in != kPerUser) failed = true;
    done_users.fetch_add(1);
    // Stay connected until everyone is done so that nobody's events wait.
    while (done_users.load() < kUsers && std::chrono::steady_clock::now() < deadline) {
      Seq ack = 0;
      for (ServerFrame& f : transport->Take()) {
        if (auto* e = std::get_if<EventFrame>(&f)) ack = e->event.seq;
      }
      if (ack > 0) (*session)->Ack(ack);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    (*session)->Disconnect();
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kUsers; ++i) threads.emplace_back(client, i);
  for (auto& t : threads) t.join();
  (*engine)->Shutdown();
  CHECK_FALSE(failed.load());
  for (int i = 0; i < kUsers; ++i) {
    const UserId user = "u" + std::to_string(i);
    // Each user got kPerUser messages and a delivered receipt for each send.
    CHECK(store->Head(user).value() >= static_cast<Seq>(kPerUser));
  }
  const EngineStats s = (*engine)->stats();
  CHECK(s.sends == kUsers * kPerUser);
  CHECK(s.committed_ops >= s.commits);
}

}  // namespace
}  // namespace courier::testing
