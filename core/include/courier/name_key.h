// courier/name_key.h: a compact key for maps keyed by a name (a UserId).
//
// A server keeps several maps keyed by user name (the engine's sessions,
// the WebSocket registry, presence, token state), one slot per connected
// user in each. As a std::string a name of 16 to 64 bytes costs its 32
// bytes in the slot and a heap block of its own; a NameKey holds a name of
// up to kInlineBytes (23) bytes in its 24 bytes, with no heap block, and a
// longer one in a block of exactly its size.
//
// NameMap<V> is a flat_hash_map keyed by NameKey with transparent hashing:
// find, contains, erase and operator[] take a std::string or string_view
// as they are (no NameKey is built for a lookup). NameNodeMap<V> is the same
// as a node_hash_map, for large values (below).
//
// Ownership: a NameKey owns a copy of its name (no sharing, no reference
//   count).
// Thread-safety: as a std::string (const methods from many threads; a
//   change needs exclusive access).
// Blocking: no (construction and copy may allocate for a long name).
#ifndef COURIER_CORE_NAME_KEY_H_
#define COURIER_CORE_NAME_KEY_H_

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/hash/hash.h"

namespace courier {

class NameKey {
 public:
  // The longest name held inline.
  static constexpr std::size_t kInlineBytes = 23;

  NameKey() { SetInlineSize(0); }
  explicit NameKey(std::string_view name) { Assign(name); }
  NameKey(const NameKey& other) { Assign(other.view()); }
  // Leaves `other` empty.
  NameKey(NameKey&& other) noexcept {
    std::memcpy(bytes_, other.bytes_, sizeof(bytes_));
    other.SetInlineSize(0);
  }
  NameKey& operator=(const NameKey& other) {
    if (this != &other) {
      NameKey copy(other);
      *this = std::move(copy);
    }
    return *this;
  }
  NameKey& operator=(NameKey&& other) noexcept {
    if (this != &other) {
      Free();
      std::memcpy(bytes_, other.bytes_, sizeof(bytes_));
      other.SetInlineSize(0);
    }
    return *this;
  }
  ~NameKey() { Free(); }

  // Valid while this key lives and is not assigned to.
  std::string_view view() const {
    if (on_heap()) return {HeapData(), HeapSize()};
    return {bytes_, kInlineBytes - static_cast<unsigned char>(bytes_[kTag])};
  }
  operator std::string_view() const { return view(); }  // NOLINT: a name, read as one
  std::string str() const { return std::string(view()); }
  bool empty() const { return view().empty(); }

  friend bool operator==(const NameKey& a, const NameKey& b) { return a.view() == b.view(); }
  friend bool operator!=(const NameKey& a, const NameKey& b) { return !(a == b); }
  template <typename H>
  friend H AbslHashValue(H h, const NameKey& key) {
    return H::combine(std::move(h), key.view());
  }

 private:
  // Inline: the name's bytes from the start, the last byte kInlineBytes
  // minus the size (0 for a name of kInlineBytes, whose last byte it is
  // not: the name ends before it). Heap: a pointer and a size at the
  // start, kHeap in the last byte.
  static constexpr std::size_t kTag = 23;
  static constexpr unsigned char kHeap = 0xFF;

  bool on_heap() const { return static_cast<unsigned char>(bytes_[kTag]) == kHeap; }
  const char* HeapData() const {
    const char* data;
    std::memcpy(&data, bytes_, sizeof(data));
    return data;
  }
  std::size_t HeapSize() const {
    std::size_t size;
    std::memcpy(&size, bytes_ + sizeof(char*), sizeof(size));
    return size;
  }
  void SetInlineSize(std::size_t size) {
    bytes_[kTag] = static_cast<char>(kInlineBytes - size);
  }
  void Assign(std::string_view name) {
    if (name.size() <= kInlineBytes) {
      if (!name.empty()) std::memcpy(bytes_, name.data(), name.size());
      SetInlineSize(name.size());
      return;
    }
    char* data = new char[name.size()];
    std::memcpy(data, name.data(), name.size());
    const std::size_t size = name.size();
    std::memcpy(bytes_, &data, sizeof(data));
    std::memcpy(bytes_ + sizeof(char*), &size, sizeof(size));
    bytes_[kTag] = static_cast<char>(kHeap);
  }
  void Free() {
    if (on_heap()) delete[] HeapData();
  }

  char bytes_[24];
};
static_assert(sizeof(NameKey) == 24);
static_assert(sizeof(char*) + sizeof(std::size_t) < sizeof(NameKey));

// Hash and equality over the name's bytes, for a NameKey, std::string or
// string_view alike.
struct NameHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view name) const {
    return absl::Hash<std::string_view>{}(name);
  }
};
struct NameEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};

template <typename V>
using NameMap = absl::flat_hash_map<NameKey, V, NameHash, NameEq>;

// The same with each entry in a node of its own (the table holds 8-byte
// pointers). A flat map's table has a slot for each of its capacity, of
// which 7/16 to 7/8 are in use (15,000 users: 32,767 slots, 46 % used), so
// an entry of S bytes costs S / load: for a map with one entry per
// connected user and an entry (key and value) of 48 bytes or more, a node
// per entry (its size, and 8 / load of table) costs less on average, and
// jumps less at each doubling (it costs more only near the top load).
// Lookups follow one more pointer; references stay valid across rehashes.
template <typename V>
using NameNodeMap = absl::node_hash_map<NameKey, V, NameHash, NameEq>;

}  // namespace courier

#endif  // COURIER_CORE_NAME_KEY_H_
