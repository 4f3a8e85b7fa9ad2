// RowIndex: an in-memory index from a two-part text key to the row positions
// (SQLite rowids) that may hold it.
//
// The SQLite message store keeps its two unique lookups, (sender, client id)
// and (inbox, message id), here instead of in on-disk indexes: a B-tree index
// keyed by sender or inbox dirties one page per distinct key in every commit,
// which the W1 profile showed to be most of a commit's cost. The index stores
// only a 64-bit hash of the key, so a hit is a CANDIDATE: the caller reads the
// row at each position and compares the real key. Two keys with one hash both
// stay (a hash maps to a small list of positions); a stale position (a row
// deleted by another process) is just a candidate that does not match.
//
// Thread-safety: none; the store guards it with its write mutex.
#ifndef COURIER_ADAPTERS_SQLITE_SRC_ROW_INDEX_H_
#define COURIER_ADAPTERS_SQLITE_SRC_ROW_INDEX_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace courier::sqlite {

class RowIndex {
 public:
  using Key = std::uint64_t;
  using Positions = absl::InlinedVector<std::int64_t, 1>;

  static Key KeyOf(absl::string_view a, absl::string_view b) {
    return absl::Hash<std::pair<absl::string_view, absl::string_view>>{}({a, b});
  }

  // The positions whose key hashed to `key` (nullptr: none).
  const Positions* Find(Key key) const {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second;
  }

  void Add(Key key, std::int64_t pos) { map_[key].push_back(pos); }

  // Removes one occurrence of (key, pos); absent is fine.
  void Remove(Key key, std::int64_t pos) {
    auto it = map_.find(key);
    if (it == map_.end()) return;
    Positions& list = it->second;
    auto at = std::find(list.begin(), list.end(), pos);
    if (at != list.end()) list.erase(at);
    if (list.empty()) map_.erase(it);
  }

  void Clear() { map_.clear(); }
  std::size_t size() const { return map_.size(); }

 private:
  absl::flat_hash_map<Key, Positions> map_;
};

}  // namespace courier::sqlite

#endif  // COURIER_ADAPTERS_SQLITE_SRC_ROW_INDEX_H_
