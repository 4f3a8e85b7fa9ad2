// read_scratch.h (private): the io thread's buffer for reading sockets.
//
// A WebSocket connection keeps no read buffer of its own while idle: its
// pending read lands in a few bytes inside the session, and when it
// completes, the connection reads what else the socket holds into its io
// thread's scratch buffer and parses it there, synchronously; only a
// partial header or control frame (at most 139 bytes) is carried over to
// the next read. So N idle connections cost no read buffers, and one busy
// connection reads up to kScratchBytes per system call.
//
// Thread-safety: one scratch per thread. Lease() hands it out while no
//   lease of this thread is alive, and a heap buffer otherwise (a handler
//   that, against expectation, runs another connection's handler inline).
// Blocking: no.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_READ_SCRATCH_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_READ_SCRATCH_H_

#include <cstddef>
#include <memory>

namespace courier::websocket::internal {

class ScratchLease {
 public:
  static constexpr std::size_t kScratchBytes = 64 * 1024;

  ScratchLease() {
    Slot& slot = ThisThread();
    if (!slot.leased) {
      slot.leased = true;
      if (slot.bytes == nullptr) slot.bytes = std::make_unique<char[]>(kScratchBytes);
      data_ = slot.bytes.get();
      owner_ = &slot;
    } else {
      own_ = std::make_unique<char[]>(kScratchBytes);
      data_ = own_.get();
    }
  }
  ~ScratchLease() {
    if (owner_ != nullptr) owner_->leased = false;
  }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;

  char* data() const { return data_; }
  static constexpr std::size_t size() { return kScratchBytes; }

 private:
  struct Slot {
    std::unique_ptr<char[]> bytes;
    bool leased = false;
  };
  static Slot& ThisThread() {
    thread_local Slot slot;
    return slot;
  }

  char* data_ = nullptr;
  Slot* owner_ = nullptr;
  std::unique_ptr<char[]> own_;
};

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_READ_SCRATCH_H_
