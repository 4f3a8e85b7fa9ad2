// ws_client.cc: the load generator's WebSocket client.
#include "ws_client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

#include <boost/asio/error.hpp>
#include <boost/beast/websocket/detail/hybi13.hpp>
#include <boost/beast/websocket/error.hpp>

#include "ws_frame.h"

namespace courier::load {

IoPool::IoPool(std::size_t threads) {
  if (threads == 0) threads = 1;
  for (std::size_t i = 0; i < threads; ++i) loops_.push_back(std::make_unique<EventLoop>());
  for (std::size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([loop = loops_[i].get()] { loop->Run(); });
  }
}

IoPool::~IoPool() {
  for (auto& loop : loops_) loop->Stop();
  for (auto& t : threads_) t.join();
}

EventLoop& IoPool::Next() {
  return *loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
}

std::uint64_t IoPool::ThreadCpuMicros() const {
  std::uint64_t total = 0;
  for (const std::thread& t : threads_) {
    clockid_t cid;
    timespec ts{};
    if (pthread_getcpuclockid(const_cast<std::thread&>(t).native_handle(), &cid) == 0 &&
        clock_gettime(cid, &ts) == 0) {
      total += static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000 +
               static_cast<std::uint64_t>(ts.tv_nsec) / 1000;
    }
  }
  return total;
}

namespace {

// A message larger than this ends the connection (what Beast's
// read_message_max was before).
constexpr std::size_t kMaxMessage = 64u << 20;
// The handshake's response header.
constexpr std::size_t kMaxHandshake = 16u << 10;
// The read buffer starts here and doubles, up to kMaxReadChunk, whenever a
// read fills it (or to a frame's size when one frame needs more).
constexpr std::size_t kFirstReadBuffer = 8u << 10;
constexpr std::size_t kMaxReadChunk = 1u << 20;

beast::error_code Errno() { return beast::error_code(errno, boost::system::system_category()); }

beast::error_code WsError(beast::websocket::error e) {
  return beast::websocket::make_error_code(e);
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view Trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) {
    v.remove_suffix(1);
  }
  return v;
}

// Checks a handshake response header (up to and including the blank line):
// status 101 and the Sec-WebSocket-Accept that `key` asks for.
beast::error_code CheckHandshake(std::string_view header, std::string_view key) {
  const std::size_t eol = header.find("\r\n");
  const std::string_view status = header.substr(0, eol);
  if (!(status.rfind("HTTP/1.1 101", 0) == 0 &&
        (status.size() == 12 || status[12] == ' '))) {
    return WsError(beast::websocket::error::upgrade_declined);
  }
  beast::websocket::detail::sec_ws_accept_type expected;
  beast::websocket::detail::make_sec_ws_accept(expected,
                                               beast::string_view(key.data(), key.size()));
  std::size_t pos = eol + 2;
  while (pos < header.size()) {
    std::size_t end = header.find("\r\n", pos);
    if (end == std::string_view::npos) end = header.size();
    const std::string_view line = header.substr(pos, end - pos);
    constexpr std::string_view kName = "sec-websocket-accept:";
    if (StartsWithNoCase(line, kName)) {
      const std::string_view value = Trim(line.substr(kName.size()));
      return value == std::string_view(expected.data(), expected.size())
                 ? beast::error_code{}
                 : WsError(beast::websocket::error::bad_sec_accept);
    }
    pos = end + 2;
  }
  return WsError(beast::websocket::error::no_sec_accept);
}

}  // namespace

WsConn::WsConn(EventLoop& loop, tcp::endpoint endpoint, Callbacks callbacks)
    : loop_(loop), endpoint_(endpoint), callbacks_(std::move(callbacks)) {}

WsConn::~WsConn() {
  if (fd_ >= 0) ::close(fd_);
}

void WsConn::Start(std::string hello) {
  loop_.Post([self = shared_from_this(), hello = std::move(hello)]() mutable {
    self->hello_ = std::move(hello);
    self->Connect();
  });
}

