// utf8.h (private to the core): UTF-8 checks for text the core stores, such
// as a group's display name.
//
// Thread-safety: pure functions. Blocking: never.
#ifndef COURIER_CORE_SRC_UTF8_H_
#define COURIER_CORE_SRC_UTF8_H_

#include <string_view>

namespace courier::internal {

// True when `text` is well-formed UTF-8 (RFC 3629): no overlong form, no
// surrogate (U+D800..U+DFFF), nothing above U+10FFFF, no truncated
// sequence. The empty string is valid.
bool IsValidUtf8(std::string_view text);

// True when `text` is valid UTF-8 without a control character: none of
// U+0000..U+001F, U+007F, U+0080..U+009F.
bool IsDisplayText(std::string_view text);

}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_UTF8_H_
