#include "group_id.h"

#include <sodium.h>

#include <string>

namespace courier::internal {

GroupId DeriveGroupId(const UserId& creator, std::string_view cid) {
  // Once per process; a failure leaves the portable code in use, which
  // SHA-256 has anyway (it has no run-time dispatch).
  [[maybe_unused]] static const int sodium_ready = sodium_init();
  std::string input;
  input.reserve(creator.size() + 1 + cid.size());
  input.append(creator).push_back('\0');  // names hold no NUL
  input.append(cid);
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size());
  static constexpr char kHex[] = "0123456789abcdef";
  GroupId id = "g";
  for (int i = 0; i < 16; ++i) {
    id.push_back(kHex[digest[i] >> 4]);
    id.push_back(kHex[digest[i] & 0xF]);
  }
  return id;
}

}  // namespace courier::internal
