// OpenSSL 3 building blocks (crypto.h).
#include "crypto.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include <memory>
#include <string>
#include <string_view>

#include "text.h"

namespace courier::webpush::internal {
namespace {

constexpr char kGroup[] = "prime256v1";

template <typename T, void (*F)(T*)>
struct Free {
  void operator()(T* p) const { F(p); }
};
using BnPtr = std::unique_ptr<BIGNUM, Free<BIGNUM, BN_free>>;
using GroupPtr = std::unique_ptr<EC_GROUP, Free<EC_GROUP, EC_GROUP_free>>;
using PointPtr = std::unique_ptr<EC_POINT, Free<EC_POINT, EC_POINT_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Free<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Free<EVP_MD_CTX, EVP_MD_CTX_free>>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, Free<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>>;
using BldPtr = std::unique_ptr<OSSL_PARAM_BLD, Free<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Free<OSSL_PARAM, OSSL_PARAM_free>>;
using SigPtr = std::unique_ptr<ECDSA_SIG, Free<ECDSA_SIG, ECDSA_SIG_free>>;

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// A key from OSSL_PARAMs (selection: public or key pair).
absl::StatusOr<PkeyPtr> FromData(OSSL_PARAM_BLD* bld, int selection) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, selection, params.get()) != 1) {
    return OpenSslError("EVP_PKEY_fromdata");
  }
  return PkeyPtr(key);
}

}  // namespace

absl::Status OpenSslError(std::string_view context) {
  std::string text(context);
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    Append(&text, ": ", buf);
  }
  return absl::InternalError(text);
}

bool IsP256Point(std::string_view raw) {
  if (raw.size() != 65 || raw[0] != 0x04) return false;
  GroupPtr group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  if (!group) return false;
  PointPtr point(EC_POINT_new(group.get()));
  const bool ok =
      point && EC_POINT_oct2point(group.get(), point.get(), Bytes(raw), raw.size(), nullptr) == 1 &&
      EC_POINT_is_on_curve(group.get(), point.get(), nullptr) == 1 &&
      EC_POINT_is_at_infinity(group.get(), point.get()) == 0;
  ERR_clear_error();
  return ok;
}

absl::StatusOr<PkeyPtr> GenerateP256() {
  EVP_PKEY* key = EVP_EC_gen(kGroup);
  if (key == nullptr) return OpenSslError("EVP_EC_gen");
  return PkeyPtr(key);
}

absl::StatusOr<PkeyPtr> P256PublicKey(std::string_view raw) {
  if (!IsP256Point(raw)) return absl::InvalidArgumentError("not an uncompressed P-256 point");
  BldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, kGroup, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, raw.data(),
                                       raw.size()) != 1) {
    return OpenSslError("OSSL_PARAM_BLD");
  }
  return FromData(bld.get(), EVP_PKEY_PUBLIC_KEY);
}

absl::StatusOr<PkeyPtr> P256PrivateKey(std::string_view scalar) {
  if (scalar.size() != 32) return absl::InvalidArgumentError("a P-256 scalar is 32 bytes");
  GroupPtr group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  BnPtr priv(BN_bin2bn(Bytes(scalar), 32, nullptr));
  if (!group || !priv) return OpenSslError("P-256 scalar");
  if (BN_is_zero(priv.get()) || BN_cmp(priv.get(), EC_GROUP_get0_order(group.get())) >= 0) {
    return absl::InvalidArgumentError("P-256 scalar out of range");
  }
  PointPtr pub(EC_POINT_new(group.get()));
  unsigned char point[65];
  if (!pub || EC_POINT_mul(group.get(), pub.get(), priv.get(), nullptr, nullptr, nullptr) != 1 ||
      EC_POINT_point2oct(group.get(), pub.get(), POINT_CONVERSION_UNCOMPRESSED, point, sizeof point,
                         nullptr) != sizeof point) {
    return OpenSslError("P-256 public point");
  }
  BldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, kGroup, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point) !=
          1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv.get()) != 1) {
    return OpenSslError("OSSL_PARAM_BLD");
  }
  return FromData(bld.get(), EVP_PKEY_KEYPAIR);
}

absl::StatusOr<std::string> P256PublicPoint(EVP_PKEY* key) {
  unsigned char point[65];
  std::size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &len) !=
          1 ||
      len != sizeof point || point[0] != 0x04) {
    return OpenSslError("P-256 public point");
  }
  return std::string(reinterpret_cast<const char*>(point), len);
}

bool IsP256PrivateKey(EVP_PKEY* key) {
  char group[64];
  std::size_t len = 0;
  BIGNUM* priv = nullptr;
  const bool ok = EVP_PKEY_is_a(key, "EC") == 1 &&
                  EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                                 sizeof group, &len) == 1 &&
                  std::string_view(group, len) == kGroup &&
                  EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &priv) == 1;
  BN_clear_free(priv);
  ERR_clear_error();
  return ok;
}

absl::StatusOr<std::string> Ecdh(EVP_PKEY* private_key, EVP_PKEY* peer_public) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, private_key, nullptr));
  std::string secret(32, '\0');
  std::size_t len = secret.size();
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), peer_public) != 1 ||
      EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(secret.data()), &len) != 1 ||
      len != 32) {
    return OpenSslError("ECDH");
  }
  return secret;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), Bytes(data), data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string Hkdf(std::string_view salt, std::string_view ikm, std::string_view info,
                 std::size_t length) {
  const std::string prk = HmacSha256(salt, ikm);
  std::string t = HmacSha256(prk, Cat(info, std::string_view("\x01", 1)));
  t.resize(length);
  return t;
}

absl::StatusOr<std::string> Aes128GcmSeal(std::string_view key, std::string_view nonce,
                                          std::string_view plaintext) {
  if (key.size() != 16 || nonce.size() != 12) {
    return absl::InternalError("AES-128-GCM: bad key or nonce size");
  }
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  std::string out(plaintext.size() + 16, '\0');
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  int final_len = 0;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr, Bytes(key), Bytes(nonce)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), dst, &len, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), dst + len, &final_len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, dst + plaintext.size()) != 1) {
    return OpenSslError("AES-128-GCM");
  }
  return out;
}

absl::StatusOr<std::string> SignEs256(EVP_PKEY* key, std::string_view data) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  unsigned char der[80];
  std::size_t der_len = sizeof der;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), der, &der_len, Bytes(data), data.size()) != 1) {
    return OpenSslError("ES256 sign");
  }
  const unsigned char* p = der;
  SigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
  if (!sig) return OpenSslError("ES256 signature");
  std::string out(64, '\0');
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), dst, 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), dst + 32, 32) != 32) {
    return OpenSslError("ES256 signature");
  }
  return out;
}

absl::StatusOr<std::string> RandomBytes(std::size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return OpenSslError("RAND_bytes");
  }
  return out;
}

}  // namespace courier::webpush::internal
