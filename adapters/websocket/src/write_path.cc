// write_path.cc: see write_path.h.
#include "write_path.h"

#include <utility>
#include <vector>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "ws_frame.h"

namespace courier::websocket::internal {

namespace {

// Per thread: the buffers of connections gone idle, for the next busy
// connection of the thread. At most kPoolMax, each holding at most
// kMaxKeptBufferBytes per string (≈ 4 MB per thread at worst). Sized so
// that the connections of a busy loop, each idle between two of its bursts,
// find buffers already grown (with 64, W1's 100 connections per loop often
// found the pool empty: a new block, strings grown again).
constexpr std::size_t kPoolMax = 256;


void Trim(std::string& s) {
  if (s.capacity() > WritePath::kMaxKeptBufferBytes) {
    std::string().swap(s);
  } else {
    s.clear();
  }
}

}  // namespace

std::vector<WritePath::Buffers*>& WritePath::ThreadPool() {
  struct Holder {
    std::vector<Buffers*> free;
    ~Holder() {
      for (Buffers* b : free) delete b;
    }
  };
  thread_local Holder holder;
  return holder.free;
}

void WritePath::BuffersDeleter::operator()(Buffers* buffers) const {
  std::vector<Buffers*>& pool = ThreadPool();
  if (pool.size() >= kPoolMax) {
    delete buffers;
    return;
  }
  Trim(buffers->queued);
  Trim(buffers->batch);
  std::string().swap(buffers->pong);
  buffers->queued_frames = buffers->queued_payload = 0;
  buffers->batch_frames = buffers->batch_payload = 0;
  pool.push_back(buffers);
}

WritePath::Buffers& WritePath::Bufs() {
  if (bufs_ == nullptr) {
    std::vector<Buffers*>& pool = ThreadPool();
    if (pool.empty()) {
      bufs_ = BuffersPtr(new Buffers);
    } else {
      bufs_ = BuffersPtr(pool.back());
      pool.pop_back();
    }
  }
  return *bufs_;
}

bool WritePath::Added(std::size_t frames, std::size_t payload, std::size_t max_bytes,
                      std::size_t max_frames) {
  Buffers& b = *bufs_;
  b.queued_frames += frames;
  b.queued_payload += payload;
  return b.queued_payload + b.batch_payload <= max_bytes && b.queued_frames + b.batch_frames <= max_frames;
}

bool WritePath::Push(std::string_view json, std::size_t max_bytes, std::size_t max_frames) {
  AppendTextFrame(json, Bufs().queued);
  return Added(1, json.size(), max_bytes, max_frames);
}

bool WritePath::PushEncoded(std::string&& encoded, std::size_t frames,
                            std::size_t payload_bytes, std::size_t max_bytes,
                            std::size_t max_frames) {
  Buffers& b = Bufs();
  if (b.queued.empty()) {
    b.queued.swap(encoded);
  } else {
    b.queued.append(encoded);
  }
  return Added(frames, payload_bytes, max_bytes, max_frames);
}

void WritePath::SetPong(std::string_view payload) {
  Bufs().pong.assign(payload);
  pong_pending_ = true;
}

boost::asio::const_buffer WritePath::StartBatch(int fd) {
  Buffers& b = Bufs();
  b.batch.clear();
  if (pong_pending_) {
    b.batch = EncodeControlFrame(Opcode::kPong, b.pong);
    pong_pending_ = false;
    std::string().swap(b.pong);
    b.batch.append(b.queued);
    b.queued.clear();
  } else {
    b.batch.swap(b.queued);  // the old batch's memory takes the next frames
  }
  b.batch_frames = b.queued_frames;
  b.batch_payload = b.queued_payload;
  b.queued_frames = b.queued_payload = 0;
  if (burst_) Cork(fd, true);
  burst_ = true;
  return boost::asio::buffer(b.batch);
}

std::size_t WritePath::FinishBatch() {
  if (bufs_ == nullptr) return 0;
  Buffers& b = *bufs_;
  const std::size_t frames = b.batch_frames;
  b.batch_frames = b.batch_payload = 0;
  b.batch.clear();
  return frames;
}

void WritePath::Idle(int fd) {
  if (bufs_ != nullptr && !has_work() && bufs_->batch.empty()) bufs_.reset();
  burst_ = false;
  Cork(fd, false);
}

void WritePath::DropQueued() {
  if (bufs_ != nullptr) {
    Buffers& b = *bufs_;
    b.queued_frames = b.queued_payload = 0;
    b.queued.clear();
    std::string().swap(b.pong);
  }
  pong_pending_ = false;
}

void WritePath::Clear() {
  DropQueued();
  if (!writing) {
    bufs_.reset();
  }
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
