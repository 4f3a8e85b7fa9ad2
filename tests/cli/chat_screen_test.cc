// Unit tests of courier-cli chat's screen model: state + frame or key → state,
// frames to send, and the rendered lines (chat_screen.h). No terminal, no server.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "chat_screen.h"
#include "json.h"

namespace courier_cli::chat {
namespace {

constexpr int64_t kNow = 1765000000000;  // 2025-12-06 05:46:40 UTC
constexpr char kBlueTicks[] = "\x1b[34m✓✓";

struct Utc {
  Utc() {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
  }
};
const Utc utc;

rapidjson::Document Frame(const std::string& json) {
  auto doc = ParseObject(json);
  REQUIRE(doc.ok());
  return std::move(*doc);
}

void Apply(State& s, const std::string& json, Effects& e, int64_t now_ms = 0) {
  ApplyFrame(s, Frame(json), e, now_ms);
}

void Type(State& s, std::string keys, Effects& e) {
  for (const Key& k : ParseKeys(keys)) ApplyKey(s, k, kNow, e);
}

std::vector<std::string> Plain(const Screen& screen) {
  std::vector<std::string> out;
  for (const auto& l : screen.lines) out.push_back(PlainText(l));
  return out;
}

// The rendered line (with ANSI) whose text contains `needle`, or "".
std::string LineWith(const Screen& screen, const std::string& needle) {
  for (const auto& l : screen.lines) {
    if (PlainText(l).find(needle) != std::string::npos) return l;
  }
  return "";
}

State Alice() {
  State s;
  s.me = "alice";
  s.connected = true;
  s.cid_prefix = "c-";
  AddPeer(s, "carol");
  AddPeer(s, "bob");  // sorted in before carol: the selection follows carol
  REQUIRE(s.selected == 1);
  s.selected = 0;
  return s;
}

TEST_CASE("ParseKeys: text, Enter, arrows, Escape, Backspace, split sequences", "[cli][chat]") {
  std::string in = "hi ✓\r\x1b[A\x1bOB\x7f\x03\x04\t\x1b";
  auto keys = ParseKeys(in);
  REQUIRE(keys.size() == 9);
  CHECK(keys[0].kind == Key::kText);
  CHECK(keys[0].text == "hi ✓");
  CHECK(keys[1].kind == Key::kEnter);
  CHECK(keys[2].kind == Key::kUp);
  CHECK(keys[3].kind == Key::kDown);
  CHECK(keys[4].kind == Key::kBackspace);
  CHECK(keys[5].kind == Key::kInterrupt);
  CHECK(keys[6].kind == Key::kEof);
  CHECK(keys[7].kind == Key::kTab);
  CHECK(keys[8].kind == Key::kEscape);
  CHECK(in.empty());

  // An arrow's sequence or a UTF-8 character cut between two reads waits for the rest.
  std::string part = "a\x1b[";
  keys = ParseKeys(part);
  REQUIRE(keys.size() == 1);
  CHECK(part == "\x1b[");
  part += "B\xe2\x9c";
  keys = ParseKeys(part);
  REQUIRE(keys.size() == 1);
  CHECK(keys[0].kind == Key::kDown);
  CHECK(part == "\xe2\x9c");
  part += "\x93";
  keys = ParseKeys(part);
  REQUIRE(keys.size() == 1);
  CHECK(keys[0].text == "✓");
  CHECK(part.empty());
}

TEST_CASE("Printable: control characters cannot reach the terminal", "[cli][chat]") {
  CHECK(Printable("ok ✓ 😀") == "ok ✓ 😀");
  CHECK(Printable("\x1b[2Jgone") == "?[2Jgone");
  CHECK(Printable("a\tb\x7f\xc2\x9b") == "a b??");
  CHECK(Printable("bad \xff utf8") == "bad ? utf8");
  CHECK(Columns("✓✓ ab") == 5);
}

TEST_CASE("List: friends sorted, presence online / last seen / unknown", "[cli][chat]") {
  State s = Alice();
  Effects e;
  Apply(s, R"({"op":"presence","user":"bob","online":true,"last_seen":null})", e);
  Apply(s, R"({"op":"presence","user":"carol","online":false,"last_seen":1764999000000})", e);
  AddPeer(s, "dave");
  CHECK(e.frames.empty());
  const auto lines = Plain(Render(s, 10, 60, kNow));
  REQUIRE(lines.size() == 10);
  CHECK(lines[0].find("courier · alice") != std::string::npos);
  CHECK(lines[0].find("connected") != std::string::npos);
  CHECK(lines[2].find(" › bob") == 0);
  CHECK(lines[2].find("● online") != std::string::npos);
  CHECK(lines[3].find("carol") != std::string::npos);
  CHECK(lines[3].find("○ last seen 05:30") != std::string::npos);
  CHECK(lines[4].find("dave") != std::string::npos);
  CHECK(lines[4].find("○ …") != std::string::npos);
  CHECK(lines[9].find("q quit") != std::string::npos);
  for (const auto& l : lines) CHECK(Columns(l) <= 60);

  // Going offline: last seen, with the date when it was not today.
  Apply(s, R"({"op":"presence","user":"bob","online":false,"last_seen":1764900000000})", e);
  CHECK(LineWith(Render(s, 10, 60, kNow), "bob").find("last seen 2025-12-05 02:00") != std::string::npos);
}

TEST_CASE("Incoming messages: counted unread in the list, read when the conversation opens", "[cli][chat]") {
  State s = Alice();
  Effects e;
  Apply(s, R"({"op":"msg","seq":1,"id":"m1","from":"bob","body":"hello alice","ts":1764999960000})", e);
  Apply(s, R"({"op":"msg","seq":2,"id":"m2","from":"bob","body":"there?","ts":1764999970000})", e);
  Apply(s, R"({"op":"msg","seq":2,"id":"m2","from":"bob","body":"there?","ts":1764999970000})", e);  // again
  CHECK(e.frames.empty());
  CHECK(PlainText(LineWith(Render(s, 10, 60, kNow), "bob")).find("2 new") != std::string::npos);

  Type(s, "\r", e);  // bob is selected (sorted first): open
  CHECK(s.view == View::kConversation);
  REQUIRE(e.frames.size() == 1);
  CHECK(e.frames[0] == R"({"op":"read","ids":["m1","m2"]})");
  const auto screen = Render(s, 10, 60, kNow);
  const auto lines = Plain(screen);
  CHECK(lines[0].find("bob") != std::string::npos);
  CHECK(lines[6].find("05:46 bob: hello alice") != std::string::npos);
  CHECK(lines[7].find("05:46 bob: there?") != std::string::npos);
  CHECK(lines[9] == "> ");
  CHECK(screen.cursor_row == 9);
  CHECK(screen.cursor_col == 2);

  // A message arriving in the open conversation is read at once.
  e.frames.clear();
  Apply(s, R"({"op":"msg","seq":3,"id":"m3","from":"bob","body":"now","ts":1764999980000})", e);
  REQUIRE(e.frames.size() == 1);
  CHECK(e.frames[0] == R"({"op":"read","ids":["m3"]})");
  // One from someone else is counted and announced.
  e.frames.clear();
  Apply(s, R"({"op":"msg","seq":4,"id":"c1","from":"carol","body":"psst","ts":1764999990000})", e);
  CHECK(e.frames.empty());
  CHECK(Plain(Render(s, 10, 60, kNow))[8].find("new message from carol") != std::string::npos);
  Type(s, "\x1b", e);
  CHECK(s.view == View::kList);
  CHECK(PlainText(LineWith(Render(s, 10, 60, kNow), "carol")).find("1 new") != std::string::npos);
}

TEST_CASE("Own messages: … then ✓ on sent, ✓✓ on delivered, blue ✓✓ on read", "[cli][chat]") {
  State s = Alice();
  Effects e;
  Type(s, "\r", e);  // open bob
  e.frames.clear();
  Type(s, "hi bob", e);
  CHECK(s.input == "hi bob");
  CHECK(Render(s, 10, 60, kNow).cursor_col == 8);
  // Typing tells bob once (refreshed only after kTypingRefreshMs).
  REQUIRE(e.frames.size() == 1);
  CHECK(e.frames[0] == R"({"op":"typing","to":"bob","on":true})");
  e.frames.clear();
  Type(s, "\r", e);
  REQUIRE(e.frames.size() == 2);
  CHECK(e.frames[0] == R"({"op":"typing","to":"bob","on":false})");
  CHECK(e.frames[1] == R"({"op":"send","cid":"c-1","to":"bob","body":"hi bob"})");
  CHECK(s.input.empty());
  CHECK(PlainText(LineWith(Render(s, 10, 60, kNow), "hi bob")).find("me: hi bob …") != std::string::npos);
  CHECK(PendingSends(s) == std::vector<std::string>{e.frames[1]});

  Apply(s, R"({"op":"sent","cid":"c-1","id":"x1","ts":1765000000000})", e);
  auto line = PlainText(LineWith(Render(s, 10, 60, kNow), "hi bob"));
  CHECK(line.substr(line.size() - 4) == " ✓");
  CHECK(PendingSends(s).empty());

  Apply(s, R"({"op":"receipt","seq":5,"id":"x1","status":"delivered","by":"bob","ts":1765000001000})", e);
  std::string styled = LineWith(Render(s, 10, 60, kNow), "hi bob");
  CHECK(PlainText(styled).find("hi bob ✓✓") != std::string::npos);
  CHECK(styled.find(kBlueTicks) == std::string::npos);

  // A receipt by someone else or for another id changes nothing.
  Apply(s, R"({"op":"receipt","seq":6,"id":"x1","status":"read","by":"carol","ts":1})", e);
  Apply(s, R"({"op":"receipt","seq":7,"id":"x9","status":"read","by":"bob","ts":1})", e);
  CHECK(LineWith(Render(s, 10, 60, kNow), "hi bob").find(kBlueTicks) == std::string::npos);

  Apply(s, R"({"op":"receipt","seq":8,"id":"x1","status":"read","by":"bob","ts":1765000002000})", e);
  CHECK(LineWith(Render(s, 10, 60, kNow), "hi bob").find(kBlueTicks) != std::string::npos);
  // Never backwards.
  Apply(s, R"({"op":"receipt","seq":9,"id":"x1","status":"delivered","by":"bob","ts":1765000003000})", e);
  CHECK(LineWith(Render(s, 10, 60, kNow), "hi bob").find(kBlueTicks) != std::string::npos);
}

TEST_CASE("Own messages: an error with the cid marks it failed and says why", "[cli][chat]") {
  State s = Alice();
  Effects e;
  Type(s, "\rno\r", e);
  Apply(s, R"({"op":"error","code":"not_friends","message":"bob is not your friend","cid":"c-1"})", e);
  const auto screen = Render(s, 10, 60, kNow);
  CHECK(PlainText(LineWith(screen, "me: no")).find("✗ not_friends") != std::string::npos);
  CHECK(Plain(screen)[8].find("not_friends: bob is not your friend") != std::string::npos);
  CHECK(PendingSends(s).empty());
}

TEST_CASE("Keys: list navigation, editing, quitting", "[cli][chat]") {
  State s = Alice();
  Effects e;
  Type(s, "\x1b[B", e);
  CHECK(s.selected == 1);
  Type(s, "\x1b[B", e);
  CHECK(s.selected == 1);  // stays on the last
  Type(s, "k", e);
  CHECK(s.selected == 0);
  // A friend sorted in before the selection keeps the selection on its peer.
  Type(s, "j", e);
  AddPeer(s, "aaron");
  CHECK(s.peers[s.selected].name == "carol");
  Type(s, "\r", e);
  Type(s, "✓✓x", e);
  Type(s, "\x7f", e);
  CHECK(s.input == "✓✓");
  Type(s, "\x7f", e);
  CHECK(s.input == "✓");
  Type(s, "\r", e);  // sends "✓"
  CHECK(s.peers[s.selected].messages.back().body == "✓");
  CHECK_FALSE(s.quit);
  Type(s, "\x03", e);
  CHECK(s.quit);
  State t = Alice();
  Type(t, "q", e);
  CHECK(t.quit);
}

TEST_CASE("Render: long and multi-line bodies wrap, hostile bodies are defused, narrow windows", "[cli][chat]") {
  State s = Alice();
  Effects e;
  Apply(s, R"({"op":"msg","seq":1,"id":"m1","from":"bob","body":"line one\nline two \u001b[31mred","ts":1765000000000})",
        e);
  Apply(s, std::string(R"({"op":"msg","seq":2,"id":"m2","from":"bob","body":")") + std::string(100, 'x') +
               R"(","ts":1765000000000})",
        e);
  Type(s, "\r", e);
  const auto screen = Render(s, 12, 40, kNow);
  const auto lines = Plain(screen);
  REQUIRE(lines.size() == 12);
  for (const auto& l : screen.lines) {
    CHECK(Columns(PlainText(l)) <= 40);
    CHECK(l.find("\x1b[31mred") == std::string::npos);
  }
  CHECK(PlainText(LineWith(screen, "line one")).find("bob: line one") != std::string::npos);
  CHECK(PlainText(LineWith(screen, "line two")).find("?[31mred") != std::string::npos);
  int xs = 0;
  for (const auto& l : lines) xs += l.find("xxxx") != std::string::npos;
  CHECK(xs >= 3);

