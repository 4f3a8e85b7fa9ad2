// courier-cli chat: the screen model (no I/O; see chat_screen.h).
#include "chat_screen.h"

#include <time.h>

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "json.h"

namespace courier_cli::chat {

namespace {

constexpr std::size_t kMaxInput = 64 * 1024;  // a body's limit
constexpr std::size_t kMaxIdsPerRead = 1000;

constexpr char kBold[] = "\x1b[1m";
constexpr char kDim[] = "\x1b[2m";
constexpr char kReverse[] = "\x1b[7m";
constexpr char kRed[] = "\x1b[31m";
constexpr char kGreen[] = "\x1b[32m";
constexpr char kBlue[] = "\x1b[34m";
constexpr char kReset[] = "\x1b[0m";

// The length of the UTF-8 sequence that starts with `lead`, or 0 when it is not a lead byte.
std::size_t Utf8Length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// The first `columns` columns of printable `text`.
std::string TakeColumns(std::string_view text, std::size_t columns) {
  std::size_t i = 0;
  for (std::size_t c = 0; i < text.size() && c < columns; ++c) {
    i += std::max<std::size_t>(1, Utf8Length(static_cast<unsigned char>(text[i])));
  }
  return std::string(text.substr(0, std::min(i, text.size())));
}

// The last `columns` columns of printable `text`.
std::string_view LastColumns(std::string_view text, std::size_t columns) {
  std::size_t have = Columns(text);
  std::size_t i = 0;
  while (have > columns && i < text.size()) {
    i += std::max<std::size_t>(1, Utf8Length(static_cast<unsigned char>(text[i])));
    --have;
  }
  return text.substr(std::min(i, text.size()));
}

struct Span {
  std::string text;
  std::string style;  // ANSI SGR sequences; empty: plain
};
using Line = std::vector<Span>;

// One line, cut at `cols` columns, styles reset after each styled span.
std::string Emit(const Line& line, std::size_t cols) {
  std::string out;
  std::size_t used = 0;
  for (const Span& span : line) {
    if (used >= cols) break;
    const std::string text = TakeColumns(span.text, cols - used);
    used += Columns(text);
    if (span.style.empty()) {
      out += text;
    } else {
      absl::StrAppend(&out, span.style, text, kReset);
    }
  }
  return out;
}

std::string Local(int64_t ms, const char* format) {
  const time_t t = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  localtime_r(&t, &tm);
  char text[64];
  const std::size_t n = strftime(text, sizeof text, format, &tm);
  return std::string(text, n);
}

std::string LastSeen(const Peer& p, int64_t now_ms) {
  if (!p.presence_known) return "…";
  if (p.online) return "online";
  if (!p.last_seen) return "offline";
  const bool today = Local(*p.last_seen, "%Y-%m-%d") == Local(now_ms, "%Y-%m-%d");
  return absl::StrCat("last seen ", Local(*p.last_seen, today ? "%H:%M" : "%Y-%m-%d %H:%M"));
}

Span PresenceDot(const Peer& p) {
  if (p.presence_known && p.online) return {"●", std::string(kGreen)};
  return {"○", std::string(kDim)};
}

Span TickSpan(const Message& m) {
  switch (m.tick) {
    case Tick::kPending: return {"…", std::string(kDim)};
    case Tick::kSent: return {"✓", ""};
    case Tick::kDelivered: return {"✓✓", ""};
    case Tick::kRead: return {"✓✓", std::string(kBlue)};
    case Tick::kFailed: return {absl::StrCat("✗ ", m.error), std::string(kRed)};
  }
  return {"", ""};
}

std::string ReadFrame(const std::vector<std::string>& ids, std::size_t from, std::size_t to) {
  const std::vector<std::string> batch(ids.begin() + from, ids.begin() + to);
  return JsonObject().Add("op", "read").AddStrings("ids", batch).str();
}

void SendReads(const std::vector<std::string>& ids, Effects& effects) {
  for (std::size_t i = 0; i < ids.size(); i += kMaxIdsPerRead) {
    effects.frames.push_back(ReadFrame(ids, i, std::min(ids.size(), i + kMaxIdsPerRead)));
  }
}

std::string SendFrame(const Peer& to, const Message& m) {
  return JsonObject()
      .Add("op", "send")
      .Add("cid", m.cid)
      .Add(to.group ? "group" : "to", to.name)
      .Add("body", m.body)
      .str();
}

std::string TypingFrame(const Peer& to, bool on) {
  return JsonObject().Add("op", "typing").Add(to.group ? "group" : "to", to.name).AddBool("on", on).str();
}

Peer* FindPeer(State& state, std::string_view name) {
  for (Peer& p : state.peers) {
    if (!p.group && p.name == name) return &p;
  }
  return nullptr;
}

Peer* FindGroup(State& state, std::string_view id) {
  for (Peer& p : state.peers) {
    if (p.group && p.name == id) return &p;
  }
  return nullptr;
}

// Friends by name, then groups by title (ties: the id).
std::tuple<bool, std::string_view, std::string_view> SortKey(const Peer& p) {
  return {p.group, p.group ? std::string_view(p.title) : std::string_view(p.name), p.name};
}

Peer& Insert(State& state, Peer peer) {
  const auto key = SortKey(peer);
  auto it = std::lower_bound(state.peers.begin(), state.peers.end(), key,
                             [](const Peer& p, const auto& k) { return SortKey(p) < k; });
  const std::size_t at = static_cast<std::size_t>(it - state.peers.begin());
  if (!state.peers.empty() && at <= state.selected) ++state.selected;  // the selection keeps its peer
  return *state.peers.insert(state.peers.begin() + static_cast<std::ptrdiff_t>(at), std::move(peer));
}

// Sorts again after a group's title changed; the selection keeps its conversation.
void Resort(State& state) {
  const bool have = state.selected < state.peers.size();
  const bool group = have && state.peers[state.selected].group;
  const std::string name = have ? state.peers[state.selected].name : "";
  std::stable_sort(state.peers.begin(), state.peers.end(),
                   [](const Peer& a, const Peer& b) { return SortKey(a) < SortKey(b); });
  for (std::size_t i = 0; have && i < state.peers.size(); ++i) {
    if (state.peers[i].group == group && state.peers[i].name == name) state.selected = i;
  }
}

bool Contains(const std::vector<std::string>& v, std::string_view x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::vector<std::string> Strings(const rapidjson::Value& frame, const char* name) {
  std::vector<std::string> out;
  auto it = frame.FindMember(name);
  if (it == frame.MemberEnd() || !it->value.IsArray()) return out;
  for (const auto& v : it->value.GetArray()) {
    if (v.IsString()) out.emplace_back(v.GetString(), v.GetStringLength());
  }
  return out;
}

std::string Names(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : i + 1 == names.size() ? " and " : ", ", names[i]);
  }
  return out;
}

// The line a group_event shows ("carol joined (added by alice)").
std::string EventText(const std::string& action, const std::string& by, const std::vector<std::string>& members,
                      const std::string& name) {
  if (action == "create") {
    std::vector<std::string> others;
    for (const auto& m : members) {
      if (m != by) others.push_back(m);
    }
    return absl::StrCat(by, " created the group \"", name, "\"", others.empty() ? "" : " with ", Names(others));
  }
  if (action == "add") return absl::StrCat(Names(members), " joined (added by ", by, ")");
  if (action == "remove") {
    return absl::StrCat(Names(members), members.size() == 1 ? " was" : " were", " removed by ", by);
  }
  if (action == "leave") {
    return absl::StrCat(by, " left", members.size() > 1 ? absl::StrCat("; ", members[1], " is now an admin") : "");
  }
  if (action == "rename") return absl::StrCat(by, " renamed the group to \"", name, "\"");
  return absl::StrCat(by, " changed the group (", action, ")");
}

Member* FindMember(Peer& group, std::string_view user) {
  for (Member& m : group.members) {
    if (m.user == user) return &m;
  }
  return nullptr;
}

void AddMember(Peer& group, const std::string& user, bool admin, int64_t since) {
  if (FindMember(group, user) != nullptr) return;
  auto it = std::lower_bound(group.members.begin(), group.members.end(), user,
                             [](const Member& m, const std::string& u) { return m.user < u; });
  group.members.insert(it, Member{user, admin, since});
}

void RemoveMember(Peer& group, std::string_view user) {
  group.members.erase(std::remove_if(group.members.begin(), group.members.end(),
                                     [&](const Member& m) { return m.user == user; }),
                      group.members.end());
}

// Applies a group_event to the group's members and adds its line.
void ApplyGroupEvent(State& state, const rapidjson::Value& frame, Effects& effects) {
  const auto id = StringField(frame, "group");
  if (!id || id->empty()) return;
  const std::string action = StringField(frame, "action").value_or("");
  const std::string by = StringField(frame, "by").value_or("");
  const std::string name = StringField(frame, "name").value_or("");
  const std::vector<std::string> members = Strings(frame, "members");
  const int64_t ts = IntField(frame, "ts").value_or(0);
  Peer& g = AddGroup(state, *id);
  const std::string event_id = StringField(frame, "id").value_or("");
  for (const Message& m : g.messages) {
    if (m.event && !event_id.empty() && m.id == event_id) return;  // seen already
  }
  if (action == "create") {
    g.members.clear();
    for (const auto& m : members) AddMember(g, m, m == by, ts);
    g.left = false;
  } else if (action == "add") {
    for (const auto& m : members) AddMember(g, m, false, ts);
    if (Contains(members, state.me)) {
      g.left = false;
      // Added to a group that existed: ask for its members.
      const std::string cid = absl::StrCat("chat-groups-", state.next_request++);
      effects.frames.push_back(JsonObject().Add("op", "groups").Add("cid", cid).Add("group", *id).str());
    }
  } else if (action == "remove") {
    for (const auto& m : members) RemoveMember(g, m);
    if (Contains(members, state.me)) g.left = true;
  } else if (action == "leave") {
    RemoveMember(g, by);
    if (members.size() > 1) {
      if (Member* m = FindMember(g, members[1]); m != nullptr) m->admin = true;
    }
    if (by == state.me) g.left = true;
  }
  if ((action == "create" || action == "rename") && !name.empty() && name != g.title) {
    g.title = name;
    Resort(state);
  }
  Peer& group = *FindGroup(state, *id);
  Message line;
  line.event = true;
  line.id = event_id;
  line.ts = ts;
  line.body = EventText(action, by, members, name);
  group.messages.push_back(std::move(line));
}

// The `groups` answer: names and members of the groups listed.
void ApplyGroups(State& state, const rapidjson::Value& frame) {
  auto it = frame.FindMember("groups");
  if (it == frame.MemberEnd() || !it->value.IsArray()) return;
  for (const auto& g : it->value.GetArray()) {
    const auto id = StringField(g, "group");
    if (!id || id->empty()) continue;
    Peer& group = AddGroup(state, *id);
    group.left = false;
    group.members.clear();
    auto ms = g.FindMember("members");
    if (ms != g.MemberEnd() && ms->value.IsArray()) {
      for (const auto& m : ms->value.GetArray()) {
        const auto user = StringField(m, "user");
        if (!user) continue;
        AddMember(group, *user, StringField(m, "role").value_or("") == "admin", IntField(m, "since").value_or(0));
      }
    }
    const std::string name = StringField(g, "name").value_or("");
    if (!name.empty() && name != group.title) {
      group.title = name;
      Resort(state);
    }
  }
}

// Starts or refreshes own typing in `p`, or stops it (on = false).
void Typing(State& state, const Peer& p, bool on, int64_t now_ms, Effects& effects) {
  if (on) {
    if (p.group && p.left) return;
    if (state.typing_to != p.name || now_ms - state.typing_sent_ms >= kTypingRefreshMs) {
      if (!state.typing_to.empty() && state.typing_to != p.name) {
        if (Peer* old = FindGroup(state, state.typing_to); old != nullptr) {
          effects.frames.push_back(TypingFrame(*old, false));
        } else if (Peer* friend_ = FindPeer(state, state.typing_to); friend_ != nullptr) {
          effects.frames.push_back(TypingFrame(*friend_, false));
        }
      }
      state.typing_to = p.name;
      state.typing_sent_ms = now_ms;
      effects.frames.push_back(TypingFrame(p, true));
    }
  } else if (state.typing_to == p.name) {
    state.typing_to.clear();
    effects.frames.push_back(TypingFrame(p, false));
  }
}

// `user` no longer shows as typing in `p`.
void StopTyping(Peer& p, const std::string& user) {
  p.typing.erase(std::remove_if(p.typing.begin(), p.typing.end(), [&](const Typist& t) { return t.user == user; }),
                 p.typing.end());
}

// "bob is typing…", "bob and carol are typing…", or "".
std::string TypingText(const Peer& p, int64_t now_ms) {
  std::vector<std::string> who;
  for (const Typist& t : p.typing) {
    if (t.until > now_ms) who.push_back(Printable(t.user));
  }
  if (who.empty()) return "";
  return absl::StrCat(Names(who), who.size() == 1 ? " is" : " are", " typing…");
}

Message* FindOwn(State& state, std::string_view cid, Peer** where = nullptr) {
  for (Peer& p : state.peers) {
    for (Message& m : p.messages) {
      if (m.mine && !m.cid.empty() && m.cid == cid) {
        if (where != nullptr) *where = &p;
        return &m;
      }
    }
  }
  return nullptr;
}

Peer* Open(State& state) {
  if (state.view != View::kConversation || state.selected >= state.peers.size()) return nullptr;
  return &state.peers[state.selected];
}

// Opens the selected conversation: its unread messages are now read.
void OpenSelected(State& state, Effects& effects) {
  if (state.selected >= state.peers.size()) return;
  state.view = View::kConversation;
  state.status.clear();
  Peer& p = state.peers[state.selected];
  SendReads(p.unread, effects);
  p.unread.clear();
}

void Separator(std::vector<std::string>& lines, std::size_t cols) {
  std::string line;
  for (std::size_t i = 0; i < cols; ++i) line += "─";
  lines.push_back(absl::StrCat(kDim, line, kReset));
}

Line Title(const State& state, std::size_t cols, Line left) {
  const std::string right = state.connected ? "connected" : "connecting…";
  std::size_t used = 0;
  for (const Span& s : left) used += Columns(s.text);
  if (used + Columns(right) + 1 < cols) {
    left.push_back({std::string(cols - used - Columns(right) - 1, ' '), ""});
    left.push_back({right, std::string(state.connected ? kDim : kRed)});
  }
  return left;
}

Span Help(const State& state, std::string_view help) {
  if (!state.status.empty()) return {Printable(state.status), std::string(kRed)};
  return {std::string(help), std::string(kDim)};
}

void RenderList(const State& state, std::size_t rows, std::size_t cols, int64_t now_ms, Screen& screen) {
  auto& lines = screen.lines;
  lines.push_back(Emit(Title(state, cols, {{absl::StrCat(" courier · ", state.me), std::string(kBold)}}), cols));
  Separator(lines, cols);
  const std::size_t room = rows > 4 ? rows - 4 : 0;
  if (state.peers.empty()) {
    if (room > 0) lines.push_back(Emit({{" No friends yet: `courier-cli friend NAME`, then wait for the accept.", ""}}, cols));
  } else {
    std::size_t width = 8;
    for (const Peer& p : state.peers) width = std::max(width, Columns(p.group ? p.title : p.name) + (p.group ? 2 : 0));
    width = std::min<std::size_t>(width, 32);
    // Scroll so that the selection stays in view.
    const std::size_t first = state.selected >= room ? state.selected - room + 1 : 0;
    for (std::size_t i = first; i < state.peers.size() && i < first + room; ++i) {
      const Peer& p = state.peers[i];
      const bool selected = i == state.selected;
      const std::string base = selected ? std::string(kReverse) : "";
      const std::string name = TakeColumns(Printable(p.group ? absl::StrCat("# ", p.title) : p.name), width);
      Line line;
      line.push_back({absl::StrCat(selected ? " › " : "   ", name, std::string(width - Columns(name) + 2, ' ')), base});
      const std::string typing = TypingText(p, now_ms);
      if (!typing.empty()) {
        line.push_back({absl::StrCat("  ", TakeColumns(typing, 40)), absl::StrCat(base, kGreen)});
      } else if (p.group) {
        line.push_back({absl::StrCat("  ", p.left ? "you left" : absl::StrCat(p.members.size(), " members")), base});
      } else {
        Span dot = PresenceDot(p);
        dot.style = base + dot.style;
        line.push_back(dot);
        line.push_back({absl::StrCat(" ", LastSeen(p, now_ms)), base});
      }
      if (!p.unread.empty()) {
        line.push_back({"  ", base});
        line.push_back({absl::StrCat(p.unread.size(), " new"), absl::StrCat(base, kBold)});
      }
      std::size_t used = 0;
      for (const Span& s : line) used += Columns(s.text);
      if (selected && used < cols) line.push_back({std::string(cols - used, ' '), base});
      lines.push_back(Emit(line, cols));
    }
  }
  while (lines.size() + 2 < rows) lines.push_back("");
  Separator(lines, cols);
  lines.push_back(Emit({{" ", ""}, Help(state, "↑/↓ choose · Enter open · q quit")}, cols));
}

void RenderConversation(const State& state, std::size_t rows, std::size_t cols, int64_t now_ms,
                        Screen& screen) {
  auto& lines = screen.lines;
  const Peer& p = state.peers[state.selected];
  Line title;
  if (p.group) {
    std::vector<std::string> names;
    for (const Member& m : p.members) names.push_back(Printable(m.user == state.me ? "you" : m.user));
    title = {{absl::StrCat(" # ", Printable(p.title)), std::string(kBold)},
             {p.left ? " · you are no longer a member" : absl::StrCat(" · ", Names(names)), std::string(kDim)}};
  } else {
    title = {{absl::StrCat(" ", Printable(p.name)), std::string(kBold)}, {" · ", ""}, PresenceDot(p),
             {absl::StrCat(" ", LastSeen(p, now_ms)), ""}};
  }
  lines.push_back(Emit(Title(state, cols, std::move(title)), cols));
  Separator(lines, cols);

  // Messages, newest at the bottom; each wrapped under its "HH:MM name: " prefix.
  const std::size_t room = rows > 4 ? rows - 4 : 0;
  std::vector<std::string> body_lines;
  for (auto it = p.messages.rbegin(); it != p.messages.rend() && body_lines.size() < room; ++it) {
    const Message& m = *it;
    if (m.event) {
      const std::string text = absl::StrCat(" ", Local(m.ts, "%H:%M"), " · ", Printable(m.body));
      std::vector<std::string> out;
      for (std::string rest = text; !rest.empty();) {
        std::string chunk = TakeColumns(rest, cols);
        rest.erase(0, chunk.size());
        out.push_back(Emit({{chunk, std::string(kDim)}}, cols));
      }
      for (auto o = out.rbegin(); o != out.rend() && body_lines.size() < room; ++o) body_lines.push_back(*o);
      continue;
    }
    const std::string who = m.mine ? "me" : Printable(p.group ? m.from : p.name);
    const std::string prefix = absl::StrCat(" ", Local(m.ts, "%H:%M"), " ", who, ": ");
    const std::size_t indent = Columns(prefix);
    const std::size_t width = cols > indent + 4 ? cols - indent - 4 : 1;
    std::vector<std::string> chunks;
    std::size_t start = 0;
    for (;;) {
      const std::size_t nl = m.body.find('\n', start);
      std::string text = Printable(std::string_view(m.body).substr(start, nl == std::string::npos ? nl : nl - start));
      do {
        std::string chunk = TakeColumns(text, width);
        text.erase(0, chunk.size());
        chunks.push_back(std::move(chunk));
      } while (!text.empty());
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
    std::vector<std::string> out;
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      Line line;
      if (i == 0) {
        line.push_back({prefix.substr(0, prefix.size() - who.size() - 2), std::string(kDim)});
        line.push_back({who, m.mine ? "" : std::string(kBold)});
        line.push_back({": ", ""});
      } else {
        line.push_back({std::string(indent, ' '), ""});
      }
      line.push_back({chunks[i], ""});
      if (m.mine && i + 1 == chunks.size()) {
        line.push_back({" ", ""});
        Message shown = m;
        shown.tick = ShownTick(state, p, m);
        line.push_back(TickSpan(shown));
      }
      out.push_back(Emit(line, cols));
    }
    for (auto o = out.rbegin(); o != out.rend() && body_lines.size() < room; ++o) body_lines.push_back(*o);
  }
  for (std::size_t i = body_lines.size(); i < room; ++i) lines.push_back("");
  for (auto it = body_lines.rbegin(); it != body_lines.rend(); ++it) lines.push_back(*it);

  const std::string typing = TypingText(p, now_ms);
  if (state.status.empty() && !typing.empty()) {
    lines.push_back(Emit({{" ", ""}, {typing, std::string(kGreen)}}, cols));
  } else {
    lines.push_back(Emit({{" ", ""}, Help(state, "Enter send · Esc back to the list · Ctrl-C quit")}, cols));
  }
  const std::string shown(LastColumns(state.input, cols > 3 ? cols - 3 : 0));
  lines.push_back(absl::StrCat(kBold, "> ", kReset, Printable(shown)));
  screen.cursor_row = static_cast<int>(lines.size()) - 1;
  screen.cursor_col = static_cast<int>(2 + Columns(shown));
}

}  // namespace

