// Which network addresses a push may be sent to.
//
// A Web Push subscription's endpoint is a URL that a browser, that is any
// user, hands to the server. Without a rule the server would POST wherever a
// user points it: its own admin port on loopback, a cloud metadata service
// (169.254.169.254), a database on the private network (server-side request
// forgery). So a push to a user-supplied endpoint goes only to public
// addresses, checked on every address the host name resolves to, after the
// resolution (a public name that resolves to 10.0.0.5 is refused too).
//
// Thread-safety: pure functions. Blocking: no.
#ifndef COURIER_ADAPTERS_WEBPUSH_SRC_ADDRESS_POLICY_H_
#define COURIER_ADAPTERS_WEBPUSH_SRC_ADDRESS_POLICY_H_

#include <sys/socket.h>

#include <string>

namespace courier::webpush::internal {

enum class AddressPolicy {
  kPublicOnly,  // user-supplied endpoints (Web Push)
  kAny,         // operator-configured URLs (the webhook), or allow_private_addresses
};

// False for every address that is not a public unicast one:
//   IPv4: 0/8 (this network), 10/8, 172.16/12, 192.168/16 (private),
//         100.64/10 (carrier-grade NAT), 127/8 (loopback), 169.254/16
//         (link-local), 192.0.0/24 (protocol assignments), 192.0.2/24,
//         198.51.100/24, 203.0.113/24 (documentation), 198.18/15
//         (benchmarking), 224/4 (multicast), 240/4 (reserved, broadcast);
//   IPv6: :: and ::1, ::/96 (IPv4-compatible), fc00::/7 (unique local),
//         fe80::/10 (link-local), fec0::/10 (site-local), ff00::/8
//         (multicast), 100::/64 (discard), 2001::/32 (Teredo), 2001:db8::/32
//         (documentation); ::ffff:0:0/96, 64:ff9b::/96 and 2002::/16 carry
//         an IPv4 address, which is judged by the IPv4 rule.
// False too for a family other than AF_INET and AF_INET6.
bool IsPublicAddress(const sockaddr& address);

// "10.0.0.5" or "fe80::1": the address for an error message.
std::string AddressText(const sockaddr& address);

}  // namespace courier::webpush::internal

#endif  // COURIER_ADAPTERS_WEBPUSH_SRC_ADDRESS_POLICY_H_