  // Three rows: the input line is still there.
  const auto tiny = Render(s, 3, 20, kNow);
  REQUIRE(tiny.lines.size() == 3);
  CHECK(PlainText(tiny.lines[2]).rfind("> ", 0) == 0);
  CHECK(tiny.cursor_row == 2);
}

// A group "g1" of alice (admin), bob and carol, created by alice; her list and
// conversation open on it.
State AliceInGroup(Effects& e) {
  State s = Alice();
  Apply(s, R"({"op":"group_event","seq":1,"id":"e1","group":"g1","by":"alice","action":"create",
               "members":["alice","bob","carol"],"name":"trip","ts":1764999900000})", e);
  return s;
}

std::size_t IndexOfGroup(const State& s, const std::string& id) {
  for (std::size_t i = 0; i < s.peers.size(); ++i) {
    if (s.peers[i].group && s.peers[i].name == id) return i;
  }
  FAIL("no group " << id);
  return 0;
}

TEST_CASE("Groups: listed after the friends, events as lines, sender names, own copy once", "[cli][chat][groups]") {
  Effects e;
  State s = AliceInGroup(e);
  CHECK(e.frames.empty());
  REQUIRE(s.peers.size() == 3);
  CHECK(s.peers[2].group);
  CHECK(s.peers[2].title == "trip");
  CHECK(s.peers[2].members.size() == 3);
  CHECK(s.peers[2].members[0].admin);      // alice, the creator
  CHECK_FALSE(s.peers[2].members[1].admin);
  CHECK(PlainText(LineWith(Render(s, 10, 60, kNow), "# trip")).find("3 members") != std::string::npos);

  // A message from bob in the group: counted on the group, not on bob.
  Apply(s, R"({"op":"msg","seq":2,"id":"m1","from":"bob","group":"g1","body":"hello all","ts":1764999960000})", e);
  CHECK(s.peers[2].unread.size() == 1);
  CHECK(s.peers[0].unread.empty());
  s.selected = IndexOfGroup(s, "g1");
  Type(s, "\r", e);
  REQUIRE(e.frames.size() == 1);
  CHECK(e.frames[0] == R"({"op":"read","ids":["m1"]})");
  e.frames.clear();

  // Membership events, in order with the messages.
  Apply(s, R"({"op":"group_event","seq":3,"id":"e2","group":"g1","by":"alice","action":"add","members":["dave"],"ts":1764999970000})", e);
  Apply(s, R"({"op":"group_event","seq":4,"id":"e3","group":"g1","by":"bob","action":"leave","members":["bob"],"ts":1764999980000})", e);
  Apply(s, R"({"op":"group_event","seq":5,"id":"e4","group":"g1","by":"alice","action":"rename","members":[],"name":"road trip","ts":1764999990000})", e);
  Apply(s, R"({"op":"group_event","seq":5,"id":"e4","group":"g1","by":"alice","action":"rename","members":[],"name":"road trip","ts":1764999990000})", e);  // again
  const auto lines = Plain(Render(s, 12, 70, kNow));
  CHECK(lines[0].find("# road trip") != std::string::npos);
  CHECK(lines[0].find("you, carol and dave") != std::string::npos);
  std::vector<std::string> body(lines.begin() + 2, lines.end() - 2);
  std::vector<std::string> shown;
  for (const auto& l : body) {
    if (!l.empty()) shown.push_back(l);
  }
  REQUIRE(shown.size() == 5);
  CHECK(shown[0] == R"( 05:45 · alice created the group "trip" with bob and carol)");
  CHECK(shown[1] == " 05:46 bob: hello all");
  CHECK(shown[2] == " 05:46 · dave joined (added by alice)");
  CHECK(shown[3] == " 05:46 · bob left");
  CHECK(shown[4] == R"( 05:46 · alice renamed the group to "road trip")");
  CHECK(s.peers[s.selected].title == "road trip");  // the selection stayed on the group

  // Own message: `send` to the group; its own copy from the inbox is not a second line.
  Type(s, "hi\r", e);
  REQUIRE(e.frames.size() == 3);
  CHECK(e.frames[0] == R"({"op":"typing","group":"g1","on":true})");
  CHECK(e.frames[1] == R"({"op":"typing","group":"g1","on":false})");
  CHECK(e.frames[2] == R"({"op":"send","cid":"c-1","group":"g1","body":"hi"})");
  Apply(s, R"({"op":"msg","seq":6,"id":"x1","from":"alice","group":"g1","body":"hi","ts":1765000000000})", e);
  Apply(s, R"({"op":"sent","cid":"c-1","id":"x1","ts":1765000000000})", e);
  Apply(s, R"({"op":"msg","seq":6,"id":"x1","from":"alice","group":"g1","body":"hi","ts":1765000000000})", e);
  int his = 0;
  for (const auto& l : Plain(Render(s, 12, 70, kNow))) his += l.find("me: hi") != std::string::npos;
  CHECK(his == 1);
  CHECK(e.frames.size() == 3);  // no read for an own copy
}

