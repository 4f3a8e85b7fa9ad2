// websocket_session.h (private): one WebSocket connection, plain or TLS.
//
// Drives the states of courier/websocket/server.h: awaiting hello, open,
// closed. Every handler runs on the connection's strand; the engine reaches
// the connection only through its Transport (outbox.h), which posts.
//
// Async operations in flight at most: one read, one write (the queue head),
// one close and one timer wait (the guard that drops TCP when the opening or
// closing handshake stalls, or the deadline: hello, then idle). The session is kept
// alive by its pending handlers (shared_from_this); when the last one
// finishes it is destroyed, and Session::Disconnect() has been called.
//
// Memory: an idle connection holds no heap buffer of its own (the write
//   queue is given back whenever it empties, the read buffer after each
//   frame unless a big frame made it big); what stays is Beast's stream
//   state (2.5 KB, of which 1.5 KB is its fixed frame buffer), the socket,
//   one pending read (128-byte buffer) and one pending timer wait. Stream is
//   the WebSocket's next layer: a bare tcp::socket for plain connections
//   (not tcp_stream: its timers are unused here), ssl_stream for TLS.
//
// Thread-safety: PostFrames / PostClose from any thread; everything else on
//   the strand.
// Blocking: nothing blocks; the Authenticator runs inline and must not.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_WEBSOCKET_SESSION_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_WEBSOCKET_SESSION_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "absl/container/flat_hash_map.h"
#include "courier/websocket/frame_codec.h"
#include "frame_queue.h"
#include "outbox.h"
#include "server_context.h"

