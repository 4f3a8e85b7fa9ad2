// websocket_session.h (private): one WebSocket connection, plain or TLS.
//
// Drives the states of courier/websocket/server.h: awaiting hello, open,
// closed. Every handler runs on the connection's loop thread (io_loop.h);
// the engine reaches the connection only through its Transport (outbox.h),
// which queues at once on that thread and goes through the loop's mailbox
// from any other.
//
// The WebSocket protocol itself (RFC 6455) is ours, not Beast's: the HTTP
// session checked the upgrade (ws_handshake.h) and hands over the socket, the
// `Sec-WebSocket-Accept` value and any bytes it read past the request; this
// session writes the 101 answer, parses client frames with a FrameReader
// (ws_frame_reader.h) and writes server frames (ws_frame.h).
//
// Async operations in flight at most: one read, one write (a batch of
// queued frames, or the close frame), one timer wait (the guard that drops
// TCP when the opening or closing handshake stalls, or the deadline: hello,
// then idle). The session is kept alive by its pending handlers
// (shared_from_this); when the last one finishes it is destroyed, and
// Session::Disconnect() has been called.
//
// Reading. Plain connections: the pending read lands in kHeadBytes inside the
//   session; when it completes, whatever else the socket holds is read
//   (non-blocking) into the io thread's scratch buffer (read_scratch.h) and
//   parsed there. TLS connections read into kHeadBytes too, then into a
//   16 KiB chunk of their own while reads keep filling their buffer (given
//   back when one does not). Between reads only a partial frame header or
//   control frame (≤ 139 bytes) is carried over.
// Writing. The queued frames leave in batches: up to kMaxBatchFrames frames
//   (kMaxBatchBytes) in one gathered write, each a text frame with its
//   header written beside it (no copy of the JSON). A frame queued while no
//   write is in flight does not start one at once: the write is posted to
//   the end of the loop's turn, so that everything the turn queues for this
//   connection (the results of one commit, the answers to one read) leaves
//   in one system call.
// Closing. We close: the queue is written (or dropped), then our close
//   frame; frames that still come are dropped unread until the peer's close
//   frame, then TCP is shut down. The peer closes: its code is echoed and
//   TCP shut down. A protocol error (1002) closes TCP right after our close
//   frame. close_timeout bounds all of it.
// Memory: an idle plain connection holds the session object, the socket and
//   one pending read and timer wait; no heap buffer (the write queue and
//   batch are given back whenever they empty).
//
// Thread-safety: PostClose from any thread; everything else on the loop
//   thread.
// Blocking: nothing blocks; the Authenticator runs inline and must not.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_WEBSOCKET_SESSION_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_WEBSOCKET_SESSION_H_

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>

#include "absl/container/flat_hash_map.h"
#include "courier/websocket/frame_codec.h"
#include "frame_queue.h"
#include "outbox.h"
#include "read_scratch.h"
#include "server_context.h"
#include "ws_frame.h"
#include "ws_frame_reader.h"
#include "ws_handshake.h"