TEST_CASE("Groups: ✓✓ once every other member delivered, blue once every one read", "[cli][chat][groups]") {
  Effects e;
  State s = AliceInGroup(e);
  s.selected = IndexOfGroup(s, "g1");
  Type(s, "\rhi all\r", e);
  Apply(s, R"({"op":"sent","cid":"c-1","id":"x1","ts":1765000000000})", e);
  auto tick = [&]() {  // of the last own message
    const Peer& g = s.peers[s.selected];
    for (auto m = g.messages.rbegin(); m != g.messages.rend(); ++m) {
      if (m->mine) return ShownTick(s, g, *m);
    }
    FAIL("no own message");
    return Tick::kFailed;
  };
  CHECK(tick() == Tick::kSent);
  Apply(s, R"({"op":"receipt","seq":2,"id":"x1","status":"delivered","by":"bob","ts":1})", e);
  CHECK(tick() == Tick::kSent);  // carol has not got it yet
  Apply(s, R"({"op":"receipt","seq":3,"id":"x1","status":"delivered","by":"carol","ts":1})", e);
  CHECK(tick() == Tick::kDelivered);
  CHECK(PlainText(LineWith(Render(s, 10, 60, kNow), "hi all")).find("hi all ✓✓") != std::string::npos);
  Apply(s, R"({"op":"receipt","seq":4,"id":"x1","status":"read","by":"bob","ts":1})", e);
  CHECK(tick() == Tick::kDelivered);
  // A member added after the message does not hold the ticks back.
  Apply(s, R"({"op":"group_event","seq":5,"id":"e2","group":"g1","by":"alice","action":"add","members":["dave"],"ts":1765000100000})", e);
  Apply(s, R"({"op":"receipt","seq":6,"id":"x1","status":"read","by":"carol","ts":1})", e);
  CHECK(tick() == Tick::kRead);
  CHECK(LineWith(Render(s, 10, 60, kNow), "hi all").find(kBlueTicks) != std::string::npos);

  // A member whose inbox was full (skipped) is not waited for; the status line says so.
  Type(s, "two\r", e);
  Apply(s, R"({"op":"sent","cid":"c-2","id":"x2","ts":1765000200000,"skipped":["carol"]})", e);
  CHECK(s.status.find("not delivered to carol") != std::string::npos);
  Apply(s, R"({"op":"receipt","seq":7,"id":"x2","status":"delivered","by":"bob","ts":1})", e);
  CHECK(tick() == Tick::kSent);  // dave, added before x2, has not got it
  Apply(s, R"({"op":"receipt","seq":8,"id":"x2","status":"delivered","by":"dave","ts":1})", e);
  CHECK(tick() == Tick::kDelivered);
}