void WsConn::Post(std::function<void()> fn) { loop_.Post(std::move(fn)); }

void WsConn::Connect() {
  if (close_wanted_) return End({}, "connect");
  fd_ = ::socket(endpoint_.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return End(Errno(), "connect");
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (absl::Status s = loop_.Register(fd_, shared_from_this()); !s.ok()) {
    return End(Errno(), "connect");
  }
  if (::connect(fd_, endpoint_.data(), static_cast<socklen_t>(endpoint_.size())) == 0) {
    return OnConnected();
  }
  if (errno != EINPROGRESS) return End(Errno(), "connect");
  // Writable (edge-triggered, registered above) when the connect is done.
  connecting_ = true;
}

void WsConn::OnReady(std::uint32_t events) {
  if (ended_) return;
  if (connecting_) {
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
    connecting_ = false;
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) return End(beast::error_code(err, boost::system::system_category()), "connect");
    OnConnected();
    if (ended_) return;
  } else if ((events & EPOLLOUT) != 0 && writing_) {
    ContinueWrite();
    if (ended_) return;
  }
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
    if (!ReadAll()) return;
    if (open_ && callbacks_.on_batch_end) {
      callbacks_.on_batch_end(*this);
      if (ended_) return;
    }
    Flush();
  }
}

void WsConn::OnConnected() {
  if (close_wanted_) return End({}, "connect");
  beast::websocket::detail::sec_ws_key_type key;
  beast::websocket::detail::make_sec_ws_key(key);
  key_.assign(key.data(), key.size());
  writing_buf_ = "GET /v1/ws HTTP/1.1\r\nHost: " + endpoint_.address().to_string() + ":" +
                 std::to_string(endpoint_.port()) +
                 "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key_ +
                 "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  writing_off_ = 0;
  writing_ = true;
  in_.resize(kFirstReadBuffer);
  in_len_ = 0;
  ContinueWrite();
}