namespace courier::websocket::internal {

namespace beast = boost::beast;
namespace net = boost::asio;

// A close reason fits in a control frame (123 bytes); cut at a character.
std::string CloseReason(std::string_view reason);

// The close code for an Engine::Connect error.
std::uint16_t ConnectErrorCloseCode(const absl::Status& status);

template <class Stream>
class WebSocketSession final : public Outbox,
                               public std::enable_shared_from_this<WebSocketSession<Stream>> {
 public:
  using Clock = std::chrono::steady_clock;

  static constexpr bool kPlain = std::is_same_v<Stream, net::ip::tcp::socket>;

  WebSocketSession(ServerContext& ctx, Stream&& stream)
      : ctx_(ctx), ws_(std::move(stream)), strand_(ws_.get_executor()), timer_(strand_) {
    ctx_.counters.websockets_open.fetch_add(1, std::memory_order_relaxed);
    ctx_.counters.websockets_total.fetch_add(1, std::memory_order_relaxed);
  }

  ~WebSocketSession() override {
    Finish();
    ctx_.counters.websockets_open.fetch_sub(1, std::memory_order_relaxed);
  }

  // Completes the upgrade of `request` and starts reading.
  void Run(beast::http::request<beast::http::string_body> request) {
    namespace ws = beast::websocket;
    if constexpr (!kPlain) beast::get_lowest_layer(ws_).expires_never();
    // Beast's own websocket timeouts stay off: in Boost 1.74 a timeout that
    // fires while a read waits behind a close trips an assertion (beast
    // issue 2264). Our timers bound the handshake, the close and idleness.
    ws::stream_base::timeout timeout{};
    timeout.handshake_timeout = ws::stream_base::none();
    timeout.idle_timeout = ws::stream_base::none();
    timeout.keep_alive_pings = false;
    ws_.set_option(timeout);
    ws_.set_option(ws::stream_base::decorator(
        [](ws::response_type& res) { res.set(beast::http::field::server, "courier"); }));
    // The frame limit is enforced in OnRead, so that an oversized frame is
    // answered by a close handshake that drains it (Beast's own limit tears
    // the TCP connection down at once, and the peer may never read the 1009).
    ws_.read_message_max(0);
    ws_.auto_fragment(false);
    ArmGuard(ctx_.options.http_timeout);
    ws_.async_accept(request,
                     beast::bind_front_handler(&WebSocketSession::OnAccept, this->shared_from_this()));
  }

  void PostFrames(std::vector<OutFrame> frames) override {
    net::post(strand_, [self = this->shared_from_this(), frames = std::move(frames)]() mutable {
      for (OutFrame& f : frames) self->Enqueue(std::move(f));
    });
  }

  void PostClose(std::uint16_t code, std::string reason) override {
    net::post(strand_, [self = this->shared_from_this(), code, reason = std::move(reason)] {
      self->BeginClose(code, reason, /*drain=*/true);
    });
  }

 private:
  enum class Phase { kAccepting, kHello, kOpen };

  void OnAccept(beast::error_code ec) {
    CancelTimer();
    if (ec) {
      Finish();
      return;
    }
    phase_ = Phase::kHello;
    last_frame_ = Clock::now();
    ArmDeadline(last_frame_ + ctx_.options.hello_timeout);
    DoRead();
  }

  // --- reading

  // A message's first read appends at most kFirstReadChunk bytes, so that an
  // idle connection's pending read holds a small buffer, not Beast's
  // default 1.5 KB; the rest of a longer message is read in big chunks.
  // (Beast reads the socket into its own frame buffer and copies the
  // payload out: a frame over 128 bytes costs one more read completion,
  // usually without another system call.)
  void DoRead() {
    ws_.async_read_some(buffer_, buffer_.size() == 0 ? kFirstReadChunk : kReadChunk,
                        beast::bind_front_handler(&WebSocketSession::OnRead,
                                                  this->shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t bytes) {
    // Errors: the peer closed, the connection broke, or our own close
    // completed. Finished already (a write failed while this read's
    // completion was queued): the session is gone, drop the frame.
    if (ec || finished_) {
      Finish();
      return;
    }
    ctx_.counters.bytes_in.fetch_add(bytes, std::memory_order_relaxed);
    if (buffer_.size() > ctx_.options.max_frame_bytes) {
      BeginClose(static_cast<std::uint16_t>(CloseCode::kTooBig), "frame over the size limit",
                 /*drain=*/false);
      return;  // the close handshake reads and drops the rest
    }
    if (!ws_.is_message_done()) {
      DoRead();
      return;
    }
    ctx_.counters.frames_in.fetch_add(1, std::memory_order_relaxed);
    last_frame_ = Clock::now();
    if (!closing_) {
      std::string_view text(static_cast<const char*>(buffer_.cdata().data()), buffer_.size());
      if (phase_ == Phase::kHello) {
        HandleHello(text);
      } else {
        HandleFrame(text);
      }
    }
    buffer_.consume(buffer_.size());
    // A small buffer (the usual frame) is given back, so that an idle
    // connection holds none; a big one is kept for the next big frame
    // (freeing and re-allocating 16-64 KiB per frame fragments the heap).
    if (buffer_.capacity() <= kKeepReadBufferOver) buffer_.shrink_to_fit();  // empty: frees it
    // Once closing, Beast's close operation reads (and drops) the frames
    // until the peer's close frame; a read started now would collide with it.
    if (!closing_) DoRead();
  }

  void HandleHello(std::string_view text) {
    absl::StatusOr<ClientFrame> frame =
        ws_.got_text() ? DecodeClientFrame(text, ctx_.options.codec)
                       : absl::StatusOr<ClientFrame>(absl::InvalidArgumentError("binary frame"));
    const HelloFrame* hello = frame.ok() ? std::get_if<HelloFrame>(&*frame) : nullptr;
    if (hello == nullptr) {
      FailHello(4401, "the first frame must be a valid hello");
      return;
    }
    absl::StatusOr<UserId> user = ctx_.hooks.authenticate(hello->token);
    if (!user.ok()) {
      FailHello(4401, "bad or expired token");
      return;
    }
    transport_ = MakeWebSocketTransport(std::weak_ptr<Outbox>(this->shared_from_this()));
    absl::StatusOr<std::shared_ptr<Session>> session =
        ctx_.hooks.engine->Connect(*user, hello->device, hello->since, transport_);
    if (!session.ok()) {
      transport_.reset();
      FailHello(ConnectErrorCloseCode(session.status()), std::string(session.status().message()));
      return;
    }
    session_ = *std::move(session);
    phase_ = Phase::kOpen;
  }

  void FailHello(std::uint16_t code, std::string_view reason) {
    ctx_.counters.hello_failures.fetch_add(1, std::memory_order_relaxed);
    BeginClose(code, reason, /*drain=*/true);
  }

  void HandleFrame(std::string_view text) {
    if (!ws_.got_text()) {
      AnswerError(absl::InvalidArgumentError("frames are JSON text, not binary"));
      return;
    }
    absl::StatusOr<ClientFrame> frame = DecodeClientFrame(text, ctx_.options.codec);
    if (!frame.ok()) {
      AnswerError(frame.status());
      return;
    }
    if (auto* send = std::get_if<SendFrame>(&*frame)) {
      if (send_started_.size() < kMaxTimedSends) send_started_.emplace(send->cid, Clock::now());
      session_->Send(std::move(send->cid), std::move(send->to), std::move(send->body));
    } else if (auto* ack = std::get_if<AckFrame>(&*frame)) {
      session_->Ack(ack->seq);
    } else if (auto* read = std::get_if<ReadFrame>(&*frame)) {
      session_->Read(std::move(read->ids));
    } else if (std::holds_alternative<PingFrame>(*frame)) {
      Enqueue(OutFrame{EncodePong(), {}});
    } else {
      AnswerError(absl::InvalidArgumentError("hello was already accepted on this connection"));
    }
  }

  void AnswerError(const absl::Status& status) {
    ctx_.counters.bad_frames.fetch_add(1, std::memory_order_relaxed);
    ErrorFrame error = ToErrorFrame(status);
    std::string cid = error.cid;
    Enqueue(OutFrame{EncodeServerFrame(error), std::move(cid)});
  }

  // --- writing: one async_write in flight, the rest queued in order.

  void Enqueue(OutFrame frame) {
    if (closing_ || finished_) return;
    if (!frame.answers_cid.empty()) {
      if (auto it = send_started_.find(frame.answers_cid); it != send_started_.end()) {
        ctx_.counters.send_latency.Observe(Clock::now() - it->second);
        send_started_.erase(it);
        // An erased table keeps its slots: give them back when none is left.
        if (send_started_.empty()) decltype(send_started_)().swap(send_started_);
      }
    }
    queued_bytes_ += frame.json.size();
    queue_.push_back(std::move(frame.json));
    if (queued_bytes_ > ctx_.options.max_queue_bytes ||
        queue_.size() + (writing_ ? 1u : 0u) > ctx_.options.max_queue_frames) {
      ctx_.counters.slow_closes.fetch_add(1, std::memory_order_relaxed);
      BeginClose(1008, "send queue over its limit: the client does not read", /*drain=*/false);
      return;
    }
    if (!writing_) DoWrite();
  }

  void DoWrite() {
    writing_ = true;
    // The frame in flight leaves the queue: its bytes must not move while
    // the queue grows (a short string lives inside its std::string).
    in_flight_ = std::move(queue_.front());
    queue_.pop_front();
    // More frames behind this one: hold the bytes in the kernel until the
    // queue is empty, so that a burst (a drain page) leaves in a few TCP
    // segments instead of one per frame. Uncorked as soon as the queue
    // empties, so a lone frame is never delayed.
    if (!queue_.empty()) Cork(true);
    ws_.text(true);
    ws_.async_write(net::buffer(in_flight_),
                    beast::bind_front_handler(&WebSocketSession::OnWrite, this->shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t bytes) {
    writing_ = false;
    if (ec) {
      Finish();
      return;
    }
    ctx_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
    ctx_.counters.bytes_out.fetch_add(bytes, std::memory_order_relaxed);
    queued_bytes_ -= in_flight_.size();
    std::string().swap(in_flight_);
    if (!queue_.empty()) {
      DoWrite();
      return;
    }
    Cork(false);
    if (close_pending_) DoClose();
  }

  // TCP_CORK on the connection's socket (Linux; elsewhere a no-op).
  void Cork(bool on) {
#if defined(TCP_CORK)
    if (corked_ == on) return;
    corked_ = on;
    const int value = on ? 1 : 0;
    ::setsockopt(Socket().native_handle(), IPPROTO_TCP, TCP_CORK, &value, sizeof value);
#else
    (void)on;
#endif
  }

  // --- closing

  // Closes with `code` once the queue is written (drain) or after the write
  // in flight (no drain). A close that does not finish within close_timeout
  // drops the TCP connection.
  void BeginClose(std::uint16_t code, std::string_view reason, bool drain) {
    if (closing_ || finished_) return;
    closing_ = true;
    close_code_ = code;
    close_reason_ = CloseReason(reason);
    if (!drain) {
      while (!queue_.empty()) {
        queued_bytes_ -= queue_.back().size();
        queue_.pop_back();
      }
    }
    ArmGuard(ctx_.options.close_timeout);
    if (writing_) {
      close_pending_ = true;
    } else {
      DoClose();
    }
  }

  void DoClose() {
    close_pending_ = false;
    ws_.async_close(beast::websocket::close_reason(
                        static_cast<beast::websocket::close_code>(close_code_), close_reason_),
                    beast::bind_front_handler(&WebSocketSession::OnClose, this->shared_from_this()));
  }

  void OnClose(beast::error_code) {
    CancelTimer();
    Finish();
  }

  // --- one timer, two uses: the guard bounds the opening and the closing
  // handshake (Accepting, then closing), the deadline bounds the wait for
  // hello and idleness (in between). Arming one replaces the other; a wait
  // that completes after it was replaced or cancelled does nothing.

  // Drops the TCP connection unless cancelled within `timeout`.
  void ArmGuard(std::chrono::milliseconds timeout) {
    ArmTimer(Clock::now() + timeout, /*guard=*/true);
  }

  void ArmDeadline(Clock::time_point when) { ArmTimer(when, /*guard=*/false); }

  void ArmTimer(Clock::time_point when, bool guard) {
    const std::uint32_t generation = ++timer_generation_;
    timer_.expires_at(when);
    timer_.async_wait([self = this->shared_from_this(), generation, guard](beast::error_code ec) {
      if (ec || generation != self->timer_generation_) return;
      if (guard) {
        self->DropConnection();
      } else {
        self->OnDeadline();
      }
    });
  }

  void CancelTimer() {
    ++timer_generation_;
    timer_.cancel();
  }

  net::ip::tcp::socket& Socket() {
    if constexpr (kPlain) {
      return beast::get_lowest_layer(ws_);
    } else {
      return beast::get_lowest_layer(ws_).socket();
    }
  }

  void DropConnection() {
    beast::error_code ignored;
    Socket().close(ignored);
    Finish();
  }

  void OnDeadline() {
    if (closing_ || finished_) return;
    if (phase_ != Phase::kOpen) {
      FailHello(4401, "no hello in time");
      return;
    }
    Clock::time_point idle_at = last_frame_ + ctx_.options.idle_timeout;
    if (Clock::now() >= idle_at) {
      ctx_.counters.idle_closes.fetch_add(1, std::memory_order_relaxed);
      BeginClose(4408, "no frame for the idle timeout", /*drain=*/true);
      return;
    }
    ArmDeadline(idle_at);
  }

  // The connection is over: tell the engine once, drop the queue.
  void Finish() {
    if (finished_) return;
    finished_ = true;
    CancelTimer();
    queue_.clear();
    if (!writing_) std::string().swap(in_flight_);
    queued_bytes_ = 0;
    if (session_ != nullptr) {
      session_->Disconnect();
      session_.reset();
    }
    transport_.reset();
  }

  static constexpr std::size_t kMaxTimedSends = 1024;
  static constexpr std::size_t kReadChunk = 64 * 1024;
  static constexpr std::size_t kFirstReadChunk = 128;
  static constexpr std::size_t kKeepReadBufferOver = 4096;

  ServerContext& ctx_;
  // permessage-deflate is never offered (Beast's default), so the stream is
  // built without its support.
  beast::websocket::stream<Stream, /*deflateSupported=*/false> ws_;
  const typename Stream::executor_type strand_;
  net::steady_timer timer_;
  std::uint32_t timer_generation_ = 0;
  beast::flat_buffer buffer_;

  Phase phase_ = Phase::kAccepting;
  Clock::time_point last_frame_{};
  std::shared_ptr<Transport> transport_;
  std::shared_ptr<Session> session_;
  absl::flat_hash_map<std::string, Clock::time_point> send_started_;

  FrameQueue queue_;      // waiting, after in_flight_
  std::string in_flight_;  // the frame being written (writing_)
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool corked_ = false;

  bool closing_ = false;
  bool close_pending_ = false;
  bool finished_ = false;
  std::uint16_t close_code_ = 1000;
  std::string close_reason_;
};

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_WEBSOCKET_SESSION_H_
