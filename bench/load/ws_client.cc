// ws_client.cc: the load generator's WebSocket client.
#include "ws_client.h"

#include <pthread.h>
#include <time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/websocket.hpp>

#include "rapidjson/document.h"

namespace courier::load {
namespace {

std::string_view Str(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

std::uint64_t U64(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsUint64()) return 0;
  return it->value.GetUint64();
}

}  // namespace

bool ParseServerFrame(std::string_view json, InFrame& out) {
  thread_local rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) return false;
  const std::string_view op = Str(doc, "op");
  out = InFrame{};
  if (op == "msg") {
    out.op = InFrame::Op::kMsg;
    out.seq = U64(doc, "seq");
    out.id = Str(doc, "id");
    out.from = Str(doc, "from");
    out.body = Str(doc, "body");
  } else if (op == "receipt") {
    out.op = InFrame::Op::kReceipt;
    out.seq = U64(doc, "seq");
    out.id = Str(doc, "id");
  } else if (op == "sent") {
    out.op = InFrame::Op::kSent;
    out.cid = Str(doc, "cid");
    out.id = Str(doc, "id");
    auto it = doc.FindMember("dup");
    out.dup = it != doc.MemberEnd() && it->value.IsBool() && it->value.GetBool();
  } else if (op == "welcome") {
    out.op = InFrame::Op::kWelcome;
    out.cursor = U64(doc, "cursor");
    out.head = U64(doc, "head");
  } else if (op == "synced") {
    out.op = InFrame::Op::kSynced;
    out.seq = U64(doc, "seq");
  } else if (op == "presence") {
    out.op = InFrame::Op::kPresence;
  } else if (op == "pong") {
    out.op = InFrame::Op::kPong;
  } else if (op == "error") {
    out.op = InFrame::Op::kError;
    out.code = Str(doc, "code");
    out.message = Str(doc, "message");
    out.cid = Str(doc, "cid");
  } else if (op.empty()) {
    return false;
  }
  return true;
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

WsConn::WsConn(net::io_context& io, tcp::endpoint endpoint, Callbacks callbacks)
    : io_(io), endpoint_(endpoint), callbacks_(std::move(callbacks)), ws_(io) {}

void WsConn::Start(std::string hello) {
  net::post(io_, [self = shared_from_this(), hello = std::move(hello)]() mutable {
    self->hello_ = std::move(hello);
    self->ws_.next_layer().async_connect(
        self->endpoint_, beast::bind_front_handler(&WsConn::OnConnect, self));
  });
}

void WsConn::Post(std::function<void()> fn) { net::post(io_, std::move(fn)); }

void WsConn::OnConnect(beast::error_code ec) {
  if (ec) return End(ec, "connect");
  beast::error_code ignored;
  ws_.next_layer().set_option(tcp::no_delay(true), ignored);
  ws_.set_option(beast::websocket::stream_base::timeout::suggested(beast::role_type::client));
  ws_.read_message_max(64u << 20);
  ws_.auto_fragment(false);
  ws_.async_handshake(endpoint_.address().to_string() + ":" + std::to_string(endpoint_.port()),
                      "/v1/ws", beast::bind_front_handler(&WsConn::OnHandshake, shared_from_this()));
}

void WsConn::OnHandshake(beast::error_code ec) {
  if (ec) return End(ec, "handshake");
  open_ = true;
  hello_at_ = SteadyClock::now();
  queue_.push_front(std::move(hello_));
  MaybeWrite();
  DoRead();
}

void WsConn::DoRead() {
  ws_.async_read(buffer_, beast::bind_front_handler(&WsConn::OnRead, shared_from_this()));
}

void WsConn::OnRead(beast::error_code ec, std::size_t) {
  if (ec) {
    // A close this side started completes its read with `closed`.
    if (closing_ && ec == beast::websocket::error::closed) return End({}, "close");
    return End(ec, "read");
  }
  InFrame frame;
  std::string_view text(static_cast<const char*>(buffer_.cdata().data()), buffer_.size());
  if (ParseServerFrame(text, frame) && callbacks_.on_frame && !ended_) {
    callbacks_.on_frame(*this, frame);
  }
  buffer_.consume(buffer_.size());
  if (!ended_) DoRead();
}

void WsConn::Send(std::string frame) {
  if (ended_ || closing_) return;
  queue_.push_back(std::move(frame));
  if (open_) MaybeWrite();
}

void WsConn::Ack(std::uint64_t seq) {
  if (seq <= ack_wanted_) return;
  ack_wanted_ = seq;
  if (open_) MaybeWrite();
}

void WsConn::MaybeWrite() {
  if (writing_ || ended_ || closing_) return;
  if (!queue_.empty()) {
    writing_frame_ = std::move(queue_.front());
    queue_.pop_front();
    ack_in_flight_ = 0;
  } else if (ack_wanted_ > ack_sent_) {
    writing_frame_ = "{\"op\":\"ack\",\"seq\":" + std::to_string(ack_wanted_) + "}";
    ack_in_flight_ = ack_wanted_;
    ack_sent_ = ack_wanted_;
  } else {
    if (close_wanted_) DoClose();
    return;
  }
  writing_ = true;
  ws_.text(true);
  ws_.async_write(net::buffer(writing_frame_),
                  beast::bind_front_handler(&WsConn::OnWrite, shared_from_this()));
}

void WsConn::OnWrite(beast::error_code ec, std::size_t) {
  writing_ = false;
  if (ec) return End(ec, "write");
  if (ack_in_flight_ != 0 && callbacks_.on_ack_written) {
    callbacks_.on_ack_written(*this, ack_in_flight_);
  }
  ack_in_flight_ = 0;
  MaybeWrite();
}

void WsConn::Close() {
  net::post(io_, [self = shared_from_this()] {
    if (self->ended_ || self->close_wanted_) return;
    self->close_wanted_ = true;
    if (!self->open_) {
      // Not connected yet: drop the socket; the pending operation ends it.
      beast::error_code ignored;
      self->ws_.next_layer().close(ignored);
      return;
    }
    if (!self->writing_) self->MaybeWrite();
  });
}

void WsConn::DoClose() {
  if (closing_ || ended_) return;
  closing_ = true;
  ws_.async_close(beast::websocket::close_code::normal,
                  [self = shared_from_this()](beast::error_code ec) {
                    if (ec) self->End(ec, "close");
                    // Otherwise the pending read completes with `closed`.
                  });
}

void WsConn::End(beast::error_code ec, std::string_view where) {
  if (ended_) return;
  ended_ = true;
  open_ = false;
  queue_.clear();
  if (close_wanted_ && ec) ec = {};  // we asked for the end
  beast::error_code ignored;
  ws_.next_layer().close(ignored);
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
