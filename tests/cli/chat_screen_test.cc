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

void Apply(State& s, const std::string& json, Effects& e) { ApplyFrame(s, Frame(json), e); }

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
  Type(s, "\r", e);
  REQUIRE(e.frames.size() == 1);
  CHECK(e.frames[0] == R"({"op":"send","cid":"c-1","to":"bob","body":"hi bob"})");
  CHECK(s.input.empty());
  CHECK(PlainText(LineWith(Render(s, 10, 60, kNow), "hi bob")).find("me: hi bob …") != std::string::npos);
  CHECK(PendingSends(s) == e.frames);

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

}  // namespace
}  // namespace courier_cli::chat
