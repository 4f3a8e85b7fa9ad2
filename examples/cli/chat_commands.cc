// courier-cli: send (to a user or a group), listen and read (the WebSocket protocol).
#include <algorithm>
#include <cstdio>
#include <random>

#include "absl/strings/str_cat.h"
#include "chat_session.h"
#include "commands.h"
#include "credentials.h"
#include "json.h"
#include "output.h"

namespace courier_cli {

namespace {

constexpr int kMaxReconnects = 8;  // in a row, for listen: about two minutes

bool Retryable(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s);
}

// 0.5 s, 1 s, 2 s, … capped at 30 s.
std::chrono::milliseconds Backoff(int attempt) {
  return std::chrono::milliseconds(std::min<int64_t>(30000, int64_t{500} << std::min(attempt, 6)));
}

}  // namespace

std::string RandomCid() {
  std::random_device rd;
  std::uniform_int_distribution<int> hex(0, 15);
  std::string cid = "cli-";
  for (int i = 0; i < 20; ++i) cid += "0123456789abcdef"[hex(rd)];
  return cid;
}

absl::Status Send(Context& ctx, const SendOptions& options) {
  auto me = LoadCredentials(ctx.token_file);
  if (!me.ok()) return me.status();
  const std::string cid = options.cid.empty() ? RandomCid() : options.cid;
  const Clock::time_point deadline = Clock::now() + options.wait;
  JsonObject send;
  send.Add("op", "send").Add("cid", cid);
  if (options.group.empty()) {
    send.Add("to", options.to);
  } else {
    send.Add("group", options.group);
  }
  const std::string frame = send.Add("body", options.body).str();
  auto session = ChatSession::Open(ctx, *me, options.device, std::nullopt);
  if (!session.ok()) return session.status();
  if (absl::Status s = (*session)->Write(frame); !s.ok()) return s;
  for (;;) {
    auto reply = (*session)->Next(deadline);
    if (!reply.ok()) {
      if (absl::IsDeadlineExceeded(reply.status())) {
        return absl::DeadlineExceededError(absl::StrCat("no `sent` for ", cid, " in ", options.wait.count(),
                                                        " ms; sending again with --cid ", cid,
                                                        " cannot make a duplicate"));
      }
      return reply.status();
    }
    const std::string op = StringField(*reply, "op").value_or("");
    const std::string about = StringField(*reply, "cid").value_or("");
    if (op == "sent" && about == cid) {
      (*session)->Close();
      return PrintLine(Compact(*reply));
    }
    if (op != "error" || (!about.empty() && about != cid)) continue;  // inbox events wait for listen
    const std::string code = StringField(*reply, "code").value_or("");
    if (code == "rate_limited" || code == "unavailable") {
      // Nothing was stored: the same cid again after the wait.
      const auto wait = std::chrono::milliseconds(
          std::max<int64_t>(200, IntField(*reply, "retry_after_ms").value_or(1000)));
      if (Clock::now() + wait >= deadline) return FrameError(*reply);
      std::fprintf(stderr, "courier-cli: %s, sending again in %lld ms\n", code.c_str(),
                   static_cast<long long>(wait.count()));
      if (!ctx.runner->Sleep(wait)) return absl::CancelledError("interrupted");
      if (absl::Status s = (*session)->Write(frame); !s.ok()) return s;
      continue;
    }
    return FrameError(*reply);
  }
}

