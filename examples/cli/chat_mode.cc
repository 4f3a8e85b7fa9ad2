// courier-cli chat: the interactive mode's I/O. The keyboard (standard input, raw)
// and the WebSocket run on the Runner's io_context; chat_screen.h holds the model.
//
// Keys are handled as they arrive, even while a frame is being read or written,
// and their frames wait in an outbox; the outbox is written between two frames
// and every 50 ms while the session waits, so nothing is written from inside an
// I/O handler.
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <csignal>
#include <random>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "chat_screen.h"
#include "chat_session.h"
#include "commands.h"
#include "credentials.h"
#include "json.h"
#include "terminal.h"

namespace courier_cli {

namespace {

namespace asio = boost::asio;

constexpr auto kTick = std::chrono::milliseconds(50);

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

// 0.5 s, 1 s, 2 s, … capped at 30 s.
std::chrono::milliseconds Backoff(int attempt) {
  return std::chrono::milliseconds(std::min<int64_t>(30000, int64_t{500} << std::min(attempt, 6)));
}

std::string CidPrefix() {
  std::random_device rd;
  std::uniform_int_distribution<int> hex(0, 15);
  std::string prefix = "chat-";
  for (int i = 0; i < 16; ++i) prefix += "0123456789abcdef"[hex(rd)];
  return prefix + "-";
}

class ChatUi {
 public:
  ChatUi(Context& ctx, const ChatOptions& options)
      : ctx_(ctx), options_(options), input_(ctx.runner->io()), winch_(ctx.runner->io(), SIGWINCH) {}

  absl::Status Run() {
    auto me = LoadCredentials(ctx_.token_file);
    if (!me.ok()) return me.status();
    state_.me = me->user;
    state_.cid_prefix = CidPrefix();
    auto friends = FetchFriends(ctx_, *me);
    if (!friends.ok()) return friends.status();
    for (const std::string& name : *friends) chat::AddPeer(state_, name);
    if (!options_.open.empty()) {
      chat::AddPeer(state_, options_.open);
      for (std::size_t i = 0; i < state_.peers.size(); ++i) {
        if (state_.peers[i].name == options_.open) state_.selected = i;
      }
      state_.view = chat::View::kConversation;
    }

    if (absl::Status s = terminal_.Enter(); !s.ok()) return s;
    const int fd = ::dup(STDIN_FILENO);
    if (fd < 0) return absl::UnavailableError("cannot read the keyboard");
    input_.assign(fd);
    ReadKeys();
    WatchResize();
    Redraw();

    absl::Status result = Loop(*me);

    boost::system::error_code ignored;
    input_.close(ignored);
    winch_.cancel(ignored);
    terminal_.Restore();
    return result;
  }

 private:
  absl::Status Loop(const Credentials& me) {
    std::optional<int64_t> last;  // the highest inbox seq handled
    int failures = 0;
    while (!state_.quit) {
      state_.connected = false;
      Redraw();
      auto session = ChatSession::Open(ctx_, me, options_.device, last);
      if (!session.ok()) {
        const absl::Status& s = session.status();
        if (absl::IsUnauthenticated(s) || absl::IsCancelled(s)) return s;
        if (!absl::IsUnavailable(s) && !absl::IsDeadlineExceeded(s)) return s;
        state_.status = absl::StrCat(s.message(), "; trying again");
        Redraw();
        if (!Wait(Backoff(++failures))) break;
        continue;
      }
      failures = 0;
      state_.connected = true;
      state_.status.clear();
      if (!last) last = IntField((*session)->welcome(), "cursor").value_or(0);
      // Own messages not yet `sent` go again with their cid; other frames stay queued.
      std::vector<std::string> keep;
      for (std::string& f : outbox_) {
        if (!absl::StartsWith(f, R"({"op":"send")")) keep.push_back(std::move(f));
      }
      outbox_ = std::move(keep);
      for (std::string& f : chat::PendingSends(state_)) outbox_.push_back(std::move(f));
      outbox_.push_back(chat::GroupsRequest(state_));  // the groups' names and members
      ChatSession& live = **session;
      live.SetIdleHook(kTick, [this, &live]() -> absl::Status {
        if (state_.quit) return absl::CancelledError("quit");
        chat::Effects effects;
        if (chat::TickTime(state_, NowMs(), effects)) Redraw();  // a typing indicator expired
        for (std::string& f : effects.frames) outbox_.push_back(std::move(f));
        return Flush(live);
      });
      absl::Status ended = Flush(live);
      Redraw();
      while (ended.ok()) {
        auto frame = live.Next();
        if (!frame.ok()) {
          ended = frame.status();
          break;
        }
        const std::string op = StringField(*frame, "op").value_or("");
        chat::Effects effects;
        if (op == "msg" || op == "receipt" || op == "group_event") {
          const auto seq = IntField(*frame, "seq");
          if (!seq || *seq <= 0) continue;
          if (*seq > *last) {
            chat::ApplyFrame(state_, *frame, effects, NowMs());
            last = *seq;
          }
          effects.frames.push_back(JsonObject().Add("op", "ack").Add("seq", *seq).str());
        } else {
          chat::ApplyFrame(state_, *frame, effects, NowMs());
        }
        for (std::string& f : effects.frames) outbox_.push_back(std::move(f));
        ended = Flush(live);
        Redraw();
      }
      if (state_.quit) break;
      if (absl::IsCancelled(ended) || absl::IsUnauthenticated(ended)) return ended;
      if (absl::IsAborted(ended)) {
        return absl::AbortedError(absl::StrCat(ended.message(), ": another connection took over device ",
                                               options_.device, "; give each chat its own --device"));
      }
      state_.connected = false;
      state_.status = absl::StrCat(ended.message(), "; reconnecting");
      Redraw();
      if (!Wait(Backoff(++failures))) break;
    }
    if (ctx_.runner->interrupted() != 0) return absl::CancelledError("interrupted");
    return absl::OkStatus();
  }

