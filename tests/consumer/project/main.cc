// courier_hello: one file that links Courier's core with the SQLite store.
// Alice sends Bob a message while Bob is offline; Bob connects, receives it
// and acks it; Alice's inbox then holds the delivered receipt.
//   courier_hello /tmp/hello.db   (a fresh file)
#include <cstdio>
#include <string>

#include "courier/body_cipher.h"
#include "courier/contact_policy.h"
#include "courier/engine.h"
#include "courier/executor.h"
#include "courier/log.h"
#include "courier/memory.h"
#include "courier/sqlite.h"
#include "courier/version.h"

namespace {
int fail(const char* what, const absl::Status& s) {
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  // The installed version header, and the library's diagnostics into our own log.
  std::printf("courier %s (commit %s)\n", courier::kVersion, courier::kGitCommit);
  courier::SetLogSink([](const courier::LogRecord& r) {
    std::fprintf(stderr, "[courier %s] %s: %s\n", std::string(courier::LogLevelName(r.level)).c_str(),
                 std::string(r.component).c_str(), std::string(r.message).c_str());
  });
  courier::sqlite::SqliteOptions sqlite;
  sqlite.path = argc > 1 ? argv[1] : "hello.db";
  auto raw = courier::sqlite::OpenMessageStore(sqlite);
  if (!raw.ok()) return fail("open store", raw.status());
  auto store = courier::OpenEncryptingStore(*std::move(raw), std::string(32, 'k'));
  if (!store.ok()) return fail("encrypting store", store.status());
  auto presence = courier::memory::OpenPresenceStore(courier::SystemClock());
  auto contacts = courier::MakeOpenPolicy();

  courier::ManualExecutor executor;  // run the engine step by step
  courier::EngineOptions options;
  options.commit_executor = &executor;
  options.delivery_executor = &executor;
  auto engine = courier::Engine::Create(
      options, {store->get(), presence.get(), contacts.get(), nullptr});
  if (!engine.ok()) return fail("engine", engine.status());

  auto alice_link = std::make_shared<courier::memory::RecordingTransport>();
  auto alice = (*engine)->Connect("alice", "phone", std::nullopt, alice_link);
  if (!alice.ok()) return fail("connect alice", alice.status());
  (*alice)->Send("hello-1", "bob", "Hi Bob!");
  executor.RunAll();

  auto bob_link = std::make_shared<courier::memory::RecordingTransport>();
  auto bob = (*engine)->Connect("bob", "laptop", std::nullopt, bob_link);
  if (!bob.ok()) return fail("connect bob", bob.status());
  executor.RunAll();
  int got = 0;
  for (const auto& frame : bob_link->Take()) {
    if (const auto* e = std::get_if<courier::EventFrame>(&frame)) {
      std::printf("bob got seq %llu from %s: %s\n",
                  static_cast<unsigned long long>(e->event.seq), e->event.peer.c_str(),
                  e->event.body.c_str());
      (*bob)->Ack(e->event.seq);
      ++got;
    }
  }
  executor.RunAll();
  int receipts = 0;
  for (const auto& frame : alice_link->Take()) {
    if (const auto* e = std::get_if<courier::EventFrame>(&frame)) {
      std::printf("alice got a '%s' receipt from %s\n",
                  std::string(courier::MessageStatusName(e->event.status)).c_str(),
                  e->event.peer.c_str());
      ++receipts;
    }
  }
  (*engine)->Shutdown();
  executor.RunAll();
  // On a fresh file: exactly one message for Bob and one receipt for Alice.
  // (Run it again on the same file and the duplicate cid stores nothing new.)
  if (got != 1 || receipts != 1) {
    std::fprintf(stderr, "expected 1 message and 1 receipt, got %d and %d\n", got, receipts);
    return 1;
  }
  return 0;
}
