// websocket_session.h (private): one WebSocket connection, plain or TLS.
//
// The thin template that ties the connection's parts together, each in its
// own file:
//   link_state.h     the close/link state machine (states and transitions)
//   read_path.h      reading the socket and dispatching the parsed frames
//                    (FrameReader, ws_frame_reader.h, parses them)
//   client_frames.h  what a data frame asks of the engine's Session, and the
//                    send-latency timing
//   write_path.h     the write queue, the gathered batch, pong and cork
//   loop_deadlines.h the connection's one deadline, on its loop's timer
//   close_codes.h    RFC 6455's close codes by name
// Every handler runs on the connection's loop thread (io_loop.h); the
// engine reaches the connection only through its Transport (outbox.h),
// which queues at once on that thread and goes through the loop's mailbox
// from any other.
//
// The WebSocket protocol itself (RFC 6455) is ours, not Beast's: the HTTP
// session checked the upgrade (ws_handshake.h) and hands over the socket, the
// `Sec-WebSocket-Accept` value and any bytes it read past the request; this
// session writes the 101 answer, parses client frames and writes server
// frames (ws_frame.h).
//
// Async operations in flight at most: one read (plain: a wait for
// readiness in its loop's readiness set, readiness_set.h), one write (a
// batch of queued frames, or the close frame). The one deadline (the guard
// that drops TCP when the opening or closing handshake stalls, or the wait
// for hello, then idleness) is an entry in the loop's deadline heap, not an
// operation. The session is kept alive by its pending handlers
// (shared_from_this), and a plain one waiting for input by its loop's
// readiness set; when the last of these lets go it is destroyed, and
// Session::Disconnect() has been called.
//
// Reading. Plain connections wait for readiness (their socket is in their
//   loop's epoll set from the upgrade to the close, readiness_set.h: no
//   epoll_ctl per read) and then read into the io thread's scratch buffer
//   (read_path.h). TLS connections read into kHeadBytes inside the session,
//   then into a 16 KiB chunk of their own while reads keep filling their
//   buffer (given back when one does not). Between reads only a partial
//   frame header or control frame (≤ 139 bytes) is carried over.
// Writing. A frame queued while no write is in flight does not start one at
//   once: the write is posted to the end of the loop's turn, so that
//   everything the turn queues for this connection (the results of one
//   commit, the answers to one read) leaves in one gathered write
//   (write_path.h).
// Closing. We close: the queue is written (or dropped), then our close
//   frame; frames that still come are dropped unread until the peer's close
//   frame, then TCP is shut down. The peer closes: its code is echoed and
//   TCP shut down. A protocol error (1002) closes TCP right after our close
//   frame. close_timeout bounds all of it.
// Memory: an idle plain connection holds the session object, the socket
//   (and Asio's reactor state for it), a slot of its loop's readiness set
//   and one of its deadline heap; no heap buffer (the write queue and
//   batch are given back whenever they empty) and no block of its rarely
//   used parts (RareParts: the handshakes' bytes, the answers held until
//   welcome, the send-time table; given back when unused). By part:
//   tests/websocket/connection_memory_test.cc and bench/README.md.
//
// Thread-safety: PostClose from any thread; everything else on the loop
//   thread.
// Blocking: nothing blocks; the Authenticator runs inline and must not.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_WEBSOCKET_SESSION_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_WEBSOCKET_SESSION_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>

#include "client_frames.h"
#include "close_codes.h"
#include "courier/log.h"
#include "courier/websocket/frame_codec.h"
#include "lazy_buffer.h"
#include "link_state.h"
#include "loop_deadlines.h"
#include "outbox.h"
#include "read_path.h"
#include "read_scratch.h"
#include "readiness_set.h"
#include "server_context.h"
#include "write_path.h"
#include "ws_frame.h"
#include "ws_frame_reader.h"
#include "ws_handshake.h"

