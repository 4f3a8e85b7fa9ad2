// engine_threads.h: client threads against an engine on its own executors,
// for the tests that run under TSan in CI (engine_concurrency_test.cc,
// engine_group_test.cc).
//
// Each client u0 .. u{users-1} connects one device "d" from its own thread,
// sends `sends_per_user` numbered messages (at most 8 unanswered), acks what
// it receives, and checks the stream as it goes: events in seq order without
// gaps, each sender's messages in the order sent, no errors. It stays
// connected until every client got everything, so that nobody's events wait.
#ifndef COURIER_TESTS_CORE_ENGINE_THREADS_H_
#define COURIER_TESTS_CORE_ENGINE_THREADS_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "courier/contact_policy.h"
#include "courier/engine.h"
#include "courier/memory.h"
#include "support/status_matchers.h"

namespace courier::testing {

// An engine on its own executors over memory stores on the system clock,
// with what the real-thread tests share: a rate limit out of reach, and a
// small window and an odd page size, so that flow control runs often.
// `with_accounts` adds an AccountStore (durable last seen).
class ThreadedEngine {
 public:
  explicit ThreadedEngine(std::size_t max_batch_ops, bool with_accounts = false) {
    EngineOptions o;
    o.rate_limit.count = 1'000'000;
    o.limits.window = 16;
    o.limits.fetch_page = 7;
    o.max_batch_ops = max_batch_ops;
    if (with_accounts) accounts_ = memory::OpenAccountStore();
    auto engine = Engine::Create(
        o, Engine::Deps{store_.get(), presence_.get(), contacts_.get(), accounts_.get()});
    COURIER_REQUIRE_OK(engine);
    engine_ = *std::move(engine);
  }

  Engine& engine() { return *engine_; }
  MessageStore& store() { return *store_; }

 private:
  std::unique_ptr<MessageStore> store_ = memory::OpenMessageStore();
  std::unique_ptr<PresenceStore> presence_ = memory::OpenPresenceStore(SystemClock());
  std::unique_ptr<ContactPolicy> contacts_ = MakeOpenPolicy();
  std::unique_ptr<AccountStore> accounts_;
  std::unique_ptr<Engine> engine_;  // destroyed first
};

struct ThreadedClients {
  int users = 0;
  int sends_per_user = 0;
  // How many message events each client must receive.
  int messages_per_user = 0;
  // Sends message `n` (0-based) of client `me`: cid absl::StrCat("c", n),
  // body absl::StrCat(n) (the order check reads the body as n).
  std::function<void(Session& session, int me, int n)> send;
  // Further checks of each message event received; true when it is right.
  std::function<bool(const Event& message)> message_ok = [](const Event&) { return true; };
  // Checks a typing frame client `me` received; unset: none may arrive.
  // Called from the client threads.
  std::function<bool(const TypingFrame& typing, const UserId& me)> typing_ok;
  std::chrono::steady_clock::time_point deadline =
      std::chrono::steady_clock::now() + std::chrono::minutes(3);

  // Runs every client on its own thread and joins them; true when each sent
  // and received everything, before the deadline, and saw nothing wrong.
  bool Run(Engine& engine) const {
    std::atomic<bool> failed{false};
    std::atomic<int> done_users{0};
    auto client = [&](int me) {
      // absl::StrCat, not "u" + std::to_string: GCC 12's -Wrestrict false
      // positive on inlined std::string concatenation.
      const UserId user = absl::StrCat("u", me);
      auto transport = std::make_shared<memory::RecordingTransport>();
      auto session = engine.Connect(user, "d", std::nullopt, transport);
      if (!session.ok()) {
        failed = true;
        return;
      }
      int sent_ok = 0, next_send = 0, messages_in = 0;
      Seq next_seq = 0;
      std::map<UserId, int> last_from;  // per sender, bodies arrive in send order
      // Handles what arrived and acks it; returns the seq acked, 0 if none.
      auto take = [&]() {
        Seq ack = 0;
        for (ServerFrame& f : transport->Take()) {
          if (auto* w = std::get_if<WelcomeFrame>(&f)) {
            next_seq = w->cursor + 1;
          } else if (auto* e = std::get_if<EventFrame>(&f)) {
            if (e->event.seq != next_seq) failed = true;
            next_seq = e->event.seq + 1;
            ack = e->event.seq;
            if (e->event.kind != EventKind::kMessage) continue;
            if (!message_ok(e->event)) failed = true;
            auto [it, fresh] = last_from.try_emplace(e->event.peer, -1);
            const int n = std::stoi(e->event.body);
            if (n <= it->second) failed = true;
            it->second = n;
            ++messages_in;
          } else if (auto* t = std::get_if<TypingFrame>(&f)) {
            if (!typing_ok || !typing_ok(*t, user)) failed = true;
          } else if (std::holds_alternative<SentFrame>(f)) {
            ++sent_ok;
          } else if (std::holds_alternative<ErrorFrame>(f)) {
            failed = true;
          }
        }
        if (ack > 0) (*session)->Ack(ack);
        return ack;
      };
      while (std::chrono::steady_clock::now() < deadline) {
        if (next_send < sends_per_user && next_send - sent_ok < 8) {
          send(**session, me, next_send);
          ++next_send;
        }
        const Seq ack = take();
        if (sent_ok == sends_per_user && messages_in == messages_per_user) break;
        if (ack == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      if (sent_ok != sends_per_user || messages_in != messages_per_user) failed = true;
      done_users.fetch_add(1);
      while (done_users.load() < users && std::chrono::steady_clock::now() < deadline) {
        take();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      (*session)->Disconnect();
    };
    std::vector<std::thread> threads;
    for (int i = 0; i < users; ++i) threads.emplace_back(client, i);
    for (auto& t : threads) t.join();
    return !failed.load();
  }
};

}  // namespace courier::testing

#endif  // COURIER_TESTS_CORE_ENGINE_THREADS_H_
