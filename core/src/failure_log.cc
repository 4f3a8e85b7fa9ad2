#include "failure_log.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "courier/log.h"

namespace courier::internal {

void FailureLog::Record(Failure kind, absl::string_view what, const absl::Status& status,
                        TimeMs now) {
  Slot& slot = slots_[static_cast<std::size_t>(kind)];
  slot.count.Add();
  std::uint64_t suppressed = 0;
  {
    MutexLock lock(&slot.mu);
    if (slot.logged && now - slot.last_logged < interval_ms_) {
      ++slot.suppressed;
      return;
    }
    slot.logged = true;
    slot.last_logged = now;
    suppressed = slot.suppressed;
    slot.suppressed = 0;
  }
  std::string line = absl::StrCat(what, " failed: ", status.ToString());
  if (suppressed > 0) {
    absl::StrAppend(&line, " (", suppressed, " more like it not logged since the last line)");
  }
  Log(LogLevel::kWarning, "courier::engine", line);
}

}  // namespace courier::internal