bool WsConn::ReadAll() {
  for (;;) {
    if (in_len_ == in_.size()) in_.resize(2 * in_.size() + kFirstReadBuffer);
    const std::size_t room = in_.size() - in_len_;
    const ssize_t n = ::recv(fd_, in_.data() + in_len_, room, 0);
    if (n > 0) {
      const std::size_t got = static_cast<std::size_t>(n);
      in_len_ += got;
      if (!OnBytes()) return false;
      if (got < room) return true;  // a short read: the socket is empty
      // The read filled the buffer: more is probably waiting; read more at
      // once from now on.
      if (open_ && in_.size() < kMaxReadChunk) {
        in_.resize(std::min(2 * in_.size(), kMaxReadChunk));
      }
      continue;
    }
    if (n == 0) {
      // The server's FIN. A close this side started may see it after its
      // close frame; before the handshake or open, it is an error.
      if (closing_) {
        End({}, "close");
      } else {
        End(net::error::eof, open_ ? "read" : "handshake");
      }
      return false;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    const beast::error_code ec = Errno();
    if (closing_) {
      End({}, "close");
    } else {
      End(ec, open_ ? "read" : "handshake");
    }
    return false;
  }
}

bool WsConn::OnBytes() {
  if (open_) return DispatchFrames();
  return OnHandshakeBytes();
}

bool WsConn::OnHandshakeBytes() {
  if (!handshake_sent_) {
    // Bytes before our request was written whole: not a server's answer.
    End(WsError(beast::websocket::error::upgrade_declined), "handshake");
    return false;
  }
  const std::string_view got(in_.data(), in_len_);
  const std::size_t blank = got.find("\r\n\r\n");
  if (blank == std::string_view::npos) {
    if (in_len_ >= kMaxHandshake) {
      End(WsError(beast::websocket::error::buffer_overflow), "handshake");
      return false;
    }
    return true;
  }
  const std::size_t header_len = blank + 4;
  if (beast::error_code bad = CheckHandshake(got.substr(0, header_len), key_)) {
    End(bad, "handshake");
    return false;
  }
  // Whatever came after the header is the first frames' bytes.
  std::memmove(in_.data(), in_.data() + header_len, in_len_ - header_len);
  in_len_ -= header_len;
  OnHandshake();
  return !ended_;
}

void WsConn::OnHandshake() {
  open_ = true;
  hello_at_ = SteadyClock::now();
  // hello goes first, before anything sent during the handshake.
  std::string first;
  AppendClientFrame(first, WsOp::text, hello_, NextMask());
  first += out_;
  out_.swap(first);
  hello_.clear();
  hello_.shrink_to_fit();
  // Frames that came with the handshake's answer; the write at the turn's end.
  DispatchFrames();
  if (!ended_) Flush();
}

bool WsConn::DispatchFrames() {
  std::size_t pos = 0;
  bool alive = true;
  while (alive && !ended_) {
    WsFrameHeader h;
    const char* why = nullptr;
    const std::string_view rest(in_.data() + pos, in_len_ - pos);
    const WsHeaderResult r = ParseServerFrameHeader(rest, h, &why);
    if (r == WsHeaderResult::kNeedMore) break;
    if (r == WsHeaderResult::kInvalid) {
      End(WsError(beast::websocket::error::bad_data_frame), why);
      return false;
    }
    if (h.payload_len > kMaxMessage) {
      End(WsError(beast::websocket::error::message_too_big), "read");
      return false;
    }
    const std::size_t total = h.header_len + static_cast<std::size_t>(h.payload_len);
    if (rest.size() < total) {
      // Make room for the whole frame (after the compaction below).
      if (total > in_.size()) in_.resize(total);
      break;
    }
    char* payload = in_.data() + pos + h.header_len;
    const std::size_t len = static_cast<std::size_t>(h.payload_len);
    pos += total;
    switch (h.op) {
      case WsOp::text:
      case WsOp::binary:
        if (in_fragmented_) {
          End(WsError(beast::websocket::error::bad_data_frame),
              "read: a new message inside a fragmented one");
          return false;
        }
        if (!h.fin) {
          fragments_.assign(payload, len);
          in_fragmented_ = true;
        } else {
          alive = OnMessage(payload, len);
        }
        break;
      case WsOp::cont:
        if (!in_fragmented_) {
          End(WsError(beast::websocket::error::bad_continuation), "read");
          return false;
        }
        if (fragments_.size() + len > kMaxMessage) {
          End(WsError(beast::websocket::error::message_too_big), "read");
          return false;
        }
        fragments_.append(payload, len);
        if (h.fin) {
          in_fragmented_ = false;
          alive = OnMessage(fragments_.data(), fragments_.size());
          fragments_.clear();
        }
        break;
      case WsOp::ping:
        if (!closing_) {
          AppendClientFrame(out_, WsOp::pong, std::string_view(payload, len), NextMask());
        }
        break;
      case WsOp::pong:
        break;
      case WsOp::close:
        // The server's close: the answer to ours, or its own (an error here).
        if (closing_) {
          End({}, "close");
        } else {
          End(WsError(beast::websocket::error::closed), "read");
        }
        return false;
      default:  // reserved opcodes: ParseServerFrameHeader refused them
        End(WsError(beast::websocket::error::bad_opcode), "read");
        return false;
    }
  }
  if (ended_) return false;
  if (pos > 0) {
    std::memmove(in_.data(), in_.data() + pos, in_len_ - pos);
    in_len_ -= pos;
  }
  return alive;
}

bool WsConn::OnMessage(char* data, std::size_t len) {
  // In place: the byte after the payload (the next frame's first, or the
  // string's terminator) is '\0' for the parse and restored after.
  const char saved = data[len];
  data[len] = '\0';
  InFrame frame;
  if (ParseServerFrameInPlace(data, len, frame) && callbacks_.on_frame && !ended_) {
    callbacks_.on_frame(*this, frame);
  }
  data[len] = saved;
  return !ended_;
}

void WsConn::Send(std::string_view frame) {
  if (ended_ || closing_) return;
  AppendClientFrame(out_, WsOp::text, frame, NextMask());
  Flush();
}

void WsConn::Ack(std::uint64_t seq) {
  if (seq <= ack_wanted_) return;
  ack_wanted_ = seq;
  Flush();
}

void WsConn::Flush() {
  if (ended_ || writing_ || !open_ || fd_ < 0) return;
  loop_.WantFlush(this);
}

void WsConn::OnFlush() {
  if (ended_ || writing_ || !open_) return;
  if (!closing_) {
    if (ack_wanted_ > ack_sent_) {
      char ack[48] = "{\"op\":\"ack\",\"seq\":";
      char* p = ack + std::strlen(ack);
      p = std::to_chars(p, ack + sizeof(ack) - 1, ack_wanted_).ptr;
      *p++ = '}';
      AppendClientFrame(out_, WsOp::text, std::string_view(ack, static_cast<std::size_t>(p - ack)),
                        NextMask());
      ack_in_flight_ = ack_wanted_;
      ack_sent_ = ack_wanted_;
    }
    if (close_wanted_) {
      // 1000, normal closure, after everything queued.
      const char code[2] = {static_cast<char>(1000 >> 8), static_cast<char>(1000 & 0xFF)};
      AppendClientFrame(out_, WsOp::close, std::string_view(code, 2), NextMask());
      closing_ = true;
    }
  }
  if (out_.empty()) return;
  writing_buf_.swap(out_);
  out_.clear();
  writing_off_ = 0;
  writing_ = true;
  ContinueWrite();
}

void WsConn::ContinueWrite() {
  while (writing_off_ < writing_buf_.size()) {
    const ssize_t n = ::send(fd_, writing_buf_.data() + writing_off_,
                             writing_buf_.size() - writing_off_, MSG_NOSIGNAL);
    if (n > 0) {
      writing_off_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // EPOLLOUT goes on
    return End(Errno(), open_ ? "write" : "handshake");
  }
  writing_ = false;
  writing_buf_.clear();
  if (!handshake_sent_) {
    handshake_sent_ = true;  // the answer is read as it comes (OnReady)
    return;
  }
  if (ack_in_flight_ != 0 && callbacks_.on_ack_written) {
    callbacks_.on_ack_written(*this, ack_in_flight_);
  }
  ack_in_flight_ = 0;
  // What was queued while this write waited goes next.
  if (!out_.empty() || ack_wanted_ > ack_sent_ || (close_wanted_ && !closing_)) Flush();
}

void WsConn::Close() {
  loop_.Post([self = shared_from_this()] {
    if (self->ended_ || self->close_wanted_) return;
    self->close_wanted_ = true;
    // Not open yet: connecting or in the handshake, drop the socket now (not
    // started yet: Connect sees close_wanted_).
    if (!self->open_ && self->fd_ >= 0) {
      return self->End({}, self->connecting_ ? "connect" : "handshake");
    }
    self->Flush();
  });
}

void WsConn::End(beast::error_code ec, std::string_view where) {
  if (ended_) return;
  ended_ = true;
  open_ = false;
  connecting_ = false;
  out_.clear();
  if (close_wanted_ && ec) ec = {};  // we asked for the end
  if (fd_ >= 0) {
    ::close(fd_);  // leaves the epoll set
    fd_ = -1;
    loop_.Unregister(this);
  }
  if (callbacks_.on_end) callbacks_.on_end(*this, ec, where);
  // Drop the callbacks (they may hold the owner) once nothing can call them.
  callbacks_ = Callbacks{};
}

std::optional<tcp::endpoint> ParseEndpoint(const std::string& host_port) {
  std::size_t colon = host_port.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = host_port.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  beast::error_code ec;
  net::ip::address address = net::ip::make_address(host, ec);
  if (ec) return std::nullopt;
  unsigned long port = 0;
  try {
    port = std::stoul(host_port.substr(colon + 1));
  } catch (...) {
    return std::nullopt;
  }
  if (port == 0 || port > 65535) return std::nullopt;
  return tcp::endpoint(address, static_cast<unsigned short>(port));
}

}  // namespace courier::load