absl::Status Listen(Context& ctx, const ListenOptions& options) {
  auto me = LoadCredentials(ctx.token_file);
  if (!me.ok()) return me.status();
  std::optional<int64_t> since = options.since;
  std::optional<int64_t> last;  // highest seq printed (or known acked); drop at or below
  if (since) last = *since;
  int64_t events = 0;
  int failures = 0;
  bool connected_once = false;
  for (;;) {
    auto session = ChatSession::Open(ctx, *me, options.device, since);
    if (!session.ok()) {
      if (!connected_once || !Retryable(session.status()) || ++failures > kMaxReconnects) {
        return session.status();
      }
      std::fprintf(stderr, "courier-cli: %s; trying again\n", std::string(session.status().message()).c_str());
      if (!ctx.runner->Sleep(Backoff(failures))) return absl::CancelledError("interrupted");
      continue;
    }
    connected_once = true;
    failures = 0;
    const auto& welcome = (*session)->welcome();
    if (!last) last = IntField(welcome, "cursor").value_or(0);
    std::fprintf(stderr, "courier-cli: listening as %s on device %s (cursor %lld, head %lld)\n",
                 me->user.c_str(), options.device.c_str(),
                 static_cast<long long>(IntField(welcome, "cursor").value_or(0)),
                 static_cast<long long>(IntField(welcome, "head").value_or(0)));
    absl::Status ended;
    for (;;) {
      auto frame = (*session)->Next();
      if (!frame.ok()) {
        ended = frame.status();
        break;
      }
      const std::string op = StringField(*frame, "op").value_or("");
      if (op == "msg" || op == "receipt" || op == "group_event") {
        const auto seq = IntField(*frame, "seq");
        if (!seq || *seq <= 0) continue;
        if (*seq > *last) {
          // Printed (and flushed) first, acked after: a reader never misses an event.
          if (absl::Status s = PrintLine(Compact(*frame)); !s.ok()) return s;
          last = *seq;
          ++events;
        }
        if (absl::Status s = (*session)->Write(JsonObject().Add("op", "ack").Add("seq", *seq).str()); !s.ok()) {
          ended = s;
          break;
        }
        if (options.count > 0 && events >= options.count) return absl::OkStatus();
      } else if (op == "synced") {
        if (options.until_synced) return absl::OkStatus();
      } else if (op == "presence" || op == "typing") {
        if (op == "presence" ? options.presence : options.typing) {
          if (absl::Status s = PrintLine(Compact(*frame)); !s.ok()) return s;
        }
      } else if (op == "error") {
        std::fprintf(stderr, "courier-cli: %s\n", std::string(FrameError(*frame).message()).c_str());
      }
    }
    if (absl::IsAborted(ended)) {
      return absl::AbortedError(absl::StrCat(ended.message(), ": another connection took over device ",
                                             options.device, "; give each listener its own --device"));
    }
    if (!Retryable(ended) || ++failures > kMaxReconnects) return ended;
    std::fprintf(stderr, "courier-cli: %s; reconnecting\n", std::string(ended.message()).c_str());
    since = *last;  // resume exactly after what was printed
    if (!ctx.runner->Sleep(Backoff(failures))) return absl::CancelledError("interrupted");
  }
}

absl::Status MarkRead(Context& ctx, const std::vector<std::string>& ids, const std::string& device) {
  auto me = LoadCredentials(ctx.token_file);
  if (!me.ok()) return me.status();
  auto session = ChatSession::Open(ctx, *me, device, std::nullopt);
  if (!session.ok()) return session.status();
  const std::string read_op = JsonObject().Add("op", "read").AddStrings("ids", ids).str();
  if (absl::Status s = (*session)->Write(read_op); !s.ok()) return s;
  // The server answers frames in order: our pong means it has taken the read.
  if (absl::Status s = (*session)->Write(R"({"op":"ping"})"); !s.ok()) return s;
  const Clock::time_point deadline = Clock::now() + ctx.connect.timeout;
  for (;;) {
    auto frame = (*session)->Next(deadline);
    if (!frame.ok()) return frame.status();
    const std::string op = StringField(*frame, "op").value_or("");
    if (op == "error") return FrameError(*frame);
    if (op == "pong") break;
  }
  (*session)->Close();
  return PrintLine(JsonObject().Add("read", static_cast<int64_t>(ids.size())).str());
}

}  // namespace courier_cli
