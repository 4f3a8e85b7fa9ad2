// admin_token.cc: the admin token file, made once with O_EXCL and mode 0600.
#include "admin_token.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "secrets.h"

namespace courier::server {
namespace {

absl::Status CreateTokenFile(const std::string& path) {
  unsigned char bytes[32];
  randombytes_buf(bytes, sizeof bytes);
  char hex[2 * sizeof bytes + 1];
  sodium_bin2hex(hex, sizeof hex, bytes, sizeof bytes);
  sodium_memzero(bytes, sizeof bytes);
  std::string text = std::string(hex, 2 * sizeof bytes) + "\n";
  sodium_memzero(hex, sizeof hex);
  absl::Status s = CreatePrivateFile(path, text);
  sodium_memzero(text.data(), text.size());
  return s;
}

}  // namespace

absl::StatusOr<std::string> LoadOrCreateAdminToken(const std::string& path, bool create) {
  // A token and the blank space around it.
  absl::StatusOr<std::string> read = LoadOrCreateFile(
      path, create, CreateTokenFile, "cannot read admin token file", 2 * kMaxAdminTokenBytes);
  if (!read.ok()) return read.status();
  std::string token = *std::move(read);
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!token.empty() && space(token.back())) token.pop_back();
  std::size_t start = 0;
  while (start < token.size() && space(token[start])) ++start;
  token.erase(0, start);
  if (token.size() < kMinAdminTokenBytes || token.size() > kMaxAdminTokenBytes) {
    return absl::InvalidArgumentError(absl::StrCat("admin token file ", path, " holds ",
                                                   token.size(), " bytes; a token is ",
                                                   kMinAdminTokenBytes, "-", kMaxAdminTokenBytes));
  }
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(absl::StrCat(
          "admin token file ", path, " holds a character that is not printable ASCII"));
    }
  }
  return token;
}

bool TokenMatches(std::string_view presented, std::string_view expected) {
  unsigned char a[crypto_generichash_BYTES], b[crypto_generichash_BYTES];
  crypto_generichash(a, sizeof a, reinterpret_cast<const unsigned char*>(presented.data()),
                     presented.size(), nullptr, 0);
  crypto_generichash(b, sizeof b, reinterpret_cast<const unsigned char*>(expected.data()),
                     expected.size(), nullptr, 0);
  return sodium_memcmp(a, b, sizeof a) == 0;
}

}  // namespace courier::server