TEST_CASE("Groups: removed or left, the conversation stays but cannot send; groups answer fills members", "[cli][chat][groups]") {
  Effects e;
  State s = Alice();
  Apply(s, R"({"op":"groups","cid":"chat-groups-1","groups":[{"group":"g7","name":"book club","created_by":"carol",
               "created":1,"version":3,"members":[{"user":"alice","role":"member","since":1},
               {"user":"carol","role":"admin","since":1}]}]})", e);
  const std::size_t g = IndexOfGroup(s, "g7");
  CHECK(s.peers[g].title == "book club");
  REQUIRE(s.peers[g].members.size() == 2);
  CHECK(s.peers[g].members[1].admin);
  s.selected = g;
  Type(s, "\r", e);
  Apply(s, R"({"op":"group_event","seq":2,"id":"e9","group":"g7","by":"carol","action":"remove","members":["alice"],"ts":1764999990000})", e);
  CHECK(s.peers[g].left);
  e.frames.clear();
  Type(s, "still here?\r", e);
  CHECK(e.frames.empty());  // no typing, no send
  CHECK(s.status == "you are no longer a member of this group");
  const auto lines = Plain(Render(s, 10, 70, kNow));
  CHECK(lines[0].find("you are no longer a member") != std::string::npos);
  CHECK(LineWith(Render(s, 10, 70, kNow), "alice was removed by carol") != "");
  // Added again: it asks for the group's members.
  Apply(s, R"({"op":"group_event","seq":3,"id":"e10","group":"g7","by":"carol","action":"add","members":["alice"],"ts":1765000000000})", e);
  CHECK_FALSE(s.peers[g].left);
  REQUIRE(e.frames.size() == 1);
  CHECK(e.frames[0] == R"({"op":"groups","cid":"chat-groups-1","group":"g7"})");
}

