// ws_client.h: the load generator's WebSocket client (our own event loop,
// our own framing).
//
// IoPool runs N EventLoops (event_loop.h), one thread each; every connection
// lives on one of them, so a connection's handlers never run concurrently
// and need no lock. WsConn is one client connection speaking PROTOCOL.md:
// TCP connect, WebSocket handshake (RFC 6455; Sec-WebSocket-Accept checked),
// `hello`, then a read loop that hands each parsed frame to the owner's
// callback.
//
// It works in batches, like an event-loop server: when its socket is ready
// it reads until a short read (everything the socket has, the buffer growing
// when a read fills it), every complete frame is handed to on_frame in
// order, and what those callbacks (and anything else in the loop's turn)
// sent goes out at the end of the turn in ONE write, followed by the ack
// (cumulative and coalesced: the highest seq asked for, once per write, as a
// real client does). A write the socket does not take whole waits for the
// socket to be writable; what is sent meanwhile goes with the next one.
// Frames are encoded and masked straight into a reused buffer, and parsed in
// place: no heap allocation per frame once the buffers have grown.
//
// Ownership: WsConn is kept alive by its loop from Start to its end, and by
//   the owner's shared_ptr. The IoPool must outlive every connection on it.
// Thread-safety: Start, Post and Close may be called from any thread; Send
//   and Ack only on the connection's thread (inside its callbacks or a Post).
// Blocking: nothing blocks but IoPool's destructor (joins the threads).
#ifndef COURIER_BENCH_LOAD_WS_CLIENT_H_
#define COURIER_BENCH_LOAD_WS_CLIENT_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>

#include "event_loop.h"
#include "server_frame.h"

namespace courier::load {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

class IoPool {
 public:
  explicit IoPool(std::size_t threads);
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  // Round-robin over the loops.
  EventLoop& Next();
  std::size_t size() const { return loops_.size(); }
  // CPU time (user + system, microseconds) of the pool's threads so far.
  std::uint64_t ThreadCpuMicros() const;

 private:
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
};

class WsConn final : public LoopHandler, public std::enable_shared_from_this<WsConn> {
 public:
  struct Callbacks {
    // Every frame after the handshake, in order.
    std::function<void(WsConn&, const InFrame&)> on_frame;
    // The connection ended: `ec` is empty after a close this side asked for.
    // Called exactly once, also when the connect or the handshake failed.
    std::function<void(WsConn&, beast::error_code ec, std::string_view where)> on_end;
    // An ack frame carrying `seq` was written to the socket (optional).
    std::function<void(WsConn&, std::uint64_t seq)> on_ack_written;
    // Everything the socket had is read and dispatched (optional): the end
    // of one batch of on_frame calls.
    std::function<void(WsConn&)> on_batch_end;
  };

  WsConn(EventLoop& loop, tcp::endpoint endpoint, Callbacks callbacks);
  ~WsConn() override;
  WsConn(const WsConn&) = delete;
  WsConn& operator=(const WsConn&) = delete;

  // Connects, does the handshake and sends `hello` (a JSON frame). Posts.
  void Start(std::string hello);
  // Runs `fn` on the connection's thread.
  void Post(std::function<void()> fn);
  // Queues a text frame (copied and masked into the write buffer); it leaves
  // with the write at the end of the loop's turn. REQUIRES: on the
  // connection's thread.
  void Send(std::string_view frame);
  // Acks up to `seq` at the end of the next write (cumulative, coalesced).
  // REQUIRES: on the connection's thread.
  void Ack(std::uint64_t seq);
  // Closes (1000) after the queued frames. Posts; idempotent.
  void Close();

  // When the hello frame was handed to the socket (valid after the handshake).
  SteadyClock::time_point hello_at() const { return hello_at_; }
  std::size_t index = 0;  // the owner's tag

 private:
  void OnReady(std::uint32_t events) override;
  void OnFlush() override;
  void Connect();
  void OnConnected();
  // Reads until a short read; false when the connection ended.
  bool ReadAll();
  // What one read brought: the handshake's answer, then frames.
  bool OnBytes();
  bool OnHandshakeBytes();
  void OnHandshake();
  // Hands every complete frame in in_ to the callbacks; false when the
  // connection ended (a protocol error or a close).
  bool DispatchFrames();
  bool OnMessage(char* data, std::size_t len);
  // Asks the loop for a write at the end of the turn.
  void Flush();
  // Writes on from writing_off_; on completion reports the ack and starts
  // the next write when there is one.
  void ContinueWrite();
  void End(beast::error_code ec, std::string_view where);

  EventLoop& loop_;
  tcp::endpoint endpoint_;
  Callbacks callbacks_;
  int fd_ = -1;
  bool connecting_ = false;  // connect() in progress
  bool handshake_sent_ = false;
  std::string hello_;
  std::string key_;          // Sec-WebSocket-Key sent
  std::string in_;           // received, not yet consumed: in_[0, in_len_)
  std::size_t in_len_ = 0;
  std::string fragments_;    // a fragmented message being assembled
  bool in_fragmented_ = false;
  std::string out_;          // frames waiting for the next write
  std::string writing_buf_;  // the write in progress: writing_buf_[writing_off_, size)
  std::size_t writing_off_ = 0;
  bool writing_ = false;
  std::uint64_t ack_wanted_ = 0;
  std::uint64_t ack_sent_ = 0;
  std::uint64_t ack_in_flight_ = 0;  // seq of the ack in the write in progress, 0 if none
  bool open_ = false;
  bool close_wanted_ = false;
  bool closing_ = false;     // our close frame is queued or written
  bool ended_ = false;
  SteadyClock::time_point hello_at_{};
};

// "HOST:PORT" -> endpoint (numeric addresses only).
std::optional<tcp::endpoint> ParseEndpoint(const std::string& host_port);

}  // namespace courier::load

#endif  // COURIER_BENCH_LOAD_WS_CLIENT_H_
