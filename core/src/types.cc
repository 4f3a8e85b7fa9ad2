#include "courier/types.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace courier {

std::string_view MessageStatusName(MessageStatus s) {
  switch (s) {
    case MessageStatus::kSent: return "sent";
    case MessageStatus::kDelivered: return "delivered";
    case MessageStatus::kRead: return "read";
  }
  return "unknown";
}

absl::Status ValidateName(std::string_view what_std, std::string_view name) {
  // Bookworm's Abseil has its own string_view type.
  const absl::string_view what(what_std.data(), what_std.size());
  if (name.empty() || name.size() > kMaxIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must be 1-", kMaxIdBytes, " characters, got ", name.size()));
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " may hold only letters, digits, '_', '.' and '-'"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateClientId(std::string_view cid) {
  if (cid.empty() || cid.size() > kMaxIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("cid must be 1-", kMaxIdBytes, " bytes, got ", cid.size()));
  }
  if (cid.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("cid must not contain NUL");
  }
  return absl::OkStatus();
}

absl::Status ValidateMessageId(std::string_view id) {
  const bool ok = !id.empty() && id.size() <= kMaxIdBytes &&
                  std::all_of(id.begin(), id.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '_' || c == '-';
                  });
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("message id must be 1-", kMaxIdBytes, " of [A-Za-z0-9_-]"));
}

TimeMs TimeBefore(TimeMs now, TimeMs span) {
  TimeMs out = 0;
  if (__builtin_sub_overflow(now, span, &out)) {
    return span > 0 ? std::numeric_limits<TimeMs>::min() : std::numeric_limits<TimeMs>::max();
  }
  return out;
}

}  // namespace courier
