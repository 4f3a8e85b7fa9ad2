// Engine: failures no caller receives (heartbeat, prune, signals, presence
// lookups) are counted in EngineStats and logged, rate-limited; allowed
// sender/recipient pairs are re-checked after contact_cache_ttl_ms.
#include <string>
#include <vector>

#include "courier/engine.h"
#include "courier/log.h"
#include "courier/sync.h"
#include "engine_harness.h"

namespace courier::testing {
namespace {

// Collects what the engine logs while it is alive.
class CapturedLog {
 public:
  CapturedLog() {
    SetLogSink([this](const LogRecord& r) {
      if (r.component != "courier::engine") return;
      MutexLock lock(&mu_);
      lines_.emplace_back(r.message);
    });
  }
  ~CapturedLog() { SetLogSink(nullptr); }
  std::vector<std::string> lines() {
    MutexLock lock(&mu_);
    return lines_;
  }
  std::size_t Count(const std::string& word) {
    std::size_t n = 0;
    for (const std::string& l : lines()) n += l.find(word) != std::string::npos ? 1 : 0;
    return n;
  }

 private:
  Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

// Generous, with the head poll and the prune timer off (a test turns on the
// one it needs).
EngineOptions Options() {
  EngineOptions o = Generous();
  o.head_poll_ms = 0;
  o.prune_interval_ms = 0;
  return o;
}

TEST_CASE("Engine: a failing heartbeat is counted and logged once a minute at most",
          "[engine][failures]") {
  CapturedLog log;
  EngineHarness h(Options());
  h.AddUsers({"alice"});
  Device alice = h.Online("alice");
  h.presence_faults().SetDown(true);
  h.clock().Advance(10'000);  // presence_heartbeat_ms
  h.engine().Tick();
  CHECK(h.engine().stats().heartbeat_errors == 1);
  REQUIRE(log.Count("presence: heartbeat failed") == 1);
  CHECK(log.lines().back().find("presence store is down") != std::string::npos);
  for (int i = 0; i < 5; ++i) {  // 50 s more: counted, not logged
    h.clock().Advance(10'000);
    h.engine().Tick();
  }
  CHECK(h.engine().stats().heartbeat_errors == 6);
  CHECK(log.Count("presence: heartbeat failed") == 1);
  h.clock().Advance(10'000);  // a minute after the first line
  h.engine().Tick();
  CHECK(h.engine().stats().heartbeat_errors == 7);
  REQUIRE(log.Count("presence: heartbeat failed") == 2);
  CHECK(log.lines().back().find("5 more like it") != std::string::npos);
  h.presence_faults().SetDown(false);
  h.clock().Advance(10'000);
  h.engine().Tick();
  CHECK(h.engine().stats().heartbeat_errors == 7);
  CHECK(h.engine().stats().prune_errors == 0);
}

TEST_CASE("Engine: a failing prune is counted and logged", "[engine][failures]") {
  CapturedLog log;
  EngineOptions o = Options();
  o.prune_interval_ms = 1'000;
  EngineHarness h(o);
  h.faults().SetDown(true);
  h.clock().Advance(1'000);
  h.engine().Tick();
  CHECK(h.engine().stats().prune_errors == 1);
  CHECK(log.Count("store: prune failed") == 1);
  h.faults().SetDown(false);
  h.clock().Advance(1'000);
  h.engine().Tick();
  CHECK(h.engine().stats().prune_errors == 1);
}

TEST_CASE("Engine: a lost wake signal to another node is counted and logged",
          "[engine][failures][cluster]") {
  CapturedLog log;
  AliceAndBob h(Options());
  Device alice = h.Online("alice");
  // bob is connected on node-2: a commit to his inbox signals node-2.
  COURIER_REQUIRE_OK(h.presence().Connect("bob", "phone", "node-2", h.clock().NowMs()));
  h.presence_faults().SetPublishDown(true);
  h.Send(alice, "c1", "bob", "hi");
  // The send itself is not affected: stored and answered.
  CHECK(h.engine().stats().sends == 1);
  CHECK(h.engine().stats().signal_errors == 1);
  CHECK(log.Count("wake signal to another node failed") == 1);
}

TEST_CASE("Engine: a presence store that is down costs presence, not the connection",
          "[engine][failures][presence]") {
  CapturedLog log;
  AliceAndBob h(Options());
  h.presence_faults().SetDown(true);
  Device alice = h.Online("alice");
  CHECK_FALSE(alice.Received<WelcomeFrame>().empty());
  CHECK(alice.All<PresenceFrame>().empty());
  // Connect's registration and the contacts' lookup after welcome: both
  // counted, one line (one log budget per kind).
  CHECK(h.engine().stats().presence_errors == 2);
  CHECK(log.Count("presence: register a device failed") == 1);
  CHECK(log.lines().size() == 1);
  h.clock().Advance(60'000);
  h.Disconnect(alice);
  CHECK(h.engine().stats().presence_errors == 3);
  REQUIRE(log.Count("presence: unregister a device failed") == 1);
  CHECK(log.lines().back().find("1 more like it") != std::string::npos);
}

TEST_CASE("Engine: an allowed pair is asked of the ContactPolicy again after its TTL",
          "[engine][contacts]") {
  EngineOptions o = Options();
  o.contact_cache_ttl_ms = 60'000;
  AliceAndBob h(o);
  Device alice = h.Online("alice");
  h.Send(alice, "c1", "bob", "hi");
  REQUIRE(alice.Last<ErrorFrame>() == nullptr);
  // bob's account is deleted on another node: this one is not told.
  COURIER_REQUIRE_OK(h.accounts().DeleteUser("bob"));
  h.clock().Advance(59'999);
  h.Send(alice, "c2", "bob", "still cached");
  CHECK(alice.Last<ErrorFrame>() == nullptr);
  CHECK(h.engine().stats().sends == 2);
  h.clock().Advance(1);  // 60 s after the policy said yes
  h.Send(alice, "c3", "bob", "hello?");
  const ErrorFrame* error = alice.Last<ErrorFrame>();
  REQUIRE(error != nullptr);
  CHECK(error->cid == "c3");
  CHECK(error->code == ErrorCode::kUnknownUser);
  CHECK(h.engine().stats().sends == 2);
}

TEST_CASE("Engine: contact_cache_ttl_ms 0 asks the policy on every send", "[engine][contacts]") {
  EngineOptions o = Options();
  o.contact_cache_ttl_ms = 0;
  AliceAndBob h(o);
  Device alice = h.Online("alice");
  h.Send(alice, "c1", "bob", "hi");
  COURIER_REQUIRE_OK(h.accounts().DeleteUser("bob"));
  h.Send(alice, "c2", "bob", "hello?");
  const auto errors = alice.Received<ErrorFrame>();
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].cid == "c2");
  CHECK(errors[0].code == ErrorCode::kUnknownUser);
}

}  // namespace
}  // namespace courier::testing
