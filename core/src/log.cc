#include "courier/log.h"

#include <unistd.h>

#include <memory>
#include <string>
#include <utility>

#include "courier/sync.h"

namespace courier {
namespace {

struct SinkSlot {
  Mutex mu;
  std::shared_ptr<const LogSink> sink ABSL_GUARDED_BY(mu);  // null: discard
};

SinkSlot& Slot() {
  static SinkSlot* slot = new SinkSlot();  // never destroyed: usable during exit
  return *slot;
}

}  // namespace

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "unknown";
}

void SetLogSink(LogSink sink) {
  std::shared_ptr<const LogSink> next;
  if (sink) next = std::make_shared<const LogSink>(std::move(sink));
  SinkSlot& slot = Slot();
  MutexLock lock(&slot.mu);
  slot.sink.swap(next);
  // The old sink (in `next`) is released after the lock, possibly after a
  // concurrent Log finished calling it.
}

void Log(LogLevel level, std::string_view component, std::string_view message) {
  std::shared_ptr<const LogSink> sink;
  {
    SinkSlot& slot = Slot();
    MutexLock lock(&slot.mu);
    sink = slot.sink;
  }
  if (sink == nullptr) return;
  (*sink)(LogRecord{level, component, message});
}

LogSink StderrLogSink() {
  return [](const LogRecord& r) {
    std::string line;
    line.reserve(r.component.size() + r.message.size() + 16);
    line.append(r.component).append(": ").append(LogLevelName(r.level)).append(": ");
    line.append(r.message).push_back('\n');
    [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
  };
}

}  // namespace courier
