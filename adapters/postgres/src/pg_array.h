// One-dimensional PostgreSQL arrays as binary-format query parameters, so
// that a whole batch travels as a few parameters of one prepared statement
// (`unnest($1::text[], ...)`) with no quoting or escaping of its elements.
//
// Internal to courier::postgres (not installed).
// Thread-safety: a PgArray is used by one thread at a time; the functions
//   are pure.
// Blocking: nothing here blocks.
#ifndef COURIER_ADAPTERS_POSTGRES_PG_ARRAY_H_
#define COURIER_ADAPTERS_POSTGRES_PG_ARRAY_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "pg_connection.h"

namespace courier::postgres {

// Element types (pg_type OIDs, fixed by PostgreSQL).
enum class PgElement : std::uint32_t { kBytea = 17, kInt8 = 20, kText = 25 };

// Builds the array_recv wire form: a header (one dimension, no NULLs, the
// element OID, the length, lower bound 1) and each element as its length and
// bytes. The statement must cast its parameter to the matching array type.
class PgArray {
 public:
  explicit PgArray(PgElement element) : element_(element) {}

  // REQUIRES: element is kText or kBytea; the element is shorter than 1 GiB
  //   (the adapter's own limits keep it far smaller).
  void Add(absl::string_view value);
  // REQUIRES: element is kInt8.
  void AddInt(std::int64_t value);
  // A NULL element (any element type).
  void AddNull();

  std::size_t size() const { return count_; }
  // The parameter (binary); the array is consumed.
  PgParam Take() &&;

 private:
  PgElement element_;
  std::string items_;
  std::size_t count_ = 0;
  bool has_null_ = false;
};

}  // namespace courier::postgres

#endif  // COURIER_ADAPTERS_POSTGRES_PG_ARRAY_H_
