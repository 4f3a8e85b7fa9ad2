// ws_handshake.cc: see ws_handshake.h.
#include "ws_handshake.h"

#include <cstdint>
#include <string>

#include <openssl/evp.h>

#include "absl/status/status.h"

namespace courier::websocket::internal {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string Base64(const std::uint8_t* p, std::size_t n) {
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (std::size_t i = 0; i < n; i += 3) {
    const std::uint32_t b0 = p[i];
    const std::uint32_t b1 = i + 1 < n ? p[i + 1] : 0;
    const std::uint32_t b2 = i + 2 < n ? p[i + 2] : 0;
    const std::uint32_t v = (b0 << 16) | (b1 << 8) | b2;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back(i + 2 < n ? kAlphabet[v & 63] : '=');
  }
  return out;
}

bool IsBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// 16 bytes in base64: 22 characters and "==", the last character's low four
// bits zero (a canonical encoding).
bool IsBase64Of16Bytes(std::string_view key) {
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (std::size_t i = 0; i < 22; ++i) {
    if (!IsBase64Char(key[i])) return false;
  }
  const char* last = std::char_traits<char>::find(kAlphabet, 64, key[21]);
  return last != nullptr && ((last - kAlphabet) & 0x0F) == 0;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

absl::StatusOr<std::string> CheckUpgrade(std::string_view version, std::string_view key) {
  if (Trim(version) != "13") {
    return absl::FailedPreconditionError("Sec-WebSocket-Version must be 13");
  }
  key = Trim(key);
  if (!IsBase64Of16Bytes(key)) {
    return absl::InvalidArgumentError("Sec-WebSocket-Key must be the base64 of 16 bytes");
  }
  return SecWebSocketAccept(key);
}

std::string SecWebSocketAccept(std::string_view key) {
  std::string input(key);
  input.append(kGuid);
  std::uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  EVP_Digest(input.data(), input.size(), digest, &digest_size, EVP_sha1(), nullptr);
  return Base64(digest, digest_size);
}

std::string SwitchingProtocolsResponse(std::string_view accept) {
  std::string out =
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Server: courier\r\n"
      "Sec-WebSocket-Accept: ";
  out.append(accept);
  out.append("\r\n\r\n");
  return out;
}

}  // namespace courier::websocket::internal
