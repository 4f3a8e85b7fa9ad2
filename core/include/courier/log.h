// courier/log.h: where the library's diagnostics go.
//
// Courier runs inside someone else's process, so it never writes to stdout
// or stderr on its own. Everything it has to say that is not an error value
// (an adapter losing and regaining its server, a driver's warnings) goes
// through one process-wide sink that the embedding program sets:
//
//   courier::SetLogSink([](const courier::LogRecord& r) {
//     spdlog::log(ToSpdlog(r.level), "{}: {}", r.component, r.message);
//   });
//
// Contract:
// - Default: no sink; records are discarded (nothing is written anywhere).
//   StderrLogSink() is a ready-made sink writing one line per record to
//   stderr, for programs that want exactly that.
// - Errors are still returned as absl::Status; a log record never replaces
//   one. Records are rare (state changes, not per message).
// - A record's views are valid only during the call; copy what you keep.
// Thread-safety: SetLogSink and Log may be called from any thread,
//   concurrently. The sink is called on the thread that logs, possibly on
//   several threads at once, and never under a Courier lock of the sink
//   module: it may call SetLogSink or Log itself. It must not throw.
// Blocking: Log blocks only as long as the sink does.
#ifndef COURIER_CORE_LOG_H_
#define COURIER_CORE_LOG_H_

#include <functional>
#include <string_view>

#include "courier/export.h"

namespace courier {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// "debug", "info", "warning", "error".
COURIER_EXPORT std::string_view LogLevelName(LogLevel level);

struct LogRecord {
  LogLevel level = LogLevel::kInfo;
  // Who speaks: "courier::redis", "mongoc", ...
  std::string_view component;
  // One line, no trailing newline.
  std::string_view message;
};

using LogSink = std::function<void(const LogRecord&)>;

// Replaces the process-wide sink; an empty function restores the default
// (discard). Records logged concurrently go to the old or the new sink.
COURIER_EXPORT void SetLogSink(LogSink sink);

// Hands one record to the sink, if any.
COURIER_EXPORT void Log(LogLevel level, std::string_view component, std::string_view message);

// A sink writing "<component>: <level>: <message>\n" to stderr, one write(2)
// per record.
COURIER_EXPORT LogSink StderrLogSink();

}  // namespace courier

#endif  // COURIER_CORE_LOG_H_
