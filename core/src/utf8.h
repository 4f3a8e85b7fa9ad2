// utf8.h (private to the core): the text checks of what the core stores,
// such as a group's display name. The well-formedness check itself,
// IsValidUtf8, is public (courier/types.h), so the adapters use the same one.
//
// Thread-safety: pure functions. Blocking: never.
#ifndef COURIER_CORE_SRC_UTF8_H_
#define COURIER_CORE_SRC_UTF8_H_

#include <string_view>

#include "courier/types.h"

namespace courier::internal {

using courier::IsValidUtf8;

// True when `text` is valid UTF-8 (IsValidUtf8) without a control
// character: none of U+0000..U+001F, U+007F, U+0080..U+009F.
bool IsDisplayText(std::string_view text);

}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_UTF8_H_
