// write_path.h (private): the write side of one WebSocket connection: the
// write buffer of encoded frames, the batch being written, the pending pong
// and TCP_CORK.
//
// Frames are encoded straight into one contiguous write buffer, each an
// RFC 6455 text frame (header, then JSON) right behind the one before: the
// session copies a frame's JSON from the thread's encoding scratch
// (EncodeServerFrameView, courier/websocket/frame_codec.h) into it, or
// appends a batch encoded on another thread.
// A write takes the whole buffer at once (a pending pong first): the
// buffer becomes the batch in flight and the next frames go to a second
// buffer, so nothing is copied for a write and no memory is allocated per
// frame once the two buffers have grown to the connection's bursts. A
// batch that follows another of the same burst is written corked, so that
// the burst leaves in full TCP segments; the socket is uncorked as soon as
// nothing more waits, so a lone frame is never delayed.
//
// Memory: the two buffers and the pong live in one block taken from a
// per-thread pool at the first frame and given back when the connection
// goes idle (Idle), so an idle connection holds none of it.
//
// The session decides when to write (WebSocketSession: one write in flight,
// started at the end of the loop's turn); this class holds what is written.
// Thread-safety: none; the connection's loop thread owns it.
// Blocking: no (Cork is one setsockopt).
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_WRITE_PATH_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_WRITE_PATH_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/buffer.hpp>

namespace courier::websocket::internal {

class WritePath {
 public:
  // A pooled buffer that grew beyond this is freed instead of kept.
  static constexpr std::size_t kMaxKeptBufferBytes = 8 * 1024;

  // Appends one text frame whose payload is `json` (copied). Returns false
  // when the queue (with the batch in flight) is then over `max_bytes` of
  // JSON or `max_frames` frames: the client does not read, and the caller
  // closes.
  bool Push(std::string_view json, std::size_t max_bytes, std::size_t max_frames);
  // Appends `frames` text frames already encoded back to back (header and
  // payload each; `payload_bytes` is the sum of their payloads). Same
  // return value as Push. Nothing queued: `encoded` becomes the queue (no
  // copy of a fetched page); `encoded` is left empty or as it was.
  bool PushEncoded(std::string&& encoded, std::size_t frames, std::size_t payload_bytes,
                   std::size_t max_bytes, std::size_t max_frames);
  // The latest ping's payload: one pong answers it (only the latest ping
  // needs an answer).
  void SetPong(std::string_view payload);
  // Something waits to be written: queued frames or a pong.
  bool has_work() const {
    return pong_pending_ || (bufs_ != nullptr && !bufs_->queued.empty());
  }
  // JSON bytes queued or in the batch in flight.
  std::size_t queued_bytes() const {
    return bufs_ == nullptr ? 0 : bufs_->queued_payload + bufs_->batch_payload;
  }

  // Moves everything waiting (a pending pong first) into the batch and
  // returns its bytes, valid until FinishBatch. Corks `fd` when the batch
  // follows another one since the last Idle. REQUIRES: has_work() and no
  // batch in flight.
  boost::asio::const_buffer StartBatch(int fd);
  // The batch was written; returns how many text frames it held.
  std::size_t FinishBatch();
  // Nothing more to write for now: gives the buffers back to the thread's
  // pool (unless frames wait), uncorks.
  void Idle(int fd);
  // Drops the queued frames and the pong (a close without drain); the batch
  // in flight stays.
  void DropQueued();
  // The connection is over: drops the queue, and the buffers unless a
  // write is in flight (its batch stays until the session goes).
  void Clear();

 private:
  // What a busy connection writes from, pooled per thread.
  struct Buffers {
    std::string queued;  // text frames waiting, back to back
    std::string batch;   // being written
    std::string pong;    // payload of the latest ping not yet answered
    std::size_t queued_frames = 0;
    std::size_t queued_payload = 0;
    std::size_t batch_frames = 0;
    std::size_t batch_payload = 0;
  };
  struct BuffersDeleter {
    void operator()(Buffers* buffers) const;  // back to this thread's pool
  };
  using BuffersPtr = std::unique_ptr<Buffers, BuffersDeleter>;
  static std::vector<Buffers*>& ThreadPool();
  Buffers& Bufs();  // taken from the pool if this connection has none

  // Adds to the counts; the limits' verdict.
  bool Added(std::size_t frames, std::size_t payload, std::size_t max_bytes,
             std::size_t max_frames);
  // TCP_CORK on `fd` (Linux; elsewhere a no-op).
  void Cork(int fd, bool on);

  // The connection's one pointer; the counts (queued_bytes()) are in the
  // block, which an idle connection does not hold.
  BuffersPtr bufs_;
  // The flags are bits of one byte, so that the session may put its own
  // small fields in this object's tail (websocket_session.h: write_ is
  // [[no_unique_address]]).
  bool pong_pending_ : 1 = false;
  bool corked_ : 1 = false;
  bool burst_ : 1 = false;  // a batch was started since the last Idle

 public:
  // The write in flight (a batch, the 101 answer or the close frame), and
  // a write posted to the end of the loop's turn. (Declared last: beside
  // the flags above, in the word after bufs_.)
  bool writing : 1 = false;
  bool write_scheduled : 1 = false;
};

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_WRITE_PATH_H_