namespace courier::websocket::internal {

namespace beast = boost::beast;
namespace net = boost::asio;

// The close code for an Engine::Connect error.
std::uint16_t ConnectErrorCloseCode(const absl::Status& status);

// Of internal linkage (each file that starts sessions has its own copy): with
// the plain socket bound to the io_context's own executor, Asio instantiates
// its executor's templates with the session's handlers, and those must not
// become exported symbols (tests/consumer/check_symbols.py).
namespace {

template <class Stream>
class WebSocketSession final : public Outbox,
                               private Deadline,
                               private Readable,
                               public std::enable_shared_from_this<WebSocketSession<Stream>> {
 public:
  using Clock = std::chrono::steady_clock;

  static constexpr bool kPlain = std::is_same_v<Stream, PlainSocket>;
  // TLS: where an idle connection's read lands. Big enough for a whole
  // `send` of a short message or a few acks: a read that does not fill it
  // tells Asio the stream is drained (with 32 bytes a W1 message cost 5.2
  // reads; see bench/README.md). Plain connections need none (read_path.h).
  static constexpr std::size_t kHeadBytes = 256;

  // What a plain connection's wait for readiness costs: its slot in the
  // loop's readiness set, for its whole life (no operation object in
  // flight; tests/websocket/connection_memory_test.cc prints it).
  static constexpr std::size_t PendingReadBytes() { return sizeof(ReadinessSet::Slot); }
  // The block of rarely used parts while in use (none while idle; see
  // RareParts below).
  static constexpr std::size_t RareBytes() { return sizeof(RareParts); }

  // `accept`: the Sec-WebSocket-Accept value; `early`: bytes the client sent
  // after its upgrade request (frames it did not wait to send).
  // REQUIRES: `ctx` is loop.context().
  WebSocketSession(ServerContext& ctx, IoLoop& loop, Stream&& stream, std::string accept,
                   std::string early)
      : loop_(loop), stream_(std::move(stream)), reader_(ctx.options.max_frame_bytes) {
    carry_.assign(early.data(), early.size());
    Rare().handshake = std::move(accept);
    ctx.counters.websockets_open.fetch_add(1, std::memory_order_relaxed);
    ctx.counters.websockets_total.fetch_add(1, std::memory_order_relaxed);
  }

  ~WebSocketSession() override {
    Finish();
    ctx().counters.websockets_open.fetch_sub(1, std::memory_order_relaxed);
  }

  // Writes the 101 answer, then reads frames.
  void Run() {
    if constexpr (!kPlain) beast::get_lowest_layer(stream_).expires_never();
    if constexpr (kPlain) {
      beast::error_code ignored;
      stream_.non_blocking(true, ignored);  // reads never wait (read_path.h)
      // In the loop's readiness set for the connection's life.
      absl::StatusOr<ReadinessSet::Handle> handle = loop_.readiness().Add(stream_.native_handle());
      if (!handle.ok()) {
        Log(LogLevel::kError, "courier::websocket",
            "dropping a new WebSocket connection: it cannot wait for input: " +
                std::string(handle.status().message()));
        Finish();
        return;
      }
      read_handle_ = *handle;
    }
    std::string& handshake = Rare().handshake;
    handshake = SwitchingProtocolsResponse(handshake);
    write_.writing = true;
    ArmGuard(ctx().options.http_timeout);
    net::async_write(stream_, net::buffer(handshake),
                     beast::bind_front_handler(&WebSocketSession::OnAccept,
                                               this->shared_from_this()));
  }

  void QueueFrames(std::span<const FrameRef> frames) override {
    for (const FrameRef& f : frames) {
      if (!EnqueueJson(EncodeServerFrameView(f), f.answers_cid())) break;
    }
    ReleaseHeld();
  }

  void QueueEncoded(EncodedFrames frames) override {
    if (!link_.closing()) {
      for (const std::string& cid : frames.answers_cids) FinishTiming(cid);
      if (!write_.PushEncoded(std::move(frames.bytes), frames.frames, frames.payload_bytes,
                              ctx().options.max_queue_bytes, ctx().options.max_queue_frames)) {
        CloseSlowReader();
      } else {
        ScheduleWrite();
      }
    }
    ReleaseHeld();
  }

  void CloseNow(std::uint16_t code, std::string_view reason) override {
    BeginClose(code, reason, /*drain=*/true);
  }

  void PostClose(std::uint16_t code, std::string reason) override {
    net::post(stream_.get_executor(),
              [self = this->shared_from_this(), code, reason = std::move(reason)] {
                self->BeginClose(code, reason, /*drain=*/true);
              });
  }

  // --- the read path's events (DispatchFrames, read_path.h)

  bool Reading() const { return link_.reading(); }

  void OnMessage(bool text, std::string_view payload) {
    ctx().counters.frames_in.fetch_add(1, std::memory_order_relaxed);
    last_frame_ = Clock::now();
    if (link_.closing()) return;
    if (link_.state == LinkState::kAwaitingHello) {
      HandleHello(text, payload);
      return;
    }
    std::optional<OutFrame> answer =
        ApplyClientFrame(text, payload, ctx().options.codec, *session_,
                         [this]() -> SendTimes& { return Rare().send_times; }, ctx().counters);
    if (answer.has_value()) EnqueueOwn(*std::move(answer));
  }

  void OnPing(std::string_view payload) {
    last_frame_ = Clock::now();  // a WebSocket ping keeps the connection too
    write_.SetPong(payload);
    if (!write_.writing && !link_.closing()) DoWrite();
  }

  void OnPong() { last_frame_ = Clock::now(); }

  // The peer's close frame. Our close frame sent already: the handshake is
  // complete. Otherwise the code is echoed (RFC 6455 5.5.1) and nothing
  // more of ours is written (a close of ours under way, still writing the
  // queue, goes on as it was).
  void OnPeerClose(std::uint16_t code) {
    link_.peer = PeerSide::kClosed;  // nothing may follow a close frame
    if (link_.state == LinkState::kCloseSent) {
      ShutdownTransport();
      return;
    }
    BeginClose(code, {}, /*drain=*/false);
  }

  // The peer broke the framing rules (1002), sent text that is not UTF-8
  // (1007) or a frame over the limit (1009).
  void OnProtocolError(std::uint16_t code, std::string_view reason) {
    if (code == kProtocolError) {
      link_.peer = PeerSide::kBroken;  // the stream cannot be parsed any further
    }
    BeginClose(code, reason, /*drain=*/false);
  }

 private:
  void OnAccept(beast::error_code ec, std::size_t) {
    write_.writing = false;
    std::string().swap(Rare().handshake);
    DropRareIfUnused();
    CancelDeadline();
    if (ec) {
      Finish();
      return;
    }
    last_frame_ = Clock::now();
    if (link_.state == LinkState::kAccepting) {
      link_.state = LinkState::kAwaitingHello;
      ArmDeadline(last_frame_ + ctx().options.hello_timeout);
    }
    if (write_.has_work()) {
      DoWrite();
    } else if (link_.state == LinkState::kClosing) {
      DoClose();
    }
    if (!carry_.empty()) {
      // Frames sent right behind the upgrade request.
      std::string early(carry_.view());
      carry_.Reset();
      const std::size_t used = Process(early.data(), early.size());
      if (!Reading()) return;
      carry_.assign(early.data() + used, early.size() - used);
    }
    if constexpr (kPlain) {
      // Bytes may have come while the 101 answer was written (their
      // readiness remembered by the set): read at once.
      OnPlainReadable();
    } else {
      DoRead();
    }
  }

  // --- reading

  std::size_t Process(char* data, std::size_t size) {
    return DispatchFrames(reader_, data, size, *this);
  }

  void DoRead() {
    if constexpr (kPlain) {
      // The loop's readiness set keeps the connection until readiness comes
      // (OnReadable); known already: read after the handlers that are ready.
      if (!loop_.readiness().Wait(read_handle_,
                                  std::shared_ptr<Readable>(this->shared_from_this(),
                                                            static_cast<Readable*>(this)))) {
        PostPlainRead();
      }
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

  // Plain: the loop's readiness set says the socket is readable.
  void OnReadable() override {
    if constexpr (kPlain) OnPlainReadable();
  }

  void PostPlainRead() {
    net::post(stream_.get_executor(),
              beast::bind_front_handler(&WebSocketSession::OnPlainReadable,
                                        this->shared_from_this()));
  }

  // Plain: the socket is readable (or may be). Reads what it holds, up to
  // the scratch's size per round and kMaxReadRounds rounds (a client that
  // sends without pause does not keep its io thread from the other
  // connections: what is left is read after them, at once).
  void OnPlainReadable() {
    if (link_.finished()) {
      Finish();
      return;
    }
    // This read takes what readiness already told of (a hang-up stays).
    loop_.readiness().ClearReady(read_handle_);
    ScratchLease scratch;
    char* const buf = scratch.data();
    std::size_t used = carry_.size();
    std::memcpy(buf, carry_.data(), used);
    SocketRead r;
    for (int round = 1;; ++round) {
      r = ReadAvailable(stream_, buf + used, scratch.size() - used);
      used += r.bytes;
      CountIn(r.bytes);
      const std::size_t consumed = Process(buf, used);
      if (!Reading()) return;
      const std::size_t left = used - consumed;
      if (r.outcome != SocketRead::Outcome::kFull || round == kMaxReadRounds) {
        carry_.assign(buf + consumed, left);
        break;
      }
      std::memmove(buf, buf + consumed, left);
      used = left;
    }
    if (r.outcome == SocketRead::Outcome::kEnded) {
      Finish();
      return;
    }
    if (carry_.empty()) {
      carry_.Reset();  // an idle connection holds no block
    } else if (carry_.capacity() > kCarryMax) {
      carry_.shrink_to_fit();
    }
    if (r.outcome == SocketRead::Outcome::kFull) {
      // Not drained: no readiness will come for what waits. Read again
      // after the handlers that are ready.
      PostPlainRead();
      return;
    }
    DoRead();
  }

  // TLS: a read that filled its buffer (head_ or the chunk) suggests more
  // is waiting (in OpenSSL or the socket): the next read goes into a chunk
  // of kTlsChunk, given back once a read leaves it partly empty, so an idle
  // TLS connection too waits with head_ only. (No non-blocking drain as for
  // plain sockets: a synchronous read on the SSL stream is not safe here.)
  void OnTlsRead(beast::error_code ec, std::size_t bytes) {
    if (ec || link_.finished()) {
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
    if (carry_.empty()) carry_.Reset();  // an idle connection holds no block
    const bool full = bytes == (big ? kTlsChunk : head_.size());
    if (full && !big) tls_buffer_ = std::make_unique<char[]>(kTlsChunk);
    if (!full && big) tls_buffer_.reset();
    DoRead();
  }

  void CountIn(std::size_t bytes) {
    if (bytes > 0) ctx().counters.bytes_in.fetch_add(bytes, std::memory_order_relaxed);
  }

  void HandleHello(bool text, std::string_view payload) {
    absl::StatusOr<ClientFrame> frame =
        text ? DecodeClientFrame(payload, ctx().options.codec)
             : absl::StatusOr<ClientFrame>(absl::InvalidArgumentError("binary frame"));
    const HelloFrame* hello = frame.ok() ? std::get_if<HelloFrame>(&*frame) : nullptr;
    if (hello == nullptr) {
      FailHello(Code(CloseCode::kUnauthorized), "the first frame must be a valid hello");
      return;
    }
    absl::StatusOr<UserId> user = ctx().hooks.authenticate(hello->token);
    if (!user.ok()) {
      FailHello(Code(CloseCode::kUnauthorized), "bad or expired token");
      return;
    }
    // The engine's session owns the transport (until it closes); this
    // object keeps no reference of its own (16 bytes per connection).
    std::shared_ptr<Transport> transport =
        MakeWebSocketTransport(std::weak_ptr<Outbox>(this->shared_from_this()), loop_);
    absl::StatusOr<std::shared_ptr<Session>> session =
        ctx().hooks.engine->Connect(*user, hello->device, hello->since, transport);
    if (!session.ok()) {
      FailHello(ConnectErrorCloseCode(session.status()), std::string(session.status().message()));
      return;
    }
    session_ = *std::move(session);
    link_.state = LinkState::kOpen;
    welcome_pending_ = true;
    if (ctx().hooks.on_session) ctx().hooks.on_session(*user, hello->device, true);
    if (ctx().hooks.on_token_session) {
      ctx().hooks.on_token_session(hello->token, *user, hello->device,
                                  std::weak_ptr<Transport>(transport));
    }
  }

  void FailHello(std::uint16_t code, std::string_view reason) {
    ctx().counters.hello_failures.fetch_add(1, std::memory_order_relaxed);
    BeginClose(code, reason, /*drain=*/true);
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
    if (link_.closing()) return;
    std::vector<OutFrame>& held = Rare().held;
    if (held.size() >= ctx().options.max_queue_frames) {
      ctx().counters.slow_closes.fetch_add(1, std::memory_order_relaxed);
      BeginClose(Code(CloseCode::kPolicy), "too many frames before welcome", /*drain=*/false);
      return;
    }
    held.push_back(std::move(frame));
  }

  // The engine's first frames are queued: what was held goes behind them.
  void ReleaseHeld() {
    if (!welcome_pending_) return;
    welcome_pending_ = false;
    if (rare_ == nullptr) return;
    std::vector<OutFrame> held = std::move(rare_->held);
    rare_->held = {};
    DropRareIfUnused();
    for (const OutFrame& f : held) Enqueue(f);
  }

  void Enqueue(const OutFrame& frame) { EnqueueJson(frame.json, frame.answers_cid); }

  // Copies one frame's JSON, behind its header, into the write buffer.
  // Returns false when nothing more may be queued (closing, or closed now
  // for going over the queue's limit).
  bool EnqueueJson(std::string_view json, std::string_view answers_cid) {
    if (link_.closing()) return false;
    if (!answers_cid.empty()) FinishTiming(answers_cid);
    if (!write_.Push(json, ctx().options.max_queue_bytes, ctx().options.max_queue_frames)) {
      CloseSlowReader();
      return false;
    }
    ScheduleWrite();
    return true;
  }

  // The answer to a timed send leaves now.
  void FinishTiming(std::string_view cid) {
    if (rare_ == nullptr) return;  // nothing timed
    if (auto took = rare_->send_times.Finish(cid)) ctx().counters.send_latency.Observe(*took);
  }

  void CloseSlowReader() {
    ctx().counters.slow_closes.fetch_add(1, std::memory_order_relaxed);
    BeginClose(Code(CloseCode::kPolicy), "send queue over its limit: the client does not read",
               /*drain=*/false);
  }

  // Starts a write at the end of this loop turn, unless one is in flight or
  // already scheduled (see "Writing" above).
  void ScheduleWrite() {
    if (write_.writing || write_.write_scheduled) return;  // (the 101 answer is a write too)
    write_.write_scheduled = true;
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      self->write_.write_scheduled = false;
      if (self->write_.writing || self->link_.finished()) return;
      if (self->write_.has_work()) {
        if (self->link_.may_write_queue()) self->DoWrite();
      } else if (self->link_.state == LinkState::kClosing) {
        self->DoClose();
      }
    });
  }

  void DoWrite() {
    write_.writing = true;
    net::async_write(stream_, write_.StartBatch(Socket().native_handle()),
                     beast::bind_front_handler(&WebSocketSession::OnWrite,
                                               this->shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t bytes) {
    write_.writing = false;
    if (ec) {
      Finish();
      return;
    }
    ctx().counters.frames_out.fetch_add(write_.FinishBatch(), std::memory_order_relaxed);
    ctx().counters.bytes_out.fetch_add(bytes, std::memory_order_relaxed);
    if (write_.has_work() && link_.may_write_queue()) {
      DoWrite();
      return;
    }
    write_.Idle(Socket().native_handle());
    DropRareIfUnused();
    if (link_.state == LinkState::kClosing) DoClose();
  }

  // --- closing (the transitions: link_state.h)

  // Closes with `code` once the queue is written (drain) or after the write
  // in flight (no drain). A close that does not finish within close_timeout
  // drops the TCP connection.
  void BeginClose(std::uint16_t code, std::string_view reason, bool drain) {
    if (link_.closing()) return;
    link_.state = LinkState::kClosing;
    Rare().close_frame = EncodeCloseFrame(code, reason);
    if (!drain) write_.DropQueued();
    ArmGuard(ctx().options.close_timeout);
    if (!write_.writing) {  // (while the 101 answer is written, OnAccept goes on)
      if (write_.has_work()) {
        DoWrite();
      } else {
        DoClose();
      }
    }
  }

  void DoClose() {
    link_.state = LinkState::kCloseWriting;
    write_.writing = true;
    net::async_write(stream_, net::buffer(Rare().close_frame),
                     beast::bind_front_handler(&WebSocketSession::OnCloseSent,
                                               this->shared_from_this()));
  }

  void OnCloseSent(beast::error_code ec, std::size_t) {
    write_.writing = false;
    link_.state = LinkState::kCloseSent;
    std::string().swap(Rare().close_frame);
    DropRareIfUnused();
    if (ec) {
      Finish();
      return;
    }
    if (link_.peer != PeerSide::kReading) {
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
      if (link_.state == LinkState::kShutdown) return;
      link_.state = LinkState::kShutdown;
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->DropConnection(); });
    }
  }

  // --- the one deadline, two uses: the guard bounds the opening and the
  // closing handshake (kAccepting, then closing), the wait bounds hello and
  // idleness (in between). Arming one replaces the other.

  // Drops the TCP connection unless cancelled within `timeout`.
  void ArmGuard(std::chrono::milliseconds timeout) {
    guard_ = true;
    loop_.deadlines().Arm(*this, Clock::now() + timeout);
  }

  void ArmDeadline(Clock::time_point when) {
    guard_ = false;
    loop_.deadlines().Arm(*this, when);
  }

  void CancelDeadline() { loop_.deadlines().Cancel(*this); }

  void OnDeadline() override {
    // Alive while armed (a destroyed session cancels its deadline); kept
    // alive through what follows.
    auto self = this->shared_from_this();
    if (guard_) {
      DropConnection();
      return;
    }
    if (link_.closing()) return;
    if (link_.state == LinkState::kAwaitingHello) {
      FailHello(Code(CloseCode::kUnauthorized), "no hello in time");
      return;
    }
    const Clock::time_point idle_at = last_frame_ + ctx().options.idle_timeout;
    if (Clock::now() >= idle_at) {
      ctx().counters.idle_closes.fetch_add(1, std::memory_order_relaxed);
      BeginClose(Code(CloseCode::kIdle), "no frame for the idle timeout", /*drain=*/true);
      return;
    }
    ArmDeadline(idle_at);
  }

  auto& Socket() {
    if constexpr (kPlain) {
      return stream_;
    } else {
      return beast::get_lowest_layer(stream_).socket();
    }
  }

  void DropConnection() {
    CloseSocket();
    Finish();
  }

  // Plain: out of the loop's readiness set first (its fd number may be
  // reused as soon as it closes). Pending operations complete with an
  // error and let go; a pending wait for readiness is let go by the set.
  void CloseSocket() {
    if constexpr (kPlain) loop_.readiness().Remove(read_handle_);
    beast::error_code ignored;
    Socket().close(ignored);
  }

  // The connection is over: tell the engine once, drop the queue, close the
  // socket (pending operations complete with an error and let go).
  void Finish() {
    if (link_.finished()) return;
    link_.state = LinkState::kFinished;
    CancelDeadline();
    write_.Clear();
    if (rare_ != nullptr) std::vector<OutFrame>().swap(rare_->held);
    CloseSocket();
    if (session_ != nullptr) {
      if (ctx().hooks.on_session) {
        ctx().hooks.on_session(UserId(session_->user()), DeviceId(session_->device()), false);
      }
      session_->Disconnect();
      session_.reset();
    }
  }

  static constexpr int kMaxReadRounds = 4;
  static constexpr std::size_t kCarryMax = 256;  // > a partial control frame (139)
  static_assert(kCarryMax + 16 * 1024 <= ScratchLease::size());
  static constexpr std::size_t kTlsChunk = 16 * 1024;
  struct NoHead {};
  using Head = std::conditional_t<kPlain, NoHead, std::array<char, kHeadBytes>>;
  struct NoHandle {};
  using ReadHandle = std::conditional_t<kPlain, ReadinessSet::Handle, NoHandle>;
  struct NoBuffer {};
  using TlsBuffer = std::conditional_t<kPlain, NoBuffer, std::unique_ptr<char[]>>;
  // What a connection needs around its opening and closing handshakes and
  // while it sends, not while it idles: allocated at the first use, given
  // back when unused (DropRareIfUnused), so an idle connection holds none.
  struct RareParts {
    std::string handshake;         // the accept value, then the 101 answer being written
    std::string close_frame;       // ours, while it is written
    std::vector<OutFrame> held;    // the connection's own answers until welcome
    SendTimes send_times;          // the sends whose answers have not left yet
    bool unused() const {
      return handshake.empty() && close_frame.empty() && held.empty() && send_times.empty();
    }
  };

  RareParts& Rare() {
    if (rare_ == nullptr) rare_ = std::make_unique<RareParts>();
    return *rare_;
  }

  // Gives the block back once nothing in it is in use (after the opening
  // and the closing handshake, after welcome, and when the connection's
  // writes go idle with no send left to time: one block per burst of a
  // busy sender, not one per send).
  void DropRareIfUnused() {
    if (rare_ != nullptr && rare_->unused()) rare_.reset();
  }

  // The server's context is the loop's (IoLoop::context()): no pointer here.
  ServerContext& ctx() const { return loop_.context(); }

  IoLoop& loop_;
  Stream stream_;

  // Reading.
  FrameReader reader_;
  LazyBuffer carry_;                    // unparsed bytes for the next read
  [[no_unique_address]] TlsBuffer tls_buffer_{};  // TLS, while bytes keep coming: kTlsChunk
  [[no_unique_address]] Head head_{};   // TLS: where an idle connection's read lands
  [[no_unique_address]] ReadHandle read_handle_{};  // plain: its place in the loop's set

  Clock::time_point last_frame_{};
  std::shared_ptr<Session> session_;
  std::unique_ptr<RareParts> rare_;  // null while idle (RareParts)

  // [[no_unique_address]]: the fields below go in its tail (a pointer and
  // one byte of flags), not in a word of their own.
  [[no_unique_address]] WritePath write_;
  Link link_;
  bool welcome_pending_ = false;  // hello accepted, no frame from the engine yet
  bool guard_ = false;            // the deadline drops TCP (else: hello, idle)
};

}  // namespace

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_WEBSOCKET_SESSION_H_
