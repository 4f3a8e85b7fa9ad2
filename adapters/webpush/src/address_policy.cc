// IsPublicAddress (address_policy.h).
#include "address_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>

namespace courier::webpush::internal {
namespace {

struct V4Block {
  std::uint32_t base;
  int bits;
};

constexpr std::uint32_t Ip(int a, int b, int c, int d) {
  return (std::uint32_t(a) << 24) | (std::uint32_t(b) << 16) | (std::uint32_t(c) << 8) |
         std::uint32_t(d);
}

constexpr V4Block kNonPublicV4[] = {
    {Ip(0, 0, 0, 0), 8},      {Ip(10, 0, 0, 0), 8},     {Ip(100, 64, 0, 0), 10},
    {Ip(127, 0, 0, 0), 8},    {Ip(169, 254, 0, 0), 16}, {Ip(172, 16, 0, 0), 12},
    {Ip(192, 0, 0, 0), 24},   {Ip(192, 0, 2, 0), 24},   {Ip(192, 168, 0, 0), 16},
    {Ip(198, 18, 0, 0), 15},  {Ip(198, 51, 100, 0), 24}, {Ip(203, 0, 113, 0), 24},
    {Ip(224, 0, 0, 0), 4},    {Ip(240, 0, 0, 0), 4},
};

bool IsPublicV4(std::uint32_t host_order) {
  for (const V4Block& block : kNonPublicV4) {
    const std::uint32_t mask = ~std::uint32_t{0} << (32 - block.bits);
    if ((host_order & mask) == block.base) return false;
  }
  return true;
}

std::uint32_t V4At(const std::uint8_t* bytes) {
  return Ip(bytes[0], bytes[1], bytes[2], bytes[3]);
}

// The first `bits` bits of `a` equal `prefix` (given as its leading bytes).
bool HasPrefix(const std::uint8_t* a, std::initializer_list<std::uint8_t> prefix, int bits) {
  int i = 0;
  for (std::uint8_t byte : prefix) {
    const int left = bits - 8 * i;
    if (left <= 0) break;
    const std::uint8_t mask = left >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - left));
    if ((a[i] & mask) != (byte & mask)) return false;
    ++i;
  }
  return true;
}

bool IsPublicV6(const std::uint8_t* a) {
  static constexpr std::uint8_t kZero[12] = {};
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static constexpr std::uint8_t kNat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(a, kMapped, 12) == 0 || std::memcmp(a, kNat64, 12) == 0) {
    return IsPublicV4(V4At(a + 12));
  }
  if (std::memcmp(a, kZero, 12) == 0) return false;  // ::, ::1 and IPv4-compatible
  if (HasPrefix(a, {0x20, 0x02}, 16)) return IsPublicV4(V4At(a + 2));  // 6to4
  return !(HasPrefix(a, {0xfc}, 7) || HasPrefix(a, {0xfe, 0x80}, 10) ||
           HasPrefix(a, {0xfe, 0xc0}, 10) || HasPrefix(a, {0xff}, 8) ||
           HasPrefix(a, {0x01, 0x00, 0, 0, 0, 0, 0, 0}, 64) ||
           HasPrefix(a, {0x20, 0x01, 0x00, 0x00}, 32) ||
           HasPrefix(a, {0x20, 0x01, 0x0d, 0xb8}, 32));
}

}  // namespace

bool IsPublicAddress(const sockaddr& address) {
  if (address.sa_family == AF_INET) {
    sockaddr_in v4;
    std::memcpy(&v4, &address, sizeof v4);
    return IsPublicV4(ntohl(v4.sin_addr.s_addr));
  }
  if (address.sa_family == AF_INET6) {
    sockaddr_in6 v6;
    std::memcpy(&v6, &address, sizeof v6);
    return IsPublicV6(v6.sin6_addr.s6_addr);
  }
  return false;
}

std::string AddressText(const sockaddr& address) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (address.sa_family == AF_INET) {
    sockaddr_in v4;
    std::memcpy(&v4, &address, sizeof v4);
    ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
  } else if (address.sa_family == AF_INET6) {
    sockaddr_in6 v6;
    std::memcpy(&v6, &address, sizeof v6);
    ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
  }
  return text;
}

}  // namespace courier::webpush::internal
