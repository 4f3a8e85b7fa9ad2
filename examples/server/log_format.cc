// log_format.cc: key=value text -> one JSON object per line.
#include "log_format.h"

#include <chrono>
#include <ctime>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/details/log_msg.h>

namespace courier::server {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one.
std::size_t Utf8Length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  std::size_t n = 0;
  unsigned lo = 0x80, hi = 0xBF;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c >= 0xE0 && c <= 0xEF) n = 3;
  else if (c >= 0xF0 && c <= 0xF4) n = 4;
  else return 0;
  if (i + n > s.size()) return 0;
  if (c == 0xE0) lo = 0xA0;
  if (c == 0xED) hi = 0x9F;  // no surrogates
  if (c == 0xF0) lo = 0x90;
  if (c == 0xF4) hi = 0x8F;
  if (b(1) < lo || b(1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (b(k) < 0x80 || b(k) > 0xBF) return 0;
  }
  return n;
}

void JsonString(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c < 0x20) {
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default: fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
      }
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else if (std::size_t n = Utf8Length(s, i); n > 0) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    }
  }
  out += '"';
}

bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// Splits "k=v k2=\"a b\"" into pairs; false when the text is not that shape.
bool SplitPairs(std::string_view text,
                std::vector<std::pair<std::string_view, std::string_view>>& pairs) {
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    if (i == text.size()) break;
    const std::size_t k = i;
    while (i < text.size() && IsKeyChar(text[i])) ++i;
    if (i == k || i == text.size() || text[i] != '=') return false;
    std::string_view key = text.substr(k, i - k);
    ++i;
    std::string_view value;
    if (i < text.size() && text[i] == '"') {
      // Up to the quote that ends the text or is followed by " key=".
      std::size_t j = i + 1;
      std::size_t end = std::string_view::npos;
      for (; j < text.size(); ++j) {
        if (text[j] != '"') continue;
        if (j + 1 == text.size()) {
          end = j;
          break;
        }
        if (text[j + 1] == ' ') {
          std::size_t m = j + 2;
          while (m < text.size() && IsKeyChar(text[m])) ++m;
          if (m > j + 2 && m < text.size() && text[m] == '=') {
            end = j;
            break;
          }
        }
      }
      if (end == std::string_view::npos) return false;
      value = text.substr(i + 1, end - i - 1);
      i = end + 1;
    } else {
      const std::size_t v = i;
      while (i < text.size() && text[i] != ' ') ++i;
      value = text.substr(v, i - v);
    }
    pairs.emplace_back(key, value);
  }
  return !pairs.empty();
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    const auto since = msg.time.time_since_epoch();
    const std::time_t secs = duration_cast<seconds>(since).count();
    const auto ms = duration_cast<milliseconds>(since).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[40];
    const std::size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string time = fmt::format("{}.{:03d}Z", std::string_view(stamp, n), static_cast<int>(ms));
    const auto level = spdlog::level::to_string_view(msg.level);
    std::string line = JsonLogLine(time, std::string_view(level.data(), level.size()),
                                   std::string_view(msg.payload.data(), msg.payload.size()));
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

std::string JsonLogLine(std::string_view time, std::string_view level, std::string_view text) {
  std::string out;
  out.reserve(text.size() + 96);
  out += "{\"time\":";
  JsonString(out, time);
  out += ",\"level\":";
  JsonString(out, level);
  std::vector<std::pair<std::string_view, std::string_view>> pairs;
  std::string_view message = text;
  const bool structured = SplitPairs(text, pairs);
  if (structured) {
    message = {};
    for (const auto& [k, v] : pairs) {
      if (k == "event") {
        message = v;
        break;
      }
    }
  } else {
    pairs.clear();
  }
  out += ",\"message\":";
  JsonString(out, message);
  out += ",\"fields\":{";
  bool first = true;
  bool event_taken = false;
  for (const auto& [k, v] : pairs) {
    if (k == "event" && !event_taken) {
      event_taken = true;
      continue;
    }
    if (!first) out += ',';
    first = false;
    JsonString(out, k);
    out += ':';
    JsonString(out, v);
  }
  out += "}}";
  return out;
}

std::unique_ptr<spdlog::formatter> MakeJsonLogFormatter() {
  return std::make_unique<JsonFormatter>();
}

}  // namespace courier::server
