// courier/transport.h: FrameRef and the default Transport::SendView.
#include "courier/transport.h"

#include <catch2/catch.hpp>

#include <span>
#include <string>
#include <vector>

namespace courier {
namespace {

// A transport that overrides only Send, as a library user's may.
class SendOnly final : public Transport {
 public:
  void Send(std::vector<ServerFrame> frames) override {
    ++calls;
    for (ServerFrame& f : frames) got.push_back(std::move(f));
  }
  void Close(CloseCode, std::string_view) override {}
  int calls = 0;
  std::vector<ServerFrame> got;
};

TEST_CASE("Transport::SendView's default hands Send owned copies, in order, in one call",
          "[transport]") {
  SendOnly t;
  Event e;
  e.seq = 7;
  e.id = "m7";
  e.peer = "bob";
  e.body = "hi";
  const ServerFrame sent = SentFrame{"c1", "m1", 5, false, {}};
  const ServerFrame synced = SyncedFrame{7};
  const FrameRef refs[] = {FrameRef(e), FrameRef(sent), FrameRef(synced)};
  t.SendView(refs);
  REQUIRE(t.calls == 1);
  REQUIRE(t.got.size() == 3);
  const auto* ev = std::get_if<EventFrame>(&t.got[0]);
  REQUIRE(ev != nullptr);
  CHECK(ev->event.seq == 7);
  CHECK(ev->event.body == "hi");
  CHECK(std::get<SentFrame>(t.got[1]).cid == "c1");
  CHECK(std::get<SyncedFrame>(t.got[2]).seq == 7);
  // Copies: the originals are untouched and independent.
  e.body = "changed";
  CHECK(ev->event.body == "hi");
  // Nothing to send: Send is not called.
  t.SendView({});
  CHECK(t.calls == 1);
}

TEST_CASE("FrameRef::answers_cid names the send a sent or error frame answers",
          "[transport]") {
  const ServerFrame sent = SentFrame{"c1", "m1", 5, false, {}};
  const ServerFrame error = ErrorFrame{ErrorCode::kRateLimited, "slow down", "c2", 100};
  const ServerFrame plain_error = ErrorFrame{ErrorCode::kBadFrame, "no", "", std::nullopt};
  const ServerFrame synced = SyncedFrame{1};
  const Event e;
  CHECK(FrameRef(sent).answers_cid() == "c1");
  CHECK(FrameRef(error).answers_cid() == "c2");
  CHECK(FrameRef(plain_error).answers_cid().empty());
  CHECK(FrameRef(synced).answers_cid().empty());
  CHECK(FrameRef(e).answers_cid().empty());
  CHECK(FrameRef(e).event() == &e);
  CHECK(FrameRef(e).frame() == nullptr);
  CHECK(FrameRef(sent).frame() == &sent);
}

}  // namespace
}  // namespace courier