std::size_t Columns(std::string_view text) {
  std::size_t n = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const std::size_t len = Utf8Length(c);
    bool valid = len != 0 && i + len <= text.size();
    for (std::size_t k = 1; valid && k < len; ++k) {
      valid = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    }
    if (!valid) {
      out += '?';
      ++i;
      continue;
    }
    if (c == '\t') {
      out += ' ';
    } else if (c < 0x20 || c == 0x7f ||
               (c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0)) {  // C0, DEL, C1 (U+0080-U+009F)
      out += '?';
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
  }
  return out;
}

std::string PlainText(std::string_view line) {
  std::string out;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\x1b' && i + 1 < line.size() && line[i + 1] == '[') {
      i += 2;
      while (i < line.size() && !(line[i] >= 0x40 && line[i] <= 0x7e)) ++i;
      continue;
    }
    out += line[i];
  }
  return out;
}

std::vector<Key> ParseKeys(std::string& pending) {
  std::vector<Key> keys;
  const std::string& s = pending;
  std::size_t i = 0;
  auto key = [&keys](Key::Kind kind) { keys.push_back(Key{kind, ""}); };
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 0x1b) {
      if (i + 1 == s.size()) {
        key(Key::kEscape);
        ++i;
      } else if (s[i + 1] == '[') {
        std::size_t j = i + 2;
        while (j < s.size() && !(s[j] >= 0x40 && s[j] <= 0x7e)) ++j;
        if (j == s.size()) break;  // the rest comes with the next read
        switch (s[j]) {
          case 'A': key(Key::kUp); break;
          case 'B': key(Key::kDown); break;
          case 'C': key(Key::kRight); break;
          case 'D': key(Key::kLeft); break;
          default: key(Key::kOther); break;
        }
        i = j + 1;
      } else if (s[i + 1] == 'O') {
        if (i + 2 == s.size()) break;
        switch (s[i + 2]) {
          case 'A': key(Key::kUp); break;
          case 'B': key(Key::kDown); break;
          case 'C': key(Key::kRight); break;
          case 'D': key(Key::kLeft); break;
          case 'M': key(Key::kEnter); break;
          default: key(Key::kOther); break;
        }
        i += 3;
      } else {
        key(Key::kEscape);  // ESC then another key (Alt+key): the Escape, then that key
        ++i;
      }
    } else if (c == '\r' || c == '\n') {
      key(Key::kEnter);
      i += (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ? 2 : 1;
    } else if (c == 0x7f || c == 0x08) {
      key(Key::kBackspace);
      ++i;
    } else if (c == 0x03) {
      key(Key::kInterrupt);
      ++i;
    } else if (c == 0x04) {
      key(Key::kEof);
      ++i;
    } else if (c == '\t') {
      key(Key::kTab);
      ++i;
    } else if (c < 0x20) {
      key(Key::kOther);
      ++i;
    } else {
      const std::size_t len = Utf8Length(c);
      if (len == 0) {
        key(Key::kOther);
        ++i;
        continue;
      }
      if (i + len > s.size()) break;  // the rest of the character comes next
      if (keys.empty() || keys.back().kind != Key::kText) keys.push_back(Key{Key::kText, ""});
      keys.back().text.append(s, i, len);
      i += len;
    }
  }
  pending.erase(0, i);
  return keys;
}

