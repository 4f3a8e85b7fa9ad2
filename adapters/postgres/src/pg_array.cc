#include "pg_array.h"

#include <utility>

namespace courier::postgres {
namespace {

void PutInt32(std::string& out, std::uint32_t v) {
  const char bytes[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                         static_cast<char>(v >> 8), static_cast<char>(v)};
  out.append(bytes, 4);
}

}  // namespace

void PgArray::Add(absl::string_view value) {
  PutInt32(items_, static_cast<std::uint32_t>(value.size()));
  items_.append(value.data(), value.size());
  ++count_;
}

void PgArray::AddInt(std::int64_t value) {
  const auto v = static_cast<std::uint64_t>(value);
  PutInt32(items_, 8);
  PutInt32(items_, static_cast<std::uint32_t>(v >> 32));
  PutInt32(items_, static_cast<std::uint32_t>(v));
  ++count_;
}

void PgArray::AddNull() {
  PutInt32(items_, 0xFFFFFFFFu);  // length -1
  has_null_ = true;
  ++count_;
}

PgParam PgArray::Take() && {
  std::string out;
  out.reserve(20 + items_.size());
  if (count_ == 0) {
    PutInt32(out, 0);  // no dimensions: '{}'
    PutInt32(out, 0);
    PutInt32(out, static_cast<std::uint32_t>(element_));
    return PgParam{std::move(out), /*binary=*/true, /*null=*/false};
  }
  PutInt32(out, 1);  // dimensions
  PutInt32(out, has_null_ ? 1 : 0);  // whether any element is NULL
  PutInt32(out, static_cast<std::uint32_t>(element_));
  PutInt32(out, static_cast<std::uint32_t>(count_));
  PutInt32(out, 1);  // lower bound
  out += items_;
  return PgParam{std::move(out), /*binary=*/true, /*null=*/false};
}

}  // namespace courier::postgres