namespace courier::websocket::internal {

namespace beast = boost::beast;
namespace net = boost::asio;

// The close code for an Engine::Connect error.
std::uint16_t ConnectErrorCloseCode(const absl::Status& status);

// RFC 6455's codes that are the connection's own (the protocol's are
// courier::CloseCode).
inline constexpr std::uint16_t kProtocolError = 1002;  // framing rules broken

constexpr std::uint16_t Code(CloseCode code) { return static_cast<std::uint16_t>(code); }

template <class Stream>
class WebSocketSession final : public Outbox,
                               public std::enable_shared_from_this<WebSocketSession<Stream>> {
 public:
  using Clock = std::chrono::steady_clock;

  static constexpr bool kPlain = std::is_same_v<Stream, net::ip::tcp::socket>;

  // `accept`: the Sec-WebSocket-Accept value; `early`: bytes the client sent
  // after its upgrade request (frames it did not wait to send).
  WebSocketSession(ServerContext& ctx, IoLoop& loop, Stream&& stream, std::string accept,
                   std::string early)
      : ctx_(ctx), loop_(loop), stream_(std::move(stream)), strand_(stream_.get_executor()),
        timer_(strand_),
        reader_(ctx.options.max_frame_bytes), carry_(std::move(early)),
        handshake_(std::move(accept)) {
    ctx_.counters.websockets_open.fetch_add(1, std::memory_order_relaxed);
    ctx_.counters.websockets_total.fetch_add(1, std::memory_order_relaxed);
  }

  ~WebSocketSession() override {
    Finish();
    ctx_.counters.websockets_open.fetch_sub(1, std::memory_order_relaxed);
  }

  // Writes the 101 answer, then reads frames.
  void Run() {
    if constexpr (!kPlain) beast::get_lowest_layer(stream_).expires_never();
    if constexpr (kPlain) {
      beast::error_code ignored;
      stream_.non_blocking(true, ignored);  // the drain after each read must not wait
    }
    handshake_ = SwitchingProtocolsResponse(handshake_);
    writing_ = true;
    ArmGuard(ctx_.options.http_timeout);
    net::async_write(stream_, net::buffer(handshake_),
                     beast::bind_front_handler(&WebSocketSession::OnAccept,
                                               this->shared_from_this()));
  }

  void QueueFrames(std::vector<OutFrame> frames) override {
    for (OutFrame& f : frames) Enqueue(std::move(f));
    ReleaseHeld();
  }

  void CloseNow(std::uint16_t code, std::string_view reason) override {
    BeginClose(code, reason, /*drain=*/true);
  }

  void PostClose(std::uint16_t code, std::string reason) override {
    net::post(strand_, [self = this->shared_from_this(), code, reason = std::move(reason)] {
      self->BeginClose(code, reason, /*drain=*/true);
    });
  }

 private:
  // The connection's life, one state at a time (transitions in the order
  // they can happen; any state may end in kFinished when the socket fails,
  // a guard timer fires or the peer's TCP goes):
  //   kAccepting     writing the 101 answer          -> kAwaitingHello
  //   kAwaitingHello the first frame must be hello   -> kOpen (hello accepted)
  //   kOpen          frames flow both ways
  //   (any of the three) -- BeginClose: we, the engine, the admin API or the
  //                  peer decided to close --       -> kClosing
  //   kClosing       our close frame waits for the queue (drain) or the
  //                  write in flight                 -> kCloseWriting
  //   kCloseWriting  our close frame is being written -> kCloseSent, or, when
  //                  the peer closed first or broke the framing, the shutdown
  //   kCloseSent     frames that come are dropped unread until the peer's
  //                  close frame                     -> shutdown
  //   kShutdown      TLS: close_notify under way (plain TCP goes straight on)
  //   kFinished      the socket is closed, Session::Disconnect was called.
  enum class LinkState : std::uint8_t {
    kAccepting,
    kAwaitingHello,
    kOpen,
    kClosing,
    kCloseWriting,
    kCloseSent,
    kShutdown,
    kFinished,
  };
  // What we know of the peer's side of the stream.
  enum class PeerSide : std::uint8_t {
    kReading,  // we parse what it sends
    kClosed,   // its close frame came: nothing may follow
    kBroken,   // it broke the framing rules (1002): drop TCP after our close frame
  };

  bool Closing() const { return state_ >= LinkState::kClosing; }
  bool Reading() const { return state_ != LinkState::kFinished && peer_ == PeerSide::kReading; }

  void OnAccept(beast::error_code ec, std::size_t) {
    writing_ = false;
    std::string().swap(handshake_);
    CancelTimer();
    if (ec) {
      Finish();
      return;
    }
    last_frame_ = Clock::now();
    if (state_ == LinkState::kAccepting) {
      state_ = LinkState::kAwaitingHello;
      ArmDeadline(last_frame_ + ctx_.options.hello_timeout);
    }
    if (!queue_.empty() || pong_pending_) {
      DoWrite();
    } else if (state_ == LinkState::kClosing) {
      DoClose();
    }
    if (!carry_.empty()) {
      // Frames sent right behind the upgrade request.
      std::string early = std::move(carry_);
      carry_.clear();
      const std::size_t used = Process(early.data(), early.size());
      if (!Reading()) return;
      carry_.assign(early, used, std::string::npos);
    }
    DoRead();
  }

  // --- reading

  void DoRead() {
    if constexpr (kPlain) {
      stream_.async_read_some(net::buffer(head_),
                              beast::bind_front_handler(&WebSocketSession::OnPlainRead,
                                                        this->shared_from_this()));
    } else if (tls_buffer_ != nullptr) {
      stream_.async_read_some(net::buffer(tls_buffer_.get(), kTlsChunk),
                              beast::bind_front_handler(&WebSocketSession::OnTlsRead,
                                                        this->shared_from_this()));
    } else {
      stream_.async_read_some(net::buffer(head_),
                              beast::bind_front_handler(&WebSocketSession::OnTlsRead,
                                                        this->shared_from_this()));
    }
  }

  void OnPlainRead(beast::error_code ec, std::size_t bytes) {
    if (ec || state_ == LinkState::kFinished) {
      Finish();
      return;
    }
    ScratchLease scratch;
    char* const buf = scratch.data();
    std::size_t used = carry_.size();
    std::memcpy(buf, carry_.data(), used);
    std::memcpy(buf + used, head_.data(), bytes);
    used += bytes;
    CountIn(bytes);
    // A full head read: the socket may hold more. Read it (up to the
    // scratch's size per round, kMaxReadRounds rounds: a client that sends
    // without pause does not keep its io thread from the other connections;
    // what is left is read after them, the next read starting at once).
    bool more = bytes == head_.size();
    bool eof = false;
    for (int round = 1;; ++round) {
      if (more) {
        beast::error_code read_ec;
        const std::size_t got =
            stream_.read_some(net::buffer(buf + used, scratch.size() - used), read_ec);
        used += got;
        CountIn(got);
        if (read_ec == net::error::would_block || read_ec == net::error::try_again) {
          more = false;
        } else if (read_ec) {
          more = false;
          eof = true;  // parse what came, then finish
        } else {
          more = used == scratch.size();
        }
      }
      const std::size_t consumed = Process(buf, used);
      if (!Reading()) return;
      const std::size_t left = used - consumed;
      if (!more || eof || round == kMaxReadRounds) {
        carry_.assign(buf + consumed, left);
        break;
      }
      std::memmove(buf, buf + consumed, left);
      used = left;
    }
    if (eof) {
      Finish();
      return;
    }
    if (carry_.capacity() > kCarryMax) carry_.shrink_to_fit();
    DoRead();
  }

  // TLS: a read that filled its buffer (head_ or the chunk) suggests more
  // is waiting (in OpenSSL or the socket): the next read goes into a chunk
  // of kTlsChunk, given back once a read leaves it partly empty, so an idle
  // TLS connection too waits with head_ only. (No non-blocking drain as for
  // plain sockets: a synchronous read on the SSL stream is not safe here.)
  void OnTlsRead(beast::error_code ec, std::size_t bytes) {
    if (ec || state_ == LinkState::kFinished) {
      Finish();
      return;
    }
    CountIn(bytes);
    const bool big = tls_buffer_ != nullptr;
    const char* const from = big ? tls_buffer_.get() : head_.data();
    ScratchLease scratch;
    char* const buf = scratch.data();
    std::memcpy(buf, carry_.data(), carry_.size());
    std::memcpy(buf + carry_.size(), from, bytes);
    const std::size_t used = carry_.size() + bytes;
    const std::size_t consumed = Process(buf, used);
    if (!Reading()) return;
    carry_.assign(buf + consumed, used - consumed);
    const bool full = bytes == (big ? kTlsChunk : head_.size());
    if (full && !big) tls_buffer_ = std::make_unique<char[]>(kTlsChunk);
    if (!full && big) tls_buffer_.reset();
    DoRead();
  }

  void CountIn(std::size_t bytes) {
    if (bytes > 0) ctx_.counters.bytes_in.fetch_add(bytes, std::memory_order_relaxed);
  }

  // Parses `size` bytes at `data` (in place); returns how many it used. The
  // rest (a partial header or control frame) is for the next read.
  std::size_t Process(char* data, std::size_t size) {
    char* p = data;
    std::size_t left = size;
    while (Reading()) {
      FrameReader::Event e = reader_.Next(&p, &left);
      switch (e.kind) {
        case FrameReader::Kind::kNeedMore:
          return size - left;
        case FrameReader::Kind::kMessage:
          OnMessage(e.text, e.payload);
          break;
        case FrameReader::Kind::kPing:
          last_frame_ = Clock::now();  // a WebSocket ping keeps the connection too
          pong_.assign(e.payload);     // only the latest ping needs an answer
          pong_pending_ = true;
          if (!writing_ && !Closing()) DoWrite();
          break;
        case FrameReader::Kind::kPong:
          last_frame_ = Clock::now();
          break;
        case FrameReader::Kind::kClose:
          OnPeerClose(e.close_code);
          break;
        case FrameReader::Kind::kError:
          OnProtocolError(e.close_code, e.reason);
          break;
      }
    }
    return size - left;
  }

  void OnMessage(bool text, std::string_view payload) {
    ctx_.counters.frames_in.fetch_add(1, std::memory_order_relaxed);
    last_frame_ = Clock::now();
    if (Closing()) return;
    if (state_ == LinkState::kAwaitingHello) {
      HandleHello(text, payload);
    } else {
      HandleFrame(text, payload);
    }
  }

  void HandleHello(bool text, std::string_view payload) {
    absl::StatusOr<ClientFrame> frame =
        text ? DecodeClientFrame(payload, ctx_.options.codec)
             : absl::StatusOr<ClientFrame>(absl::InvalidArgumentError("binary frame"));
    const HelloFrame* hello = frame.ok() ? std::get_if<HelloFrame>(&*frame) : nullptr;
    if (hello == nullptr) {
      FailHello(Code(CloseCode::kUnauthorized), "the first frame must be a valid hello");
      return;
    }
    absl::StatusOr<UserId> user = ctx_.hooks.authenticate(hello->token);
    if (!user.ok()) {
      FailHello(Code(CloseCode::kUnauthorized), "bad or expired token");
      return;
    }
    transport_ = MakeWebSocketTransport(std::weak_ptr<Outbox>(this->shared_from_this()), loop_);
    absl::StatusOr<std::shared_ptr<Session>> session =
        ctx_.hooks.engine->Connect(*user, hello->device, hello->since, transport_);
    if (!session.ok()) {
      transport_.reset();
      FailHello(ConnectErrorCloseCode(session.status()), std::string(session.status().message()));
      return;
    }
    session_ = *std::move(session);
    state_ = LinkState::kOpen;
    welcome_pending_ = true;
    ctx_.sessions.Add(*user, hello->device, this,
                      std::weak_ptr<Outbox>(this->shared_from_this()));
    if (ctx_.hooks.on_session) ctx_.hooks.on_session(*user, hello->device, true);
    if (ctx_.hooks.on_token_session) {
      ctx_.hooks.on_token_session(hello->token, *user, hello->device,
                                  std::weak_ptr<Transport>(transport_));
    }
  }

  void FailHello(std::uint16_t code, std::string_view reason) {
    ctx_.counters.hello_failures.fetch_add(1, std::memory_order_relaxed);
    BeginClose(code, reason, /*drain=*/true);
  }

  void HandleFrame(bool text, std::string_view payload) {
    if (!text) {
      AnswerError(absl::InvalidArgumentError("frames are JSON text, not binary"));
      return;
    }
    absl::StatusOr<ClientFrame> frame = DecodeClientFrame(payload, ctx_.options.codec);
    if (!frame.ok()) {
      AnswerError(frame.status());
      return;
    }
    if (auto* send = std::get_if<SendFrame>(&*frame)) {
      if (send_started_.size() < kMaxTimedSends) send_started_.emplace(send->cid, Clock::now());
      if (send->group.empty()) {
        session_->Send(std::move(send->cid), std::move(send->to), std::move(send->body));
      } else {
        session_->SendToGroup(std::move(send->cid), std::move(send->group),
                              std::move(send->body));
      }
    } else if (auto* op = std::get_if<GroupOpFrame>(&*frame)) {
      session_->ChangeGroup(std::move(op->cid), op->action, std::move(op->group),
                            std::move(op->members), std::move(op->name));
    } else if (auto* list = std::get_if<ListGroupsFrame>(&*frame)) {
      session_->ListGroups(std::move(list->cid), std::move(list->group));
    } else if (auto* typing = std::get_if<TypingOpFrame>(&*frame)) {
      session_->Typing(std::move(typing->to), std::move(typing->group), typing->on);
    } else if (auto* ack = std::get_if<AckFrame>(&*frame)) {
      session_->Ack(ack->seq);
    } else if (auto* read = std::get_if<ReadFrame>(&*frame)) {
      session_->Read(std::move(read->ids));
    } else if (std::holds_alternative<PingFrame>(*frame)) {
      EnqueueOwn(OutFrame{EncodePong(), {}});
    } else {
      AnswerError(absl::InvalidArgumentError("hello was already accepted on this connection"));
    }
  }

  void AnswerError(const absl::Status& status) {
    ctx_.counters.bad_frames.fetch_add(1, std::memory_order_relaxed);
    ErrorFrame error = ToErrorFrame(status);
    std::string cid = error.cid;
    EnqueueOwn(OutFrame{EncodeServerFrame(error), std::move(cid)});
  }

  // The peer's close frame.
  // Our close frame sent already: the handshake is complete. Otherwise the
  // code is echoed (RFC 6455 5.5.1) and nothing more of ours is written (a
  // close of ours under way, still writing the queue, goes on as it was).
  void OnPeerClose(std::uint16_t code) {
    peer_ = PeerSide::kClosed;  // nothing may follow a close frame
    if (state_ == LinkState::kCloseSent) {
      ShutdownTransport();
      return;
    }
    BeginClose(code, {}, /*drain=*/false);
  }

  // The peer broke the framing rules (1002), sent text that is not UTF-8
  // (1007) or a frame over the limit (1009).
  void OnProtocolError(std::uint16_t code, std::string_view reason) {
    if (code == kProtocolError) {
      peer_ = PeerSide::kBroken;  // the stream cannot be parsed any further
    }
    BeginClose(code, reason, /*drain=*/false);
  }

  // --- writing: one write in flight: a batch of queued frames.

  // A frame the connection answers by itself (pong, a bad frame's error).
  // Between an accepted hello and the engine's first frames (welcome, which
  // waits for the store) such answers are held, so that `welcome` is always
  // the first frame after `hello`; they follow it in their own order.
  void EnqueueOwn(OutFrame frame) {
    if (!welcome_pending_) {
      Enqueue(std::move(frame));
      return;
    }
    if (Closing()) return;
    if (held_.size() >= ctx_.options.max_queue_frames) {
      ctx_.counters.slow_closes.fetch_add(1, std::memory_order_relaxed);
      BeginClose(Code(CloseCode::kPolicy), "too many frames before welcome", /*drain=*/false);
      return;
    }
    held_.push_back(std::move(frame));
  }

  // The engine's first frames are queued: what was held goes behind them.
  void ReleaseHeld() {
    if (!welcome_pending_) return;
    welcome_pending_ = false;
    std::vector<OutFrame> held = std::move(held_);
    held_.clear();
    for (OutFrame& f : held) Enqueue(std::move(f));
  }

  void Enqueue(OutFrame frame) {
    if (Closing()) return;
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
        queue_.size() + batch_.size() > ctx_.options.max_queue_frames) {
      ctx_.counters.slow_closes.fetch_add(1, std::memory_order_relaxed);
      BeginClose(Code(CloseCode::kPolicy), "send queue over its limit: the client does not read",
                 /*drain=*/false);
      return;
    }
    ScheduleWrite();
  }

