// write_path.cc: see write_path.h.
#include "write_path.h"

#include <utility>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "ws_frame.h"

namespace courier::websocket::internal {

namespace net = boost::asio;

bool WritePath::Push(std::string json, std::size_t max_bytes, std::size_t max_frames) {
  queued_bytes_ += json.size();
  queue_.push_back(std::move(json));
  return queued_bytes_ <= max_bytes && queue_.size() + batch_.size() <= max_frames;
}

void WritePath::SetPong(std::string_view payload) {
  pong_.assign(payload);
  pong_pending_ = true;
}

const std::vector<net::const_buffer>& WritePath::StartBatch(int fd) {
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
  if (!queue_.empty()) Cork(fd, true);
  return buffers_;
}

std::size_t WritePath::FinishBatch() {
  const std::size_t frames = batch_.size();
  for (const std::string& frame : batch_) queued_bytes_ -= frame.size();
  batch_.clear();
  std::string().swap(pong_frame_);
  return frames;
}

void WritePath::Idle(int fd) {
  std::vector<std::string>().swap(batch_);
  std::vector<std::uint8_t>().swap(headers_);
  std::vector<net::const_buffer>().swap(buffers_);
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
