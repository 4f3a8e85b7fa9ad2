// courier-cli: push-subscribe and push-unsubscribe (docs/PROTOCOL.md "Push").
//
// push-subscribe stores a Web Push subscription for one of the user's
// devices, pointing at any endpoint: a test receiver, a UnifiedPush
// distributor. Without --p256dh/--auth it makes the receiver's keys (a P-256
// key pair and a 16-byte auth secret, OpenSSL) and prints them with the
// private key, so the receiver can decrypt what the server sends (RFC 8291).

#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "commands.h"
#include "credentials.h"
#include "json.h"
#include "output.h"

namespace courier_cli {

namespace http = boost::beast::http;

namespace {

std::string Base64Url(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data,
                                  static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

struct ReceiverKeys {
  std::string p256dh, auth, private_key_pem;
};

absl::StatusOr<ReceiverKeys> MakeReceiverKeys() {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (key == nullptr) return absl::InternalError("OpenSSL could not make a P-256 key");
  unsigned char point[65];
  std::size_t point_len = 0;
  if (EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                      sizeof(point), &point_len) != 1 ||
      point_len != sizeof(point)) {
    return absl::InternalError("OpenSSL could not encode the public key");
  }
  unsigned char auth[16];
  if (RAND_bytes(auth, sizeof(auth)) != 1) return absl::InternalError("OpenSSL RAND_bytes failed");
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return absl::InternalError("OpenSSL could not write the private key");
  }
  char* pem = nullptr;
  const long pem_len = BIO_get_mem_data(bio.get(), &pem);
  return ReceiverKeys{Base64Url(point, sizeof(point)), Base64Url(auth, sizeof(auth)),
                      std::string(pem, static_cast<std::size_t>(pem_len))};
}

}  // namespace

absl::Status PushSubscribe(Context& ctx, const PushSubscribeOptions& options) {
  auto me = LoadCredentials(ctx.token_file);
  if (!me.ok()) return me.status();
  ReceiverKeys keys{options.p256dh, options.auth, ""};
  if (keys.p256dh.empty() != keys.auth.empty()) {
    return absl::InvalidArgumentError("--p256dh and --auth go together");
  }
  if (keys.p256dh.empty()) {
    auto made = MakeReceiverKeys();
    if (!made.ok()) return made.status();
    keys = *std::move(made);
  }
  // PushSubscription.toJSON()'s shape.
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("endpoint");
  w.String(options.endpoint.c_str(), static_cast<rapidjson::SizeType>(options.endpoint.size()));
  w.Key("keys");
  w.StartObject();
  w.Key("p256dh");
  w.String(keys.p256dh.c_str(), static_cast<rapidjson::SizeType>(keys.p256dh.size()));
  w.Key("auth");
  w.String(keys.auth.c_str(), static_cast<rapidjson::SizeType>(keys.auth.size()));
  w.EndObject();
  w.EndObject();
  const std::string body(buffer.GetString(), buffer.GetSize());
  auto doc = CallApi(ctx, http::verb::put, absl::StrCat("/v1/devices/", options.device, "/push"),
                     body, me->token);
  if (!doc.ok()) return doc.status();
  JsonObject out;
  out.Add("device", options.device).Add("status", "subscribed").Add("endpoint", options.endpoint);
  out.Add("p256dh", keys.p256dh).Add("auth", keys.auth);
  if (!keys.private_key_pem.empty()) out.Add("private_key_pem", keys.private_key_pem);
  return PrintLine(out.str());
}

absl::Status PushUnsubscribe(Context& ctx, const std::string& device) {
  auto me = LoadCredentials(ctx.token_file);
  if (!me.ok()) return me.status();
  auto doc = CallApi(ctx, http::verb::delete_, absl::StrCat("/v1/devices/", device, "/push"), "",
                     me->token);
  if (!doc.ok()) return doc.status();
  return PrintLine(Compact(*doc));
}

}  // namespace courier_cli