  // Starts a write at the end of this loop turn, unless one is in flight or
  // already scheduled (see "Writing" above).
  void ScheduleWrite() {
    if (writing_ || write_scheduled_) return;  // (the 101 answer is a write too)
    write_scheduled_ = true;
    net::post(strand_, [self = this->shared_from_this()] {
      self->write_scheduled_ = false;
      if (self->writing_ || self->state_ == LinkState::kFinished) return;
      if (!self->queue_.empty() || self->pong_pending_) {
        if (!self->Closing() || self->state_ == LinkState::kClosing) self->DoWrite();
      } else if (self->state_ == LinkState::kClosing) {
        self->DoClose();
      }
    });
  }

  // Moves frames from the queue into one gathered write (a pending pong
  // first).
  void DoWrite() {
    writing_ = true;
    buffers_.clear();
    std::size_t frames = 0;
    std::size_t bytes = 0;
    if (pong_pending_) {
      pong_frame_ = EncodeControlFrame(Opcode::kPong, pong_);
      pong_pending_ = false;
      std::string().swap(pong_);
      buffers_.push_back(net::buffer(pong_frame_));
    }
    while (!queue_.empty() && frames < kMaxBatchFrames &&
           (frames == 0 || bytes + queue_.front().size() <= kMaxBatchBytes)) {
      bytes += queue_.front().size();
      batch_.push_back(std::move(queue_.front()));
      queue_.pop_front();
      ++frames;
    }
    // Each header in its own slot of one array, sized before any buffer
    // points into it.
    headers_.resize(frames * kMaxServerHeaderBytes);
    for (std::size_t i = 0; i < frames; ++i) {
      std::uint8_t* header = headers_.data() + i * kMaxServerHeaderBytes;
      const std::size_t n = EncodeFrameHeader(Opcode::kText, batch_[i].size(), header);
      buffers_.push_back(net::buffer(header, n));
      buffers_.push_back(net::buffer(batch_[i]));
    }
    // More behind this batch: hold the bytes in the kernel until the queue
    // is empty, so that a burst leaves in full TCP segments. Uncorked as
    // soon as the queue empties, so a lone frame is never delayed.
    if (!queue_.empty()) Cork(true);
    net::async_write(stream_, buffers_,
                     beast::bind_front_handler(&WebSocketSession::OnWrite,
                                               this->shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t bytes) {
    writing_ = false;
    if (ec) {
      Finish();
      return;
    }
    ctx_.counters.frames_out.fetch_add(batch_.size(), std::memory_order_relaxed);
    ctx_.counters.bytes_out.fetch_add(bytes, std::memory_order_relaxed);
    for (const std::string& frame : batch_) queued_bytes_ -= frame.size();
    batch_.clear();
    std::string().swap(pong_frame_);
    if (!queue_.empty() || pong_pending_) {
      if (!Closing() || state_ == LinkState::kClosing) {
        DoWrite();
        return;
      }
    }
    // Idle: give the batch's memory back.
    std::vector<std::string>().swap(batch_);
    std::vector<std::uint8_t>().swap(headers_);
    std::vector<net::const_buffer>().swap(buffers_);
    Cork(false);
    if (state_ == LinkState::kClosing) DoClose();
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
    if (Closing()) return;
    state_ = LinkState::kClosing;
    close_frame_ = EncodeCloseFrame(code, reason);
    if (!drain) {
      while (!queue_.empty()) {
        queued_bytes_ -= queue_.back().size();
        queue_.pop_back();
      }
      pong_pending_ = false;
    }
    ArmGuard(ctx_.options.close_timeout);
    if (!writing_) {  // (while the 101 answer is written, OnAccept goes on)
      if (!queue_.empty() || pong_pending_) {
        DoWrite();
      } else {
        DoClose();
      }
    }
  }

  void DoClose() {
    state_ = LinkState::kCloseWriting;
    writing_ = true;
    net::async_write(stream_, net::buffer(close_frame_),
                     beast::bind_front_handler(&WebSocketSession::OnCloseSent,
                                               this->shared_from_this()));
  }

  void OnCloseSent(beast::error_code ec, std::size_t) {
    writing_ = false;
    state_ = LinkState::kCloseSent;
    std::string().swap(close_frame_);
    if (ec) {
      Finish();
      return;
    }
    if (peer_ != PeerSide::kReading) {
      ShutdownTransport();
      return;
    }
    // Wait (bounded by the guard) for the peer's close frame; what comes
    // before it is dropped unread.
    reader_.Discard();
  }

  // The close handshake is over (or given up): TCP goes, the server side
  // first (RFC 6455 7.1.1).
  void ShutdownTransport() {
    if constexpr (kPlain) {
      beast::error_code ignored;
      stream_.shutdown(net::ip::tcp::socket::shutdown_send, ignored);
      DropConnection();
    } else {
      if (state_ == LinkState::kShutdown) return;
      state_ = LinkState::kShutdown;
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->DropConnection(); });
    }
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
      return stream_;
    } else {
      return beast::get_lowest_layer(stream_).socket();
    }
  }

  void DropConnection() {
    beast::error_code ignored;
    Socket().close(ignored);
    Finish();
  }

  void OnDeadline() {
    if (Closing()) return;
    if (state_ == LinkState::kAwaitingHello) {
      FailHello(Code(CloseCode::kUnauthorized), "no hello in time");
      return;
    }
    Clock::time_point idle_at = last_frame_ + ctx_.options.idle_timeout;
    if (Clock::now() >= idle_at) {
      ctx_.counters.idle_closes.fetch_add(1, std::memory_order_relaxed);
      BeginClose(Code(CloseCode::kIdle), "no frame for the idle timeout", /*drain=*/true);
      return;
    }
    ArmDeadline(idle_at);
  }

  // The connection is over: tell the engine once, drop the queue, close the
  // socket (pending operations complete with an error and let go).
  void Finish() {
    if (state_ == LinkState::kFinished) return;
    state_ = LinkState::kFinished;
    CancelTimer();
    queue_.clear();
    std::vector<OutFrame>().swap(held_);
    queued_bytes_ = 0;
    beast::error_code ignored;
    Socket().close(ignored);
    if (session_ != nullptr) {
      ctx_.sessions.Remove(session_->user(), this);
      if (ctx_.hooks.on_session) ctx_.hooks.on_session(session_->user(), session_->device(), false);
      session_->Disconnect();
      session_.reset();
    }
    transport_.reset();
  }

  static constexpr std::size_t kMaxTimedSends = 1024;
  // Big enough for a whole `send` of a short message or a few acks: a read
  // that does not fill it tells Asio the socket is drained, so the next
  // read waits for readiness instead of trying (and failing with EAGAIN)
  // first. With 32 bytes a W1 message cost 5.2 recvfrom calls; see
  // bench/README.md.
  static constexpr std::size_t kHeadBytes = 256;
  static constexpr int kMaxReadRounds = 4;
  static constexpr std::size_t kCarryMax = 256;  // > a partial control frame (139)
  static_assert(kCarryMax + 16 * 1024 <= ScratchLease::size());
  static constexpr std::size_t kTlsChunk = 16 * 1024;
  static constexpr std::size_t kMaxBatchFrames = 64;
  static constexpr std::size_t kMaxBatchBytes = 256 * 1024;

  ServerContext& ctx_;
  IoLoop& loop_;
  Stream stream_;
  const typename Stream::executor_type strand_;  // the loop's
  net::steady_timer timer_;
  std::uint32_t timer_generation_ = 0;

  // Reading.
  FrameReader reader_;
  std::array<char, kHeadBytes> head_{};  // where an idle connection's read lands
  std::string carry_;                    // unparsed bytes for the next read
  std::unique_ptr<char[]> tls_buffer_;   // TLS, while bytes keep coming: kTlsChunk

  std::string handshake_;  // the accept value, then the 101 answer being written
  Clock::time_point last_frame_{};
  std::shared_ptr<Transport> transport_;
  std::shared_ptr<Session> session_;
  absl::flat_hash_map<std::string, Clock::time_point> send_started_;
  bool welcome_pending_ = false;  // hello accepted, no frame from the engine yet
  std::vector<OutFrame> held_;    // the connection's own answers until then

  // Writing.
  FrameQueue queue_;                  // waiting
  std::vector<std::string> batch_;    // being written
  std::vector<std::uint8_t> headers_;  // the batch's frame headers
  std::vector<net::const_buffer> buffers_;
  std::string pong_;        // payload of the latest ping not yet answered
  std::string pong_frame_;  // the pong being written
  std::size_t queued_bytes_ = 0;
  bool pong_pending_ = false;
  bool writing_ = false;
  bool write_scheduled_ = false;  // a ScheduleWrite task is posted
  bool corked_ = false;

  // Closing.
  std::string close_frame_;
  LinkState state_ = LinkState::kAccepting;
  PeerSide peer_ = PeerSide::kReading;
};

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_WEBSOCKET_SESSION_H_
