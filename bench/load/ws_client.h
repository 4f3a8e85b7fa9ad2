// ws_client.h: the load generator's WebSocket client (Asio, our own framing).
//
// IoPool runs N io_contexts, one thread each; every connection lives on one
// of them, so a connection's handlers never run concurrently and need no
// lock. WsConn is one client connection speaking PROTOCOL.md: TCP connect,
// WebSocket handshake (RFC 6455; Sec-WebSocket-Accept checked), `hello`,
// then a read loop that hands each parsed frame to the owner's callback.
//
// It works in batches, like an event-loop server: one read takes everything
// the socket has (up to the buffer), every complete frame in it is handed to
// on_frame in order, and what those callbacks sent goes out afterwards in ONE
// gathered write, followed by the ack (cumulative and coalesced: the highest
// seq asked for, once per write, as a real client does). One write is in
// flight at a time; what is sent meanwhile waits for the next one. Frames are
// encoded and masked straight into a reused buffer, and parsed in place: no
// heap allocation per frame once the buffers have grown.
//
// Ownership: WsConn is kept alive by its pending operations and by the
//   owner's shared_ptr. The IoPool must outlive every connection on it.
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

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>

namespace courier::load {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

// One server frame, parsed. String views are valid during the callback only.
struct InFrame {
  enum class Op { kWelcome, kSent, kMsg, kReceipt, kPresence, kSynced, kPong, kError, kOther };
  Op op = Op::kOther;
  std::uint64_t seq = 0;     // msg, receipt, synced
  std::uint64_t cursor = 0;  // welcome
  std::uint64_t head = 0;    // welcome
  bool dup = false;          // sent
  std::string_view cid, id, from, body, code, message;
};

// Parses one server frame; false when it is not a JSON object with an op.
// The views in `out` point into a per-thread copy of `json`, valid until the
// next call on the same thread.
bool ParseServerFrame(std::string_view json, InFrame& out);
// The same, in place: `json[0..len)` is parsed and unescaped where it lies
// and the views in `out` point into it. REQUIRES: json[len] == '\0'.
bool ParseServerFrameInPlace(char* json, std::size_t len, InFrame& out);

class IoPool {
 public:
  explicit IoPool(std::size_t threads);
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  // Round-robin over the contexts.
  net::io_context& Next();
  std::size_t size() const { return contexts_.size(); }
  // CPU time (user + system, microseconds) of the pool's threads so far.
  std::uint64_t ThreadCpuMicros() const;

 private:
  std::vector<std::unique_ptr<net::io_context>> contexts_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
};

class WsConn : public std::enable_shared_from_this<WsConn> {
 public:
  struct Callbacks {
    // Every frame after the handshake, in order.
    std::function<void(WsConn&, const InFrame&)> on_frame;
    // The connection ended: `ec` is empty after a close this side asked for.
    // Called exactly once, also when the connect or the handshake failed.
    std::function<void(WsConn&, beast::error_code ec, std::string_view where)> on_end;
    // An ack frame carrying `seq` was written to the socket (optional).
    std::function<void(WsConn&, std::uint64_t seq)> on_ack_written;
  };

  WsConn(net::io_context& io, tcp::endpoint endpoint, Callbacks callbacks);

  // Connects, does the handshake and sends `hello` (a JSON frame). Posts.
  void Start(std::string hello);
  // Runs `fn` on the connection's thread.
  void Post(std::function<void()> fn);
  // Queues a text frame (copied and masked into the write buffer); it leaves
  // with the next write: after the batch when called from on_frame, at once
  // otherwise. REQUIRES: on the connection's thread.
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
  void OnConnect(beast::error_code ec);
  void OnHandshakeWritten(beast::error_code ec);
  void ReadHandshake();
  void OnHandshakeRead(beast::error_code ec, std::size_t bytes);
  void OnHandshake();
  void DoRead();
  void OnRead(beast::error_code ec, std::size_t bytes);
  // Hands every complete frame in in_ to the callbacks; false when the
  // connection ended (a protocol error or a close).
  bool DispatchFrames();
  bool OnMessage(char* data, std::size_t len);
  void Flush();
  void OnWrite(beast::error_code ec, std::size_t bytes);
  void End(beast::error_code ec, std::string_view where);

  net::io_context& io_;
  tcp::endpoint endpoint_;
  Callbacks callbacks_;
  tcp::socket socket_;
  std::string hello_;
  std::string key_;          // Sec-WebSocket-Key sent
  std::string in_;           // received, not yet consumed: in_[0, in_len_)
  std::size_t in_len_ = 0;
  std::string fragments_;    // a fragmented message being assembled
  bool in_fragmented_ = false;
  std::string out_;          // frames waiting for the next write
  std::string writing_buf_;  // the write in flight
  bool writing_ = false;
  bool in_batch_ = false;    // inside DispatchFrames: Send and Ack wait for the batch's end
  std::uint64_t ack_wanted_ = 0;
  std::uint64_t ack_sent_ = 0;
  std::uint64_t ack_in_flight_ = 0;  // seq of the ack in the write in flight, 0 if none
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