Peer& AddPeer(State& state, std::string_view name) {
  if (Peer* p = FindPeer(state, name); p != nullptr) return *p;
  Peer p;
  p.name = std::string(name);
  return Insert(state, std::move(p));
}

Peer& AddGroup(State& state, std::string_view id) {
  if (Peer* p = FindGroup(state, id); p != nullptr) return *p;
  Peer p;
  p.name = std::string(id);
  p.title = std::string(id);
  p.group = true;
  return Insert(state, std::move(p));
}

Tick ShownTick(const State& state, const Peer& peer, const Message& m) {
  if (!peer.group || !m.mine || m.tick != Tick::kSent) return m.tick;
  bool any = false;
  bool delivered = true;
  bool read = true;
  for (const Member& member : peer.members) {
    if (member.user == state.me || Contains(m.skipped, member.user)) continue;
    if (member.since > 0 && m.ts > 0 && member.since > m.ts) continue;  // joined after it was sent
    any = true;
    const bool r = Contains(m.read_by, member.user);
    read = read && r;
    delivered = delivered && (r || Contains(m.delivered_by, member.user));
  }
  if (!any) return Tick::kSent;
  return read ? Tick::kRead : delivered ? Tick::kDelivered : Tick::kSent;
}

std::string GroupsRequest(State& state) {
  return JsonObject().Add("op", "groups").Add("cid", absl::StrCat("chat-groups-", state.next_request++)).str();
}

