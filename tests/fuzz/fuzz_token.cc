// fuzz_token: courier::server::TokenSigner::Verify on any bytes, and on
// fuzz-edited copies of a real token.
//
// Input: the first byte picks the mode.
//   even: the rest is a token as a client could send it; Verify must not
//         crash, and whatever it accepts names a valid user.
//   odd:  the rest is a list of edits (position, byte) applied to a token
//         the signer issued; an edited token may verify only if its header
//         and claims are byte-for-byte the original's (only the signature's
//         base64 spelling changed), so no edit ever forges a subject or an
//         expiry.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "courier/types.h"
#include "fuzz_check.h"
#include "jwt.h"

namespace {

constexpr courier::TimeMs kNow = 1'800'000'000'000;

const courier::server::TokenSigner& Signer() {
  static const courier::server::TokenSigner signer =
      *courier::server::TokenSigner::Create(std::string(32, 's'));
  return signer;
}

std::string_view SignedPart(std::string_view token) {
  std::size_t last = token.rfind('.');
  return last == std::string_view::npos ? token : token.substr(0, last);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto& signer = Signer();
  if (data[0] % 2 == 0) {
    std::string_view token(reinterpret_cast<const char*>(data + 1), size - 1);
    auto user = signer.Verify(token, kNow);
    if (user.ok()) {
      FUZZ_CHECK(courier::ValidateName("user", *user).ok(), "accepted subject is no name");
    }
    return 0;
  }
  const courier::server::IssuedToken issued = signer.Issue("alice", kNow, 3'600'000);
  FUZZ_CHECK(signer.Verify(issued.token, kNow).ok(), "the signer refuses its own token");
  FUZZ_CHECK(!signer.Verify(issued.token, issued.expires_at_ms).ok(), "expired token accepted");
  std::string token = issued.token;
  for (std::size_t i = 1; i + 2 < size && i < 64; i += 3) {
    const std::size_t pos = (std::size_t(data[i]) << 8 | data[i + 1]) % (token.size() + 1);
    const char byte = static_cast<char>(data[i + 2]);
    switch (data[i] % 3) {
      case 0:
        if (pos < token.size()) token[pos] = byte;
        break;
      case 1:
        token.insert(token.begin() + static_cast<std::ptrdiff_t>(pos), byte);
        break;
      default:
        if (pos < token.size()) token.erase(pos, 1);
        break;
    }
  }
  auto user = signer.Verify(token, kNow);
  if (user.ok() && token != issued.token) {
    FUZZ_CHECK(SignedPart(token) == SignedPart(issued.token),
               "an edited token verified: %s (subject %s)", token.c_str(), user->c_str());
    FUZZ_CHECK(*user == "alice", "subject changed to %s", user->c_str());
  }
  return 0;
}