  // Writes the outbox in order; what fails stays queued (sends go again anyway).
  absl::Status Flush(ChatSession& session) {
    while (!outbox_.empty()) {
      std::vector<std::string> batch;
      batch.swap(outbox_);  // keys handled during a write append to the fresh outbox
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (absl::Status s = session.Write(batch[i]); !s.ok()) {
          outbox_.insert(outbox_.begin(), batch.begin() + static_cast<std::ptrdiff_t>(i), batch.end());
          return s;
        }
      }
    }
    return absl::OkStatus();
  }

  // Waits `duration` while keys are handled; false on quit or a signal.
  bool Wait(std::chrono::milliseconds duration) {
    const auto until = Clock::now() + duration;
    while (!state_.quit && Clock::now() < until) {
      const auto step = std::min<std::chrono::milliseconds>(
          std::chrono::milliseconds(100),
          std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()) +
              std::chrono::milliseconds(1));
      if (!ctx_.runner->Sleep(step)) return false;
    }
    return !state_.quit;
  }

  void ReadKeys() {
    input_.async_read_some(asio::buffer(buffer_), [this](const boost::system::error_code& ec, std::size_t n) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {  // the terminal is gone
        state_.quit = true;
        return;
      }
      pending_keys_.append(buffer_.data(), n);
      chat::Effects effects;
      for (const chat::Key& key : chat::ParseKeys(pending_keys_)) {
        chat::ApplyKey(state_, key, NowMs(), effects);
      }
      for (std::string& f : effects.frames) outbox_.push_back(std::move(f));
      Redraw();
      if (!state_.quit) ReadKeys();
    });
  }

  void WatchResize() {
    winch_.async_wait([this](const boost::system::error_code& ec, int) {
      if (ec) return;
      Redraw();
      WatchResize();
    });
  }

  void Redraw() {
    int rows = 0;
    int cols = 0;
    RawTerminal::Size(rows, cols);
    const chat::Screen screen = chat::Render(state_, rows, cols, NowMs());
    std::string out = "\x1b[?25l\x1b[H";
    for (std::size_t i = 0; i < screen.lines.size(); ++i) {
      out += screen.lines[i];
      // Erase the rest of the row; a full row is left alone (the cursor waits on its last column).
      if (chat::Columns(chat::PlainText(screen.lines[i])) < static_cast<std::size_t>(cols)) out += "\x1b[K";
      if (i + 1 < screen.lines.size()) out += "\r\n";
    }
    out += "\x1b[J";
    if (screen.cursor_row >= 0) {
      absl::StrAppend(&out, "\x1b[", screen.cursor_row + 1, ";", screen.cursor_col + 1, "H\x1b[?25h");
    }
    RawTerminal::Write(out);
  }

  Context& ctx_;
  const ChatOptions& options_;
  chat::State state_;
  std::vector<std::string> outbox_;
  std::string pending_keys_;
  RawTerminal terminal_;
  asio::posix::stream_descriptor input_;
  asio::signal_set winch_;
  std::array<char, 4096> buffer_{};
};

}  // namespace

absl::Status Chat(Context& ctx, const ChatOptions& options) {
  ChatUi ui(ctx, options);
  return ui.Run();
}

}  // namespace courier_cli
