// push_payload.cc: a PushNotice as JSON (RapidJSON).
#include "push_payload.h"

#include <string_view>

#include "json_writer.h"

namespace courier::server {
namespace {

// `s` cut to at most `max` bytes, never inside a UTF-8 sequence.
std::string_view Cut(std::string_view s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

std::string Write(const PushNotice& notice, bool with_messages) {
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  w.StartObject();
  w.Key("type");
  w.String("inbox");
  w.Key("user");
  Str(w, notice.user);
  w.Key("count");
  w.Uint64(notice.count);
  w.Key("senders");
  w.StartArray();
  for (const UserId& s : notice.senders) Str(w, s);
  w.EndArray();
  if (with_messages) {
    w.Key("messages");
    w.StartArray();
    for (const Event& e : notice.messages) {
      w.StartObject();
      w.Key("id");
      Str(w, e.id);
      w.Key("from");
      Str(w, e.peer);
      w.Key("ts");
      w.Int64(e.ts);
      w.Key("body");
      Str(w, Cut(e.body, kMaxPushBodyBytes));
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  return std::string(b.GetString(), b.GetSize());
}

}  // namespace

std::string PushPayloadJson(const PushNotice& notice, std::size_t max_bytes) {
  if (!notice.messages.empty()) {
    std::string full = Write(notice, true);
    if (full.size() <= max_bytes) return full;
  }
  return Write(notice, false);
}

}  // namespace courier::server
