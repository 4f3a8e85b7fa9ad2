// courier-cli: reading and writing the token file.
#include "credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "json.h"

namespace courier_cli {

namespace {

constexpr std::size_t kMaxFile = 64 * 1024;

absl::Status FileError(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(absl::StrCat("cannot ", what, " ", path, ": ", std::strerror(errno)));
}

// The whole of a small file. Errors: kNotFound when it does not exist,
// kInvalidArgument over kMaxFile, kUnavailable.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no ", path));
    return FileError("open", path);
  }
  std::string text;
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status s = FileError("read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    text.append(chunk, static_cast<std::size_t>(n));
    if (text.size() > kMaxFile) {
      ::close(fd);
      return absl::InvalidArgumentError(absl::StrCat(path, " is too large"));
    }
  }
  ::close(fd);
  return text;
}

}  // namespace

std::string ConfigDir() {
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x != nullptr && x[0] == '/') {
    return absl::StrCat(x, "/courier");
  }
  const char* home = std::getenv("HOME");
  return absl::StrCat(home != nullptr && *home != '\0' ? home : ".", "/.config/courier");
}

std::string DefaultTokenFile() {
  if (const char* f = std::getenv("COURIER_CLI_TOKEN_FILE"); f != nullptr && *f != '\0') return f;
  return ConfigDir() + "/token";
}

std::string DefaultSettingsFile() { return ConfigDir() + "/settings.json"; }

absl::StatusOr<Settings> LoadSettings(const std::string& path) {
  auto text = ReadSmallFile(path);
  if (absl::IsNotFound(text.status())) return Settings{};
  if (!text.ok()) return text.status();
  auto doc = ParseObject(*text);
  if (!doc.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a settings file: ", doc.status().message()));
  }
  Settings settings;
  for (const auto& member : doc->GetObject()) {
    const std::string key(member.name.GetString(), member.name.GetStringLength());
    std::string* field = key == "server" ? &settings.server : key == "chat_device" ? &settings.chat_device : nullptr;
    if (field == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": unknown key \"", key, "\" (known: server, chat_device)"));
    }
    if (!member.value.IsString()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": \"", key, "\" is not a string"));
    }
    field->assign(member.value.GetString(), member.value.GetStringLength());
  }
  return settings;
}

absl::StatusOr<Credentials> LoadCredentials(const std::string& path) {
  auto text = ReadSmallFile(path);
  if (absl::IsNotFound(text.status())) {
    return absl::UnauthenticatedError(
        absl::StrCat("not logged in (no ", path, "): run `courier-cli login USER` first"));
  }
  if (!text.ok()) return text.status();
  auto doc = ParseObject(*text);
  if (!doc.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a token file (", doc.status().message(),
                                                   "): run login again"));
  }
  Credentials c;
  c.server = StringField(*doc, "server").value_or("");
  c.user = StringField(*doc, "user").value_or("");
  c.token = StringField(*doc, "token").value_or("");
  c.expires_at = IntField(*doc, "expires_at").value_or(0);
  if (c.token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " holds no token: run login again"));
  }
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  if (c.expires_at != 0 && c.expires_at <= now_ms) {
    return absl::UnauthenticatedError(
        absl::StrCat("the token of ", c.user, " has expired: run `courier-cli login` again"));
  }
  return c;
}

absl::Status SaveCredentials(const std::string& path, const Credentials& c) {
  const std::filesystem::path file(path);
  if (file.has_parent_path()) {
    std::error_code ec;
    const std::filesystem::path dir = file.parent_path();
    if (!std::filesystem::exists(dir, ec)) {
      std::filesystem::create_directories(dir, ec);
      if (ec) return absl::UnavailableError(absl::StrCat("cannot make ", dir.string(), ": ", ec.message()));
      std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
    }
  }
  const std::string text = JsonObject()
                               .Add("server", c.server)
                               .Add("user", c.user)
                               .Add("token", c.token)
                               .Add("expires_at", c.expires_at)
                               .str() + "\n";
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return FileError("write", tmp);
  std::string_view rest = text;
  while (!rest.empty()) {
    const ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status s = FileError("write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    absl::Status s = FileError("write", tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status s = FileError("replace", path);
    ::unlink(tmp.c_str());
    return s;
  }
  return absl::OkStatus();
}

}  // namespace courier_cli
