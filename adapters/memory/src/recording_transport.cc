// RecordingTransport: a Transport that keeps what the engine sends, for tests
// and for drivers that run the engine without sockets.

#include <iterator>
#include <string_view>
#include <utility>
#include <vector>

#include "courier/sync.h"
#include "courier/memory.h"

namespace courier::memory {

void RecordingTransport::Send(std::vector<ServerFrame> frames) {
  MutexLock lock(&mu_);
  if (close_.has_value()) return;  // later Sends are dropped, as after a real close
  total_ += frames.size();
  frames_.insert(frames_.end(), std::make_move_iterator(frames.begin()),
                 std::make_move_iterator(frames.end()));
}

void RecordingTransport::Close(CloseCode code, std::string_view /*reason*/) {
  MutexLock lock(&mu_);
  if (!close_.has_value()) close_ = code;  // idempotent: the first code stays
}

std::vector<ServerFrame> RecordingTransport::Take() {
  MutexLock lock(&mu_);
  std::vector<ServerFrame> out;
  out.swap(frames_);
  return out;
}

bool RecordingTransport::closed() const {
  MutexLock lock(&mu_);
  return close_.has_value();
}

std::optional<CloseCode> RecordingTransport::close_code() const {
  MutexLock lock(&mu_);
  return close_;
}

std::size_t RecordingTransport::frame_count() const {
  MutexLock lock(&mu_);
  return total_;
}

}  // namespace courier::memory
