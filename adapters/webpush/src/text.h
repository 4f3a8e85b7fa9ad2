// Small string helpers over std::string_view. Debian bookworm's Abseil
// (20220623) has its own absl::string_view, which absl::StrCat and friends
// take; these take std::string_view. Internal.
#ifndef COURIER_ADAPTERS_WEBPUSH_SRC_TEXT_H_
#define COURIER_ADAPTERS_WEBPUSH_SRC_TEXT_H_

#include <concepts>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace courier::webpush::internal {

inline void AppendOne(std::string& out, std::string_view s) { out.append(s); }
inline void AppendOne(std::string& out, absl::string_view s) { out.append(s.data(), s.size()); }
inline void AppendOne(std::string& out, const char* s) { out.append(s); }
inline void AppendOne(std::string& out, const std::string& s) { out.append(s); }
inline void AppendOne(std::string& out, char c) { out.push_back(c); }
template <std::integral T>
requires(!std::same_as<T, char> && !std::same_as<T, bool>) void AppendOne(std::string& out, T v) {
  out.append(std::to_string(v));
}

// Concatenates strings, characters and integers.
template <typename... Args>
std::string Cat(const Args&... args) {
  std::string out;
  (AppendOne(out, args), ...);
  return out;
}
template <typename... Args>
void Append(std::string* out, const Args&... args) {
  (AppendOne(*out, args), ...);
}

inline std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Decimal digits only (no sign, no spaces), at most 18 of them.
inline bool ParseDecimal(std::string_view s, long long* out) {
  if (s.empty() || s.size() > 18) return false;
  long long v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && Lower(a) == Lower(b);
}

inline std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

}  // namespace courier::webpush::internal

#endif  // COURIER_ADAPTERS_WEBPUSH_SRC_TEXT_H_