TEST_CASE("Typing: shown in the conversation and the list, expires, own typing refreshed and stopped", "[cli][chat][typing]") {
  Effects e;
  State s = AliceInGroup(e);
  Apply(s, R"({"op":"typing","from":"bob","on":true,"ttl_ms":6000})", e, kNow);
  Apply(s, R"({"op":"typing","from":"carol","group":"g1","on":true,"ttl_ms":6000})", e, kNow);
  Apply(s, R"({"op":"typing","from":"bob","group":"g1","on":true,"ttl_ms":6000})", e, kNow);
  Apply(s, R"({"op":"typing","from":"zed","on":true,"ttl_ms":6000})", e, kNow);  // not a friend: ignored
  CHECK(PlainText(LineWith(Render(s, 10, 70, kNow), "bob")).find("bob is typing…") != std::string::npos);
  CHECK(PlainText(LineWith(Render(s, 10, 70, kNow), "# trip")).find("carol and bob are typing…") != std::string::npos);
  s.selected = IndexOfGroup(s, "g1");
  Type(s, "\r", e);
  CHECK(Plain(Render(s, 10, 70, kNow))[8] == " carol and bob are typing…");
  // bob stops; carol's indicator expires after its ttl.
  Apply(s, R"({"op":"typing","from":"bob","group":"g1","on":false})", e, kNow);
  CHECK(Plain(Render(s, 10, 70, kNow))[8] == " carol is typing…");
  Effects tick;
  CHECK_FALSE(TickTime(s, kNow + 5999, tick));
  CHECK(TickTime(s, kNow + 6000, tick));
  CHECK(Plain(Render(s, 10, 70, kNow + 6000))[8].find("typing") == std::string::npos);
  // A message from carol also ends her typing.
  Apply(s, R"({"op":"typing","from":"carol","group":"g1","on":true,"ttl_ms":6000})", e, kNow);
  Apply(s, R"({"op":"msg","seq":2,"id":"m1","from":"carol","group":"g1","body":"done","ts":1765000000000})", e, kNow);
  CHECK(s.peers[s.selected].typing.empty());

  // Own typing: on at the first key, again after kTypingRefreshMs, off after kTypingIdleMs without a key.
  e.frames.clear();
  std::string keys = "a";
  for (const Key& k : ParseKeys(keys)) ApplyKey(s, k, kNow, e);
  keys = "b";
  for (const Key& k : ParseKeys(keys)) ApplyKey(s, k, kNow + 1000, e);
  keys = "c";
  for (const Key& k : ParseKeys(keys)) ApplyKey(s, k, kNow + kTypingRefreshMs, e);
  REQUIRE(e.frames.size() == 2);
  CHECK(e.frames[0] == R"({"op":"typing","group":"g1","on":true})");
  CHECK(e.frames[1] == e.frames[0]);
  Effects idle;
  TickTime(s, kNow + kTypingRefreshMs + kTypingIdleMs - 1, idle);
  CHECK(idle.frames.empty());
  TickTime(s, kNow + kTypingRefreshMs + kTypingIdleMs, idle);
  REQUIRE(idle.frames.size() == 1);
  CHECK(idle.frames[0] == R"({"op":"typing","group":"g1","on":false})");
  TickTime(s, kNow + 60000, idle);
  CHECK(idle.frames.size() == 1);  // told once
}

}  // namespace
}  // namespace courier_cli::chat
