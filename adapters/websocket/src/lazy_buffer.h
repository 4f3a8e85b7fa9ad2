// lazy_buffer.h: a byte buffer that costs one pointer while it holds nothing.
//
// A connection's partial input (the bytes of a frame split across reads,
// the frames of a message split into several) is rare and short-lived, but
// a std::string for it costs 32 bytes in every connection, idle or not.
// LazyBuffer keeps its std::string in a block allocated at the first
// non-empty assign or append; Reset() gives the block back.
//
// Ownership: owns its block. Thread-safety: none (one connection's).
// Blocking: no (assign and append may allocate).
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_LAZY_BUFFER_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_LAZY_BUFFER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace courier::websocket::internal {

class LazyBuffer {
 public:
  // Never null (memcpy from an empty buffer is fine).
  const char* data() const { return bytes_ == nullptr ? "" : bytes_->data(); }
  std::size_t size() const { return bytes_ == nullptr ? 0 : bytes_->size(); }
  bool empty() const { return size() == 0; }
  std::string_view view() const { return bytes_ == nullptr ? std::string_view() : *bytes_; }
  // Heap bytes of the string's own buffer (0 without a block, or while the
  // string holds its bytes inline).
  std::size_t capacity() const {
    if (bytes_ == nullptr) return 0;
    return bytes_->capacity() > std::string().capacity() ? bytes_->capacity() : 0;
  }
  bool allocated() const { return bytes_ != nullptr; }

  // Replaces the bytes; an empty assign allocates nothing (it keeps a block
  // it has, emptied).
  void assign(const char* p, std::size_t n) {
    if (n == 0) {
      clear();
      return;
    }
    Get().assign(p, n);
  }
  void append(const char* p, std::size_t n) {
    if (n > 0) Get().append(p, n);
  }
  // Empties, keeping the block and its capacity.
  void clear() {
    if (bytes_ != nullptr) bytes_->clear();
  }
  void shrink_to_fit() {
    if (bytes_ != nullptr) bytes_->shrink_to_fit();
  }
  // Gives the block back.
  void Reset() { bytes_.reset(); }

 private:
  std::string& Get() {
    if (bytes_ == nullptr) bytes_ = std::make_unique<std::string>();
    return *bytes_;
  }

  std::unique_ptr<std::string> bytes_;
};

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_LAZY_BUFFER_H_
