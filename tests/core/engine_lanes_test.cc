// The engine with transports that own a thread (Transport::executor()), as
// an adapter's io loops do: each device's results AND the events committed
// for it reach it on its own executor, in one task per batch; nothing
// travels from the sender's executor to the recipient's (courier/engine.h,
// "FLOW OF A SEND").
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "engine_harness.h"

namespace courier::testing {
namespace {

// A transport whose connection lives on `lane` (a test-driven executor),
// recording every frame with the executor that was running when it came.
class LaneTransport final : public Transport {
 public:
  explicit LaneTransport(std::shared_ptr<ManualExecutor> lane) : lane_(std::move(lane)) {}
  void Send(std::vector<ServerFrame> frames) override { recording_.Send(std::move(frames)); }
  void Close(CloseCode code, std::string_view reason) override { recording_.Close(code, reason); }
  std::shared_ptr<Executor> executor() const override { return lane_; }
  std::vector<ServerFrame> Take() { return recording_.Take(); }

 private:
  const std::shared_ptr<ManualExecutor> lane_;
  memory::RecordingTransport recording_;
};

template <typename T>
std::vector<T> Only(const std::vector<ServerFrame>& frames) {
  std::vector<T> out;
  for (const ServerFrame& f : frames) {
    if (const T* t = std::get_if<T>(&f)) out.push_back(*t);
  }
  return out;
}

struct TwoLanes : AliceAndBob {
  std::shared_ptr<ManualExecutor> alice_lane = std::make_shared<ManualExecutor>();
  std::shared_ptr<ManualExecutor> bob_lane = std::make_shared<ManualExecutor>();
  std::shared_ptr<LaneTransport> alice_out = std::make_shared<LaneTransport>(alice_lane);
  std::shared_ptr<LaneTransport> bob_out = std::make_shared<LaneTransport>(bob_lane);
  std::shared_ptr<Session> alice;
  std::shared_ptr<Session> bob;

  TwoLanes() {
    auto a = engine().Connect("alice", "phone", std::nullopt, alice_out);
    auto b = engine().Connect("bob", "phone", std::nullopt, bob_out);
    COURIER_REQUIRE_OK(a);
    COURIER_REQUIRE_OK(b);
    alice = *a;
    bob = *b;
    Settle();
    REQUIRE(Only<WelcomeFrame>(alice_out->Take()).size() == 1);
    REQUIRE(Only<WelcomeFrame>(bob_out->Take()).size() == 1);
  }
  // Runs the engine and both lanes until nothing is left.
  void Settle() {
    while (Run() + alice_lane->RunAll() + bob_lane->RunAll() > 0) {
    }
  }
};

TEST_CASE("Engine lanes: a committed message reaches the recipient on the recipient's own "
          "executor, in one task, without the sender's executor running",
          "[engine][lanes]") {
  TwoLanes h;
  h.alice->Send("c1", "bob", "hi");
  h.Run();  // commits; hands back, one task per lane
  CHECK(h.alice_lane->pending() == 1u);  // alice's `sent`
  CHECK(h.bob_lane->pending() == 1u);    // bob's event
  REQUIRE(h.bob_lane->RunOne());
  // Bob has it before alice's executor ran at all (alice's used to route
  // it, through bob's executor's mailbox in an adapter).
  const std::vector<EventFrame> got = Only<EventFrame>(h.bob_out->Take());
  REQUIRE(got.size() == 1u);
  CHECK(got[0].event.kind == EventKind::kMessage);
  CHECK(got[0].event.peer == "alice");
  CHECK(got[0].event.body == "hi");
  CHECK(h.Run() == 0u);  // nothing went through the delivery executor
  CHECK(h.alice_lane->pending() == 1u);
  REQUIRE(h.alice_lane->RunOne());
  const std::vector<SentFrame> sent = Only<SentFrame>(h.alice_out->Take());
  REQUIRE(sent.size() == 1u);
  CHECK(sent[0].cid == "c1");

  // Bob's ack: its receipt for alice goes to alice's executor the same way.
  h.bob->Ack(got[0].event.seq);
  h.Run();
  CHECK(h.alice_lane->pending() == 1u);
  REQUIRE(h.alice_lane->RunOne());
  const std::vector<EventFrame> receipts = Only<EventFrame>(h.alice_out->Take());
  REQUIRE(receipts.size() == 1u);
  CHECK(receipts[0].event.kind == EventKind::kReceipt);
  CHECK(receipts[0].event.status == MessageStatus::kDelivered);
  h.Settle();
}

TEST_CASE("Engine lanes: a batch's results for a lane run before its events for the same lane",
          "[engine][lanes]") {
  TwoLanes h;
  // alice and bob write to each other in one batch: alice's lane gets her
  // `sent` and bob's message in ONE task, `sent` first.
  h.alice->Send("a1", "bob", "from alice");
  h.bob->Send("b1", "alice", "from bob");
  h.Run();
  CHECK(h.alice_lane->pending() == 1u);
  CHECK(h.bob_lane->pending() == 1u);
  REQUIRE(h.alice_lane->RunOne());
  const std::vector<ServerFrame> frames = h.alice_out->Take();
  REQUIRE(frames.size() == 2u);
  REQUIRE(std::holds_alternative<SentFrame>(frames[0]));
  CHECK(std::get<SentFrame>(frames[0]).cid == "a1");
  REQUIRE(std::holds_alternative<EventFrame>(frames[1]));
  CHECK(std::get<EventFrame>(frames[1]).event.body == "from bob");
  h.Settle();
}

}  // namespace
}  // namespace courier::testing
