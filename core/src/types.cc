#include "courier/types.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace courier {

std::string_view MessageStatusName(MessageStatus s) {
  switch (s) {
    case MessageStatus::kSent:
      return "sent";
    case MessageStatus::kDelivered:
      return "delivered";
    case MessageStatus::kRead:
      return "read";
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

}  // namespace courier
