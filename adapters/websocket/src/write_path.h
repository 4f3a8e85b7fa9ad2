// write_path.h (private): the write side of one WebSocket connection: the
// queue of encoded frames, the gathered batch being written, the pending
// pong and TCP_CORK.
//
// Frames leave in batches: up to kMaxBatchFrames frames (kMaxBatchBytes)
// in one gathered write, each a text frame whose header is written beside
// it (no copy of the JSON), a pending pong first. While more waits behind a
// batch the socket is corked, so that a burst leaves in full TCP segments;
// it is uncorked as soon as the queue empties, so a lone frame is never
// delayed. Memory: nothing on the heap once the queue and batch are empty
// (Idle gives the batch's arrays back to the thread's pool).
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

#include "frame_queue.h"

namespace courier::websocket::internal {

class WritePath {
 public:
  static constexpr std::size_t kMaxBatchFrames = 64;
  static constexpr std::size_t kMaxBatchBytes = 256 * 1024;

  // Queues the JSON of one text frame. Returns false when the queue (with
  // the batch in flight) is then over `max_bytes` or `max_frames`: the
  // client does not read, and the caller closes.
  bool Push(std::string json, std::size_t max_bytes, std::size_t max_frames);
  // The latest ping's payload: one pong answers it (only the latest ping
  // needs an answer).
  void SetPong(std::string_view payload);
  // Something waits to be written: queued frames or a pong.
  bool has_work() const { return !queue_.empty() || pong_pending_; }
  std::size_t queued_bytes() const { return queued_bytes_; }

  // Moves the next batch out of the queue (a pending pong first) and
  // returns its gathered buffers, valid until FinishBatch. Corks `fd` when
  // more waits behind the batch. REQUIRES: has_work().
  const std::vector<boost::asio::const_buffer>& StartBatch(int fd);
  // The batch was written; returns how many text frames it held.
  std::size_t FinishBatch();
  // Nothing more to write for now: give the batch's memory back, uncork.
  void Idle(int fd);
  // Drops the queued frames and the pong (a close without drain); the batch
  // in flight stays.
  void DropQueued();
  // The connection is over: drops the queue (the batch's memory goes with
  // the session).
  void Clear();

  // The write in flight (a batch, the 101 answer or the close frame), and
  // a write posted to the end of the loop's turn.
  bool writing = false;
  bool write_scheduled = false;

 private:
  // What a write in flight holds: the batch's frames, their headers, the
  // gathered buffers and the pong. Taken from a small per-thread pool when
  // a write starts and given back when the connection goes idle, so that an
  // idle connection holds none of it and a busy one does not allocate the
  // three arrays at every burst.
  struct InFlight {
    std::vector<std::string> batch;     // being written
    std::vector<std::uint8_t> headers;  // the batch's frame headers, one slot each
    std::vector<boost::asio::const_buffer> buffers;
    std::string pong_frame;  // the pong being written
  };
  struct InFlightDeleter {
    void operator()(InFlight* in_flight) const;  // back to this thread's pool
  };
  using InFlightPtr = std::unique_ptr<InFlight, InFlightDeleter>;
  static InFlightPtr TakeInFlight();
  static std::vector<InFlight*>& ThreadPool();

  // TCP_CORK on `fd` (Linux; elsewhere a no-op).
  void Cork(int fd, bool on);

  FrameQueue queue_;       // waiting
  InFlightPtr in_flight_;  // while writing (and until Idle)
  std::string pong_;       // payload of the latest ping not yet answered
  std::size_t queued_bytes_ = 0;  // JSON bytes queued or in the batch
  bool pong_pending_ = false;
  bool corked_ = false;
};

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_WRITE_PATH_H_