bool TickTime(State& state, int64_t now_ms, Effects& effects) {
  bool changed = false;
  for (Peer& p : state.peers) {
    const std::size_t before = p.typing.size();
    p.typing.erase(std::remove_if(p.typing.begin(), p.typing.end(), [&](const Typist& t) { return t.until <= now_ms; }),
                   p.typing.end());
    changed = changed || p.typing.size() != before;
  }
  if (!state.typing_to.empty() && now_ms - state.last_key_ms >= kTypingIdleMs) {
    Peer* p = FindGroup(state, state.typing_to);
    if (p == nullptr) p = FindPeer(state, state.typing_to);
    if (p != nullptr) {
      Typing(state, *p, false, now_ms, effects);
    } else {
      state.typing_to.clear();
    }
  }
  return changed;
}

void ApplyFrame(State& state, const rapidjson::Value& frame, Effects& effects, int64_t now_ms) {
  const std::string op = StringField(frame, "op").value_or("");
  if (op == "msg") {
    const auto from = StringField(frame, "from");
    const auto id = StringField(frame, "id");
    if (!from || from->empty() || !id || id->empty()) return;
    const auto group = StringField(frame, "group");
    Peer& p = group && !group->empty() ? AddGroup(state, *group) : AddPeer(state, *from);
    for (const Message& m : p.messages) {
      if (!m.event && m.id == *id) return;  // seen already (sent again after a reconnect; own copy)
    }
    // Whoever sent it has stopped typing.
    StopTyping(p, *from);
    Message m;
    if (p.group) {
      m.from = *from;
      // The group's copy of an own message, sent from another device (this
      // device's own copies are known by id once `sent` came).
      if (*from == state.me) {
        m.mine = true;
        m.tick = Tick::kSent;
      }
    }
    m.body = StringField(frame, "body").value_or("");
    m.ts = IntField(frame, "ts").value_or(0);
    m.id = *id;
    const bool mine = m.mine;
    p.messages.push_back(std::move(m));
    if (mine) return;
    if (Peer* open = Open(state); open == &p) {
      SendReads({*id}, effects);
    } else {
      p.unread.push_back(*id);
      if (state.view == View::kConversation) {
        state.status = absl::StrCat("new message from ", *from, p.group ? absl::StrCat(" in ", p.title) : "");
      }
    }
  } else if (op == "receipt") {
    const auto by = StringField(frame, "by");
    const auto id = StringField(frame, "id");
    const std::string status = StringField(frame, "status").value_or("");
    if (!by || !id || id->empty()) return;
    const Tick tick = status == "read" ? Tick::kRead : status == "delivered" ? Tick::kDelivered : Tick::kSent;
    for (Peer& p : state.peers) {
      if (!p.group && p.name != *by) continue;
      for (Message& m : p.messages) {
        if (!m.mine || m.id != *id || m.tick == Tick::kFailed) continue;
        if (!p.group) {
          m.tick = std::max(m.tick, tick);
        } else if (tick == Tick::kRead && !Contains(m.read_by, *by)) {
          m.read_by.push_back(*by);  // a group message: counted per member (ShownTick)
        } else if (tick == Tick::kDelivered && !Contains(m.delivered_by, *by)) {
          m.delivered_by.push_back(*by);
        }
      }
    }
  } else if (op == "sent") {
    Peer* where = nullptr;
    Message* m = FindOwn(state, StringField(frame, "cid").value_or(""), &where);
    if (m == nullptr) return;
    m->id = StringField(frame, "id").value_or(m->id);
    m->skipped = Strings(frame, "skipped");
    if (!m->skipped.empty()) {
      state.status = absl::StrCat("not delivered to ", Names(m->skipped), ": their inbox is full");
    }
    // The group's copy of it may have come first: this entry is the one kept.
    std::size_t at = static_cast<std::size_t>(m - where->messages.data());
    for (std::size_t j = 0; j < where->messages.size(); ++j) {
      const Message& copy = where->messages[j];
      if (j != at && copy.mine && copy.cid.empty() && !copy.event && copy.id == m->id) {
        where->messages.erase(where->messages.begin() + static_cast<std::ptrdiff_t>(j));
        if (j < at) --at;
        m = &where->messages[at];
        break;
      }
    }
    m->ts = IntField(frame, "ts").value_or(m->ts);
    if (m->tick == Tick::kPending || m->tick == Tick::kFailed) {
      m->tick = Tick::kSent;
      m->error.clear();
    }
  } else if (op == "error") {
    const std::string code = StringField(frame, "code").value_or("error");
    const std::string text = StringField(frame, "message").value_or("");
    if (Message* m = FindOwn(state, StringField(frame, "cid").value_or("")); m != nullptr) {
      if (m->tick == Tick::kPending) {
        m->tick = Tick::kFailed;
        m->error = code;
      }
    }
    state.status = absl::StrCat(code, text.empty() ? "" : ": ", text);
  } else if (op == "group_event") {
    ApplyGroupEvent(state, frame, effects);
  } else if (op == "groups") {
    ApplyGroups(state, frame);
  } else if (op == "typing") {
    const auto from = StringField(frame, "from");
    if (!from || from->empty() || *from == state.me) return;
    const auto group = StringField(frame, "group");
    Peer* p = group && !group->empty() ? FindGroup(state, *group) : FindPeer(state, *from);
    if (p == nullptr) return;
    StopTyping(*p, *from);
    auto on = frame.FindMember("on");
    if (on != frame.MemberEnd() && on->value.IsBool() && on->value.GetBool()) {
      const int64_t ttl = std::clamp<int64_t>(IntField(frame, "ttl_ms").value_or(6000), 0, 60000);
      p->typing.push_back(Typist{*from, now_ms + ttl});
    }
  } else if (op == "presence") {
    const auto user = StringField(frame, "user");
    if (!user || user->empty()) return;
    Peer& p = AddPeer(state, *user);
    p.presence_known = true;
    auto online = frame.FindMember("online");
    p.online = online != frame.MemberEnd() && online->value.IsBool() && online->value.GetBool();
    p.last_seen = IntField(frame, "last_seen");
  }
}

