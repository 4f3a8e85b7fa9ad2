// write_path.cc: see write_path.h.
#include "write_path.h"

#include <utility>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "ws_frame.h"

namespace courier::websocket::internal {

namespace net = boost::asio;

// Per thread: the InFlight objects of connections gone idle, for the next
// write of any connection of the thread. At most kPoolMax; their arrays are
// bounded by kMaxBatchFrames.
constexpr std::size_t kPoolMax = 64;

std::vector<WritePath::InFlight*>& WritePath::ThreadPool() {
  struct Holder {
    std::vector<InFlight*> free;
    ~Holder() {
      for (InFlight* in_flight : free) delete in_flight;
    }
  };
  thread_local Holder holder;
  return holder.free;
}

void WritePath::InFlightDeleter::operator()(InFlight* in_flight) const {
  std::vector<InFlight*>& pool = ThreadPool();
  if (pool.size() >= kPoolMax) {
    delete in_flight;
    return;
  }
  in_flight->batch.clear();
  in_flight->buffers.clear();
  std::string().swap(in_flight->pong_frame);
  pool.push_back(in_flight);
}

WritePath::InFlightPtr WritePath::TakeInFlight() {
  std::vector<InFlight*>& pool = ThreadPool();
  if (pool.empty()) return InFlightPtr(new InFlight);
  InFlight* in_flight = pool.back();
  pool.pop_back();
  return InFlightPtr(in_flight);
}

bool WritePath::Push(std::string json, std::size_t max_bytes, std::size_t max_frames) {
  queued_bytes_ += json.size();
  queue_.push_back(std::move(json));
  const std::size_t in_batch = in_flight_ != nullptr ? in_flight_->batch.size() : 0;
  return queued_bytes_ <= max_bytes && queue_.size() + in_batch <= max_frames;
}

void WritePath::SetPong(std::string_view payload) {
  pong_.assign(payload);
  pong_pending_ = true;
}

const std::vector<net::const_buffer>& WritePath::StartBatch(int fd) {
  if (in_flight_ == nullptr) in_flight_ = TakeInFlight();
  InFlight& w = *in_flight_;
  w.buffers.clear();
  std::size_t frames = 0;
  std::size_t bytes = 0;
  if (pong_pending_) {
    w.pong_frame = EncodeControlFrame(Opcode::kPong, pong_);
    pong_pending_ = false;
    std::string().swap(pong_);
    w.buffers.push_back(net::buffer(w.pong_frame));
  }
  while (!queue_.empty() && frames < kMaxBatchFrames &&
         (frames == 0 || bytes + queue_.front().size() <= kMaxBatchBytes)) {
    bytes += queue_.front().size();
    w.batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
    ++frames;
  }
  // Each header in its own slot of one array, sized before any buffer
  // points into it.
  w.headers.resize(frames * kMaxServerHeaderBytes);
  for (std::size_t i = 0; i < frames; ++i) {
    std::uint8_t* header = w.headers.data() + i * kMaxServerHeaderBytes;
    const std::size_t n = EncodeFrameHeader(Opcode::kText, w.batch[i].size(), header);
    w.buffers.push_back(net::buffer(header, n));
    w.buffers.push_back(net::buffer(w.batch[i]));
  }
  if (!queue_.empty()) Cork(fd, true);
  return w.buffers;
}

std::size_t WritePath::FinishBatch() {
  if (in_flight_ == nullptr) return 0;
  InFlight& w = *in_flight_;
  const std::size_t frames = w.batch.size();
  for (const std::string& frame : w.batch) queued_bytes_ -= frame.size();
  w.batch.clear();
  std::string().swap(w.pong_frame);
  return frames;
}

void WritePath::Idle(int fd) {
  in_flight_.reset();
  Cork(fd, false);
}

void WritePath::DropQueued() {
  while (!queue_.empty()) {
    queued_bytes_ -= queue_.back().size();
    queue_.pop_back();
  }
  pong_pending_ = false;
  std::string().swap(pong_);
}

void WritePath::Clear() {
  queue_.clear();
  queued_bytes_ = 0;
}

void WritePath::Cork(int fd, bool on) {
#if defined(TCP_CORK)
  if (corked_ == on) return;
  corked_ = on;
  const int value = on ? 1 : 0;
  ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &value, sizeof value);
#else
  (void)fd;
  (void)on;
#endif
}

}  // namespace courier::websocket::internal
