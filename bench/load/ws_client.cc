// ws_client.cc: the load generator's WebSocket client.
#include "ws_client.h"

#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket/detail/hybi13.hpp>
#include <boost/beast/websocket/error.hpp>

#include "rapidjson/document.h"
#include "ws_frame.h"

namespace courier::load {
namespace {

// A parse allocates nothing on the heap for a frame of ours: the values live
// in a buffer on the stack, the strings stay where they are in the frame.
using FrameDoc = rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>,
                                            rapidjson::MemoryPoolAllocator<>>;

std::string_view Str(const rapidjson::Value& v) {
  return v.IsString() ? std::string_view(v.GetString(), v.GetStringLength()) : std::string_view();
}

std::uint64_t U64(const rapidjson::Value& v) { return v.IsUint64() ? v.GetUint64() : 0; }

}  // namespace

bool ParseServerFrameInPlace(char* json, std::size_t len, InFrame& out) {
  alignas(8) char value_buffer[2048];
  alignas(8) char stack_buffer[512];
  rapidjson::MemoryPoolAllocator<> value_alloc(value_buffer, sizeof(value_buffer));
  rapidjson::MemoryPoolAllocator<> stack_alloc(stack_buffer, sizeof(stack_buffer));
  FrameDoc doc(&value_alloc, sizeof(stack_buffer), &stack_alloc);
  (void)len;  // the parse stops at json[len], the '\0' the caller put there
  doc.ParseInsitu(json);
  if (doc.HasParseError() || !doc.IsObject()) return false;
  // One pass over the members; the op decides below which of them count.
  const rapidjson::Value* fields[11] = {};
  enum { kOp, kSeq, kId, kFrom, kBody, kCid, kDup, kCursor, kHead, kCode, kMessage };
  static constexpr std::string_view kNames[11] = {"op",  "seq",    "id",   "from", "body",   "cid",
                                                  "dup", "cursor", "head", "code", "message"};
  for (const auto& m : doc.GetObject()) {
    const std::string_view key(m.name.GetString(), m.name.GetStringLength());
    for (int i = 0; i < 11; ++i) {
      // The first of a repeated key wins, as FindMember would find it.
      if (key == kNames[i]) {
        if (fields[i] == nullptr) fields[i] = &m.value;
        break;
      }
    }
  }
  static const rapidjson::Value kNull;
  auto f = [&](int i) -> const rapidjson::Value& { return fields[i] ? *fields[i] : kNull; };
  const std::string_view op = Str(f(kOp));
  out = InFrame{};
  if (op == "msg") {
    out.op = InFrame::Op::kMsg;
    out.seq = U64(f(kSeq));
    out.id = Str(f(kId));
    out.from = Str(f(kFrom));
    out.body = Str(f(kBody));
  } else if (op == "receipt") {
    out.op = InFrame::Op::kReceipt;
    out.seq = U64(f(kSeq));
    out.id = Str(f(kId));
  } else if (op == "sent") {
    out.op = InFrame::Op::kSent;
    out.cid = Str(f(kCid));
    out.id = Str(f(kId));
    out.dup = f(kDup).IsBool() && f(kDup).GetBool();
  } else if (op == "welcome") {
    out.op = InFrame::Op::kWelcome;
    out.cursor = U64(f(kCursor));
    out.head = U64(f(kHead));
  } else if (op == "synced") {
    out.op = InFrame::Op::kSynced;
    out.seq = U64(f(kSeq));
  } else if (op == "presence") {
    out.op = InFrame::Op::kPresence;
  } else if (op == "pong") {
    out.op = InFrame::Op::kPong;
  } else if (op == "error") {
    out.op = InFrame::Op::kError;
    out.code = Str(f(kCode));
    out.message = Str(f(kMessage));
    out.cid = Str(f(kCid));
  } else if (op.empty()) {
    return false;
  }
  return true;
}

bool ParseServerFrame(std::string_view json, InFrame& out) {
  thread_local std::string copy;
  copy.assign(json.data(), json.size());
  return ParseServerFrameInPlace(copy.data(), copy.size(), out);
}

IoPool::IoPool(std::size_t threads) {
  if (threads == 0) threads = 1;
  for (std::size_t i = 0; i < threads; ++i) {
    contexts_.push_back(std::make_unique<net::io_context>(1));
    guards_.push_back(net::make_work_guard(*contexts_.back()));
  }
  for (std::size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([io = contexts_[i].get()] { io->run(); });
  }
}

IoPool::~IoPool() {
  guards_.clear();
  for (auto& io : contexts_) io->stop();
  for (auto& t : threads_) t.join();
}

net::io_context& IoPool::Next() {
  return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
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

WsConn::WsConn(net::io_context& io, tcp::endpoint endpoint, Callbacks callbacks)
    : io_(io), endpoint_(endpoint), callbacks_(std::move(callbacks)), socket_(io) {}

void WsConn::Start(std::string hello) {
  net::post(io_, [self = shared_from_this(), hello = std::move(hello)]() mutable {
    self->hello_ = std::move(hello);
    self->socket_.async_connect(self->endpoint_,
                                [self](beast::error_code ec) { self->OnConnect(ec); });
  });
}

void WsConn::Post(std::function<void()> fn) { net::post(io_, std::move(fn)); }

void WsConn::OnConnect(beast::error_code ec) {
  if (ec) return End(ec, "connect");
  if (close_wanted_) return End({}, "connect");
  beast::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  beast::websocket::detail::sec_ws_key_type key;
  beast::websocket::detail::make_sec_ws_key(key);
  key_.assign(key.data(), key.size());
  writing_buf_ = "GET /v1/ws HTTP/1.1\r\nHost: " + endpoint_.address().to_string() + ":" +
                 std::to_string(endpoint_.port()) +
                 "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key_ +
                 "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  net::async_write(socket_, net::buffer(writing_buf_),
                   [self = shared_from_this()](beast::error_code e, std::size_t) {
                     self->OnHandshakeWritten(e);
                   });
}

void WsConn::OnHandshakeWritten(beast::error_code ec) {
  if (ec) return End(ec, "handshake");
  in_.resize(kFirstReadBuffer);
  in_len_ = 0;
  ReadHandshake();
}

void WsConn::ReadHandshake() {
  socket_.async_read_some(net::buffer(in_.data() + in_len_, in_.size() - in_len_),
                          [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                            self->OnHandshakeRead(ec, n);
                          });
}

void WsConn::OnHandshakeRead(beast::error_code ec, std::size_t bytes) {
  if (ec) return End(ec, "handshake");
  in_len_ += bytes;
  const std::string_view got(in_.data(), in_len_);
  const std::size_t blank = got.find("\r\n\r\n");
  if (blank == std::string_view::npos) {
    if (in_len_ >= kMaxHandshake) {
      return End(WsError(beast::websocket::error::buffer_overflow), "handshake");
    }
    if (in_len_ == in_.size()) in_.resize(std::min(2 * in_.size(), kMaxHandshake));
    return ReadHandshake();
  }
  const std::size_t header_len = blank + 4;
  if (beast::error_code bad = CheckHandshake(got.substr(0, header_len), key_)) {
    return End(bad, "handshake");
  }
  // Whatever came after the header is the first frames' bytes.
  std::memmove(in_.data(), in_.data() + header_len, in_len_ - header_len);
  in_len_ -= header_len;
  writing_buf_.clear();
  OnHandshake();
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
  if (close_wanted_) {
    Flush();
    if (ended_) return;
  }
  // Frames that came with the handshake's answer, then the read loop.
  in_batch_ = true;
  const bool alive = DispatchFrames();
  in_batch_ = false;
  if (!alive) return;
  Flush();
  DoRead();
}

void WsConn::DoRead() {
  if (in_len_ == in_.size()) in_.resize(2 * in_.size() + kFirstReadBuffer);
  socket_.async_read_some(net::buffer(in_.data() + in_len_, in_.size() - in_len_),
                          [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                            self->OnRead(ec, n);
                          });
}

void WsConn::OnRead(beast::error_code ec, std::size_t bytes) {
  if (ended_) return;
  if (ec) {
    // A close this side started may see the server's FIN after its close frame.
    if (closing_) return End({}, "close");
    return End(ec, "read");
  }
  const bool filled = in_len_ + bytes == in_.size();
  in_len_ += bytes;
  in_batch_ = true;
  const bool alive = DispatchFrames();
  in_batch_ = false;
  if (!alive) return;
  // The read filled the buffer: more was probably waiting; read more at once
  // next time.
  if (filled && in_.size() < kMaxReadChunk) in_.resize(std::min(2 * in_.size(), kMaxReadChunk));
  Flush();
  if (!ended_) DoRead();
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
  if (ended_ || writing_ || in_batch_ || !open_) return;
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
  writing_ = true;
  net::async_write(socket_, net::buffer(writing_buf_),
                   [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                     self->OnWrite(ec, n);
                   });
}

void WsConn::OnWrite(beast::error_code ec, std::size_t) {
  writing_ = false;
  if (ended_) return;
  if (ec) return End(ec, "write");
  if (ack_in_flight_ != 0 && callbacks_.on_ack_written) {
    callbacks_.on_ack_written(*this, ack_in_flight_);
  }
  ack_in_flight_ = 0;
  Flush();
}

void WsConn::Close() {
  net::post(io_, [self = shared_from_this()] {
    if (self->ended_ || self->close_wanted_) return;
    self->close_wanted_ = true;
    if (!self->open_) {
      // Not connected yet: drop the socket; the pending operation ends it.
      beast::error_code ignored;
      self->socket_.close(ignored);
      return;
    }
    self->Flush();
  });
}

void WsConn::End(beast::error_code ec, std::string_view where) {
  if (ended_) return;
  ended_ = true;
  open_ = false;
  out_.clear();
  if (close_wanted_ && ec) ec = {};  // we asked for the end
  beast::error_code ignored;
  socket_.close(ignored);
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