void ApplyKey(State& state, const Key& key, int64_t now_ms, Effects& effects) {
  if (key.kind == Key::kInterrupt) {
    state.quit = true;
    return;
  }
  if (state.view == View::kList) {
    switch (key.kind) {
      case Key::kUp:
        if (state.selected > 0) --state.selected;
        break;
      case Key::kDown:
        if (state.selected + 1 < state.peers.size()) ++state.selected;
        break;
      case Key::kEnter:
      case Key::kRight:
        OpenSelected(state, effects);
        break;
      case Key::kEof:
        state.quit = true;
        break;
      case Key::kText:
        for (char c : key.text) {
          if (c == 'q') {
            state.quit = true;
          } else if (c == 'k' && state.selected > 0) {
            --state.selected;
          } else if (c == 'j' && state.selected + 1 < state.peers.size()) {
            ++state.selected;
          }
        }
        break;
      default:
        break;
    }
    return;
  }
  Peer* p = Open(state);
  if (p == nullptr) {
    state.view = View::kList;
    return;
  }
  state.last_key_ms = now_ms;
  switch (key.kind) {
    case Key::kText:
      if (state.input.size() + key.text.size() <= kMaxInput) state.input += key.text;
      Typing(state, *p, true, now_ms, effects);
      break;
    case Key::kTab:
      if (state.input.size() < kMaxInput) state.input += ' ';
      break;
    case Key::kBackspace:
      while (!state.input.empty() && (static_cast<unsigned char>(state.input.back()) & 0xC0) == 0x80) {
        state.input.pop_back();
      }
      if (!state.input.empty()) state.input.pop_back();
      if (state.input.empty()) Typing(state, *p, false, now_ms, effects);
      break;
    case Key::kEscape:
      Typing(state, *p, false, now_ms, effects);
      state.view = View::kList;
      state.status.clear();
      break;
    case Key::kEof:
      if (state.input.empty()) state.view = View::kList;
      break;
    case Key::kEnter: {
      if (state.input.empty()) break;
      if (p->group && p->left) {
        state.status = "you are no longer a member of this group";
        break;
      }
      Typing(state, *p, false, now_ms, effects);
      Message m;
      m.mine = true;
      m.body = std::move(state.input);
      state.input.clear();
      m.ts = now_ms;
      m.cid = absl::StrCat(state.cid_prefix, state.next_cid++);
      effects.frames.push_back(SendFrame(*p, m));
      p->messages.push_back(std::move(m));
      state.status.clear();
      break;
    }
    default:
      break;
  }
}

