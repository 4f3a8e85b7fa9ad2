// courier-cli: termios raw mode, the alternate screen, passwords without echo.
#include "terminal.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace courier_cli {

namespace {

constexpr std::size_t kMaxPassword = 4096;

volatile std::sig_atomic_t g_prompt_signal = 0;
void OnPromptSignal(int signal) { g_prompt_signal = signal; }

void WriteAll(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {  // the chat reads the shared tty non-blocking
        struct pollfd p {fd, POLLOUT, 0};
        ::poll(&p, 1, 1000);
        continue;
      }
      return;
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

absl::StatusOr<std::string> PromptPassword(const std::string& prompt) {
  const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        "no terminal to ask for the password on: give it with --password-file FILE (or --password-file - "
        "for standard input)");
  }
  struct termios saved {};
  const bool is_tty = ::tcgetattr(fd, &saved) == 0;
  // Ctrl-C, SIGTERM, SIGHUP while the echo is off: stop reading, restore, then report.
  // Installed without SA_RESTART so that the read returns.
  struct sigaction action {}, old_int {}, old_term {}, old_hup {};
  action.sa_handler = OnPromptSignal;
  sigemptyset(&action.sa_mask);
  g_prompt_signal = 0;
  ::sigaction(SIGINT, &action, &old_int);
  ::sigaction(SIGTERM, &action, &old_term);
  ::sigaction(SIGHUP, &action, &old_hup);
  if (is_tty) {
    struct termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  WriteAll(fd, prompt);
  std::string password;
  absl::Status status;
  for (;;) {
    char c;
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR && g_prompt_signal == 0) continue;
    if (n < 0 || g_prompt_signal != 0) {
      status = g_prompt_signal != 0 ? absl::CancelledError("interrupted")
                                    : absl::UnavailableError(absl::StrCat("cannot read the terminal: ",
                                                                          std::strerror(errno)));
      break;
    }
    if (n == 0 || c == '\n' || c == '\r') break;
    if (password.size() >= kMaxPassword) {
      status = absl::InvalidArgumentError("the password is too long");
      break;
    }
    password += c;
  }
  if (is_tty) ::tcsetattr(fd, TCSAFLUSH, &saved);
  if (!status.ok() || !is_tty) WriteAll(fd, "\n");
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  ::sigaction(SIGHUP, &old_hup, nullptr);
  ::close(fd);
  if (!status.ok()) return status;
  return password;
}

absl::StatusOr<std::string> ReadPasswordFile(const std::string& path) {
  std::string line;
  if (path == "-") {
    std::getline(std::cin, line);
    if (std::cin.bad()) return absl::UnavailableError("cannot read the password from standard input");
  } else {
    std::ifstream in(path);
    if (!in) {
      return (errno == ENOENT ? absl::NotFoundError : absl::UnavailableError)(
          absl::StrCat("cannot read the password file ", path, ": ", std::strerror(errno)));
    }
    std::getline(in, line);
    if (in.bad()) return absl::UnavailableError(absl::StrCat("cannot read the password file ", path));
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no password in ", path == "-" ? "standard input" : path, " (its first line is empty)"));
  }
  return line;
}

absl::Status RawTerminal::Enter() {
  if (!::isatty(STDIN_FILENO) || !::isatty(STDOUT_FILENO)) {
    return absl::FailedPreconditionError(
        "chat needs a terminal on standard input and output; scripts use send and listen");
  }
  if (::tcgetattr(STDIN_FILENO, &saved_) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read the terminal's mode: ", std::strerror(errno)));
  }
  struct termios raw = saved_;
  raw.c_iflag &= ~static_cast<tcflag_t>(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
  raw.c_oflag &= ~static_cast<tcflag_t>(OPOST);
  raw.c_cflag |= CS8;
  raw.c_lflag &= ~static_cast<tcflag_t>(ECHO | ICANON | IEXTEN | ISIG);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  if (::tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot set the terminal's mode: ", std::strerror(errno)));
  }
  active_ = true;
  Write("\x1b[?1049h\x1b[H\x1b[2J");  // the alternate screen, cleared
  return absl::OkStatus();
}

void RawTerminal::Restore() {
  if (!active_) return;
  active_ = false;
  Write("\x1b[0m\x1b[?25h\x1b[?1049l");
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
  // Asio made the terminal non-blocking for every process sharing it (the shell too).
  if (const int flags = ::fcntl(STDIN_FILENO, F_GETFL); flags >= 0 && (flags & O_NONBLOCK) != 0) {
    ::fcntl(STDIN_FILENO, F_SETFL, flags & ~O_NONBLOCK);
  }
}

void RawTerminal::Size(int& rows, int& cols) {
  struct winsize ws {};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
    rows = ws.ws_row;
    cols = ws.ws_col;
  } else {
    rows = 24;
    cols = 80;
  }
}

void RawTerminal::Write(const std::string& text) { WriteAll(STDOUT_FILENO, text); }

}  // namespace courier_cli
