// courier-cli chat: the screen model of the interactive mode, with no I/O.
//
// State holds what the person sees (friends with presence, each conversation,
// the line being typed); ApplyFrame and ApplyKey change it and say which frames
// to send; Render turns it into the terminal's lines. chat_mode.cc does the I/O.
//
// Ownership: values. Thread-safety: none shared. Blocking: no.
#ifndef COURIER_EXAMPLES_CLI_CHAT_SCREEN_H_
#define COURIER_EXAMPLES_CLI_CHAT_SCREEN_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

namespace courier_cli::chat {

// An own message's state, only ever moving forward (docs/PROTOCOL.md "Receipts").
// Shown as: kPending "…", kSent "✓", kDelivered "✓✓", kRead blue "✓✓", kFailed "✗ code".
enum class Tick { kPending, kSent, kDelivered, kRead, kFailed };

struct Message {
  bool mine = false;
  bool event = false;  // a group's membership line ("carol joined"): `body` is its text
  std::string from;    // group messages from others: the sender
  std::string body;
  int64_t ts = 0;      // unix ms: when stored (own pending ones: when typed)
  std::string id;      // the server's id; empty while pending
  std::string cid;     // own messages: the client id
  Tick tick = Tick::kPending;
  std::string error;   // kFailed: the error code
  // Own group messages: the members whose `delivered` / `read` receipt came,
  // and those the server skipped (their inbox was full). Tick() of the
  // conversation turns these into the tick shown.
  std::vector<std::string> delivered_by;
  std::vector<std::string> read_by;
  std::vector<std::string> skipped;
};

struct Member {
  std::string user;
  bool admin = false;
  int64_t since = 0;  // unix ms: when they joined
};

// Someone typing in a conversation, until `until` (unix ms) unless refreshed.
struct Typist {
  std::string user;
  int64_t until = 0;
};

// A conversation: with a friend, or a group (`group` true).
struct Peer {
  std::string name;  // the friend; for a group, the group's id
  bool presence_known = false;        // a `presence` frame arrived
  bool online = false;
  std::optional<int64_t> last_seen;   // unix ms
  std::vector<Message> messages;
  std::vector<std::string> unread;    // ids of incoming messages not yet shown
  std::vector<Typist> typing;         // who is typing here now
  // Groups only.
  bool group = false;
  std::string title;            // the group's name (its id until the server said)
  std::vector<Member> members;  // sorted by user
  bool left = false;            // this user is no longer a member
};


enum class View { kList, kConversation };

struct State {
  std::string me;
  std::vector<Peer> peers;  // friends sorted by name, then groups sorted by title
  View view = View::kList;
  std::size_t selected = 0;  // index into peers (the list's cursor, the open conversation)
  std::string input;         // the line being typed (UTF-8)
  std::string status;        // one line for people: errors, the connection
  bool connected = false;
  std::string cid_prefix = "chat-";  // + a counter: each own message's cid
  uint64_t next_cid = 1;
  bool quit = false;
  // Own typing: the conversation told `typing on` (empty: none), when it was
  // last told (refreshed every kTypingRefreshMs) and the last key.
  std::string typing_to;
  int64_t typing_sent_ms = 0;
  int64_t last_key_ms = 0;
  uint64_t next_request = 1;  // cids of `groups` requests
};

inline constexpr int64_t kTypingRefreshMs = 3000;  // `typing on` again while typing
inline constexpr int64_t kTypingIdleMs = 5000;     // no key for this long: `typing off`

// The tick an own message shows: for a group message, ✓✓ once every other
// member who was in the group when it was sent (and was not skipped) has it,
// blue once every one of them read it.
Tick ShownTick(const State& state, const Peer& peer, const Message& m);

// Frames to write to the server, in order.
struct Effects {
  std::vector<std::string> frames;
};

// One key press, from ParseKeys.
struct Key {
  enum Kind { kText, kEnter, kBackspace, kUp, kDown, kLeft, kRight, kEscape, kInterrupt, kEof, kTab, kOther };
  Kind kind = kOther;
  std::string text;  // kText: the UTF-8 characters
};

// Splits terminal input into keys. An incomplete escape sequence or UTF-8
// character at the end stays in `pending` for the next read. A lone ESC at the
// end is the Escape key (terminals send a sequence in one write).
std::vector<Key> ParseKeys(std::string& pending);

// Adds a friend (sorted in; kept when present).
Peer& AddPeer(State& state, std::string_view name);

// Adds a group by id (sorted in after the friends; kept when present).
Peer& AddGroup(State& state, std::string_view id);

// Applies one server frame (msg, receipt, group_event, groups, typing,
// presence, sent, error; others are ignored). A message that arrives in the
// open conversation is answered `read`; `now_ms` dates a typing frame's expiry.
void ApplyFrame(State& state, const rapidjson::Value& frame, Effects& effects, int64_t now_ms = 0);

// The `groups` request a chat sends after each welcome: its answer fills in
// the groups with their names and members.
std::string GroupsRequest(State& state);

// Time passes: typing indicators older than their ttl go, and own typing idle
// for kTypingIdleMs is told `typing off`. True when the screen changed.
bool TickTime(State& state, int64_t now_ms, Effects& effects);

// Applies one key; `now_ms` stamps a message typed now.
void ApplyKey(State& state, const Key& key, int64_t now_ms, Effects& effects);

// The `send` frames of every own message still pending: after a reconnect they
// go again with the same cid (the server stores each cid once).
std::vector<std::string> PendingSends(const State& state);

// The screen: `rows` lines of at most `cols` columns (ANSI colours included), and
// where the cursor goes (0-based; cursor_row < 0: hidden).
struct Screen {
  std::vector<std::string> lines;
  int cursor_row = -1;
  int cursor_col = 0;
};
// Times are shown in the local time zone; `now_ms` decides whether a last seen
// needs its date.
Screen Render(const State& state, int rows, int cols, int64_t now_ms);

// The text of a rendered line without its ANSI escapes.
std::string PlainText(std::string_view line);

// Columns `text` takes (one per code point) and `text` safe to print: control
// characters (C0, DEL, C1) become "?", so a body cannot move the cursor or
// change colours.
std::size_t Columns(std::string_view text);
std::string Printable(std::string_view text);

}  // namespace courier_cli::chat

#endif  // COURIER_EXAMPLES_CLI_CHAT_SCREEN_H_
