// json_writer.h: the RapidJSON writer that the server's JSON answers, push
// payloads and tokens are written with, and Str for its string values.
//
// Thread-safety: a JsonWriter is used by one thread. Blocking: never.
#ifndef COURIER_EXAMPLES_SERVER_JSON_WRITER_H_
#define COURIER_EXAMPLES_SERVER_JSON_WRITER_H_

#include <string_view>

#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace courier::server {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Writes `s` (any bytes, not NUL-terminated) as a JSON string.
inline void Str(JsonWriter& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_JSON_WRITER_H_