std::vector<std::string> PendingSends(const State& state) {
  std::vector<std::string> frames;
  for (const Peer& p : state.peers) {
    for (const Message& m : p.messages) {
      if (m.mine && m.tick == Tick::kPending) frames.push_back(SendFrame(p, m));
    }
  }
  return frames;
}

Screen Render(const State& state, int rows_in, int cols_in, int64_t now_ms) {
  const std::size_t rows = static_cast<std::size_t>(std::max(rows_in, 1));
  const std::size_t cols = static_cast<std::size_t>(std::max(cols_in, 1));
  Screen screen;
  if (state.view == View::kConversation && state.selected < state.peers.size()) {
    RenderConversation(state, rows, cols, now_ms, screen);
  } else {
    RenderList(state, rows, cols, now_ms, screen);
  }
  // A terminal too small for the layout: the last lines (the input) win.
  if (screen.lines.size() > rows) {
    const std::size_t cut = screen.lines.size() - rows;
    screen.lines.erase(screen.lines.begin(), screen.lines.begin() + static_cast<std::ptrdiff_t>(cut));
    if (screen.cursor_row >= 0) screen.cursor_row -= static_cast<int>(cut);
  }
  screen.cursor_col = std::min(screen.cursor_col, static_cast<int>(cols) - 1);
  return screen;
}

}  // namespace courier_cli::chat
