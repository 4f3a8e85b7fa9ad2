// config_file.cc: the TOML subset of config_file.h, parsed line by line.
#include "config_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <CLI/CLI.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "secrets.h"

namespace courier::server {
namespace {

constexpr std::size_t kMaxConfigBytes = 1 << 20;

bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

void SkipSpace(std::string_view s, std::size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
}

// Appends the UTF-8 encoding of `cp`; false for a surrogate or > U+10FFFF.
bool AppendUtf8(std::string& out, unsigned cp) {
  if (cp >= 0xD800 && cp <= 0xDFFF) return false;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp <= 0x10FFFF) {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    return false;
  }
  return true;
}

// Parses the value starting at s[i]; on success i is past it. Returns an
// error text, or "" when fine.
std::string ParseValue(std::string_view s, std::size_t& i, std::string& out) {
  if (i >= s.size()) return "a value is missing after '='";
  const char c = s[i];
  if (c == '"') {
    if (s.substr(i, 3) == "\"\"\"") return "multi-line strings are not supported";
    for (++i; i < s.size(); ++i) {
      const char ch = s[i];
      if (ch == '"') {
        ++i;
        return "";
      }
      if (ch == '\\') {
        if (++i >= s.size()) break;
        switch (s[i]) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case 't': out += '\t'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 'u': {
            if (i + 4 >= s.size()) return "a \\u escape needs 4 hex digits";
            unsigned cp = 0;
            for (int k = 1; k <= 4; ++k) {
              const char h = s[i + k];
              cp <<= 4;
              if (h >= '0' && h <= '9') cp |= static_cast<unsigned>(h - '0');
              else if (h >= 'a' && h <= 'f') cp |= static_cast<unsigned>(h - 'a' + 10);
              else if (h >= 'A' && h <= 'F') cp |= static_cast<unsigned>(h - 'A' + 10);
              else return "a \\u escape needs 4 hex digits";
            }
            if (!AppendUtf8(out, cp)) return "a \\u escape names no character";
            i += 4;
            break;
          }
          default:
            return absl::StrCat("unknown escape \\", std::string(1, s[i]));
        }
        continue;
      }
      if (static_cast<unsigned char>(ch) < 0x20 && ch != '\t') {
        return "a control character in a string";
      }
      out += ch;
    }
    return "a string is not closed by '\"'";
  }
  if (c == '\'') {
    if (s.substr(i, 3) == "'''") return "multi-line strings are not supported";
    const std::size_t end = s.find('\'', i + 1);
    if (end == std::string_view::npos) return "a string is not closed by \"'\"";
    out.assign(s.substr(i + 1, end - i - 1));
    i = end + 1;
    return "";
  }
  if (c == '[' || c == '{') return "arrays and inline tables are not supported";
  std::size_t end = i;
  while (end < s.size() && s[end] != ' ' && s[end] != '\t' && s[end] != '#') ++end;
  std::string_view word = s.substr(i, end - i);
  if (word.empty()) return "a value is missing after '='";
  if (word == "true" || word == "false") {
    out.assign(word);
    i = end;
    return "";
  }
  // An integer: digits, '_' only between digits, an optional leading '+'.
  std::size_t k = (word.front() == '+') ? 1 : 0;
  if (k >= word.size()) {
    return absl::StrCat("\"", std::string(word), "\" is not a value (strings go in quotes)");
  }
  bool prev_digit = false;
  for (; k < word.size(); ++k) {
    const char d = word[k];
    if (d >= '0' && d <= '9') {
      out += d;
      prev_digit = true;
    } else if (d == '_' && prev_digit && k + 1 < word.size()) {
      prev_digit = false;
    } else {
      out.clear();
      return absl::StrCat("\"", std::string(word),
                          "\" is not a value: strings go in quotes, numbers are whole and "
                          "not negative");
    }
  }
  i = end;
  return "";
}

}  // namespace

absl::StatusOr<std::vector<ConfigEntry>> ParseConfigText(std::string_view text,
                                                         const std::string& source) {
  std::vector<ConfigEntry> entries;
  absl::flat_hash_map<std::string, int> seen;
  int line_no = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto fail = [&](const std::string& what) {
      return absl::InvalidArgumentError(absl::StrCat(source, ":", line_no, ": ", what));
    };
    std::size_t i = 0;
    if (line_no == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") i = 3;  // a UTF-8 BOM
    SkipSpace(line, i);
    if (i == line.size() || line[i] == '#') {
      if (nl == text.size()) break;
      continue;
    }
    if (line[i] == '[') {
      return fail("tables ([section]) are not supported: write every key at the top level");
    }
    const std::size_t key_start = i;
    while (i < line.size() && IsKeyChar(line[i])) ++i;
    if (i == key_start) return fail("expected `key = value`");
    std::string key(line.substr(key_start, i - key_start));
    for (char& ch : key) {
      if (ch == '_') ch = '-';
    }
    SkipSpace(line, i);
    if (i >= line.size() || line[i] != '=') return fail("expected '=' after the key");
    ++i;
    SkipSpace(line, i);
    ConfigEntry entry{key, "", line_no};
    if (std::string err = ParseValue(line, i, entry.value); !err.empty()) return fail(err);
    SkipSpace(line, i);
    if (i < line.size() && line[i] != '#') return fail("unexpected text after the value");
    if (auto [it, fresh] = seen.emplace(key, line_no); !fresh) {
      return fail(absl::StrCat("key \"", key, "\" given twice (first on line ", it->second, ")"));
    }
    entries.push_back(std::move(entry));
    if (nl == text.size()) break;
  }
  return entries;
}

absl::StatusOr<std::vector<ConfigEntry>> ReadConfigFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read config file ", path, ": it is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    const std::string what =
        absl::StrCat("cannot read config file ", path, ": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(what);
    if (err == EACCES) return absl::PermissionDeniedError(what);
    return absl::InvalidArgumentError(what);
  }
  const std::string text = ReadAtMost(in, kMaxConfigBytes + 1);
  if (text.size() > kMaxConfigBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", path, " is over ", kMaxConfigBytes, " bytes"));
  }
  if (in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read config file ", path, ": ", std::strerror(errno)));
  }
  return ParseConfigText(text, path);
}

absl::Status ApplyConfigFile(CLI::App& app, const std::string& path) {
  absl::StatusOr<std::vector<ConfigEntry>> entries = ReadConfigFile(path);
  if (!entries.ok()) return entries.status();
  for (const ConfigEntry& e : *entries) {
    const std::string where = absl::StrCat(path, ":", e.line, ": ");
    CLI::Option* opt = nullptr;
    if (e.key != "config" && e.key != "help" && e.key != "version") {
      opt = app.get_option_no_throw("--" + e.key);
    }
    if (opt == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "unknown key \"", e.key,
          "\" (the keys are the flag names without the dashes; see courier-server --help)"));
    }
    if (opt->count() > 0) continue;  // the command line or the environment set it
    try {
      opt->add_result(e.value);
      opt->run_callback();
    } catch (const CLI::ParseError& err) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "bad value for ", e.key, ": ", err.what()));
    }
  }
  return absl::OkStatus();
}

}  // namespace courier::server
