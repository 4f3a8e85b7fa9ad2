// log_format.h: --log-format json, a spdlog formatter writing one JSON
// object per line.
//
// The server logs `key=value` text (`event=started listen=... store="..."`).
// The JSON formatter turns each line into
//
//   {"time":"2026-12-06T03:45:05.123Z","level":"info","message":"started",
//    "fields":{"listen":"127.0.0.1:8080","store":"..."}}
//
// time: UTC, milliseconds; level: spdlog's name (trace, debug, info,
// warning, error, critical); message: the `event` value, or the whole text
// when it is not key=value pairs; fields: the other pairs, values as strings
// (quotes removed). Invalid UTF-8 becomes U+FFFD, so every line is valid
// JSON whatever was logged.
//
// Thread-safety: spdlog calls a formatter under its sink's lock; clone()
//   gives each sink its own. Blocking: never.
#ifndef COURIER_EXAMPLES_SERVER_LOG_FORMAT_H_
#define COURIER_EXAMPLES_SERVER_LOG_FORMAT_H_

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/formatter.h>

namespace courier::server {

std::unique_ptr<spdlog::formatter> MakeJsonLogFormatter();

// The JSON line (without the newline) for one message; exposed for tests.
std::string JsonLogLine(std::string_view time, std::string_view level, std::string_view text);

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_LOG_FORMAT_H_
