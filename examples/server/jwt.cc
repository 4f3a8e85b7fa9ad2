// jwt.cc: HS256 JWTs with libsodium (HMAC-SHA256, base64url) and RapidJSON.
#include "jwt.h"

#include <sodium.h>

#include <optional>

#include "absl/strings/str_cat.h"
#include "json_writer.h"
#include "rapidjson/document.h"

namespace courier::server {
namespace {

constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

std::string Base64Url(std::string_view bytes) {
  std::string out(sodium_base64_encoded_len(bytes.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), kVariant);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

std::optional<std::string> FromBase64Url(std::string_view text) {
  std::string out(text.size(), '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &len, &end, kVariant) != 0 ||
      end != text.data() + text.size()) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

absl::Status Reject(std::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("invalid token: ", absl::string_view(why.data(), why.size())));
}

// A JSON object decoded from a base64url part, or nullopt.
bool ParseObject(std::string_view part, rapidjson::Document& doc) {
  std::optional<std::string> json = FromBase64Url(part);
  if (!json.has_value()) return false;
  doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(json->data(),
                                                                                   json->size());
  return !doc.HasParseError() && doc.IsObject();
}

}  // namespace

absl::StatusOr<TokenSigner> TokenSigner::Create(std::string secret) {
  if (secret.size() < 32) return absl::InvalidArgumentError("a token secret needs 32+ bytes");
  if (sodium_init() < 0) return absl::InternalError("libsodium failed to initialise");
  return TokenSigner(std::move(secret));
}

std::string TokenSigner::Sign(std::string_view signing_input) const {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(secret_.data()),
                              secret_.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(signing_input.data()),
                                signing_input.size());
  crypto_auth_hmacsha256_final(&state, mac);
  return std::string(reinterpret_cast<const char*>(mac), sizeof mac);
}

std::string NewTokenId() {
  if (sodium_init() < 0) return {};
  unsigned char raw[16];
  randombytes_buf(raw, sizeof raw);
  return Base64Url(std::string_view(reinterpret_cast<const char*>(raw), sizeof raw));
}

IssuedToken TokenSigner::Issue(const UserId& user, TimeMs now_ms, TimeMs ttl_ms,
                               std::uint64_t generation, std::string_view id) const {
  const std::int64_t iat = now_ms / 1000;
  const std::int64_t exp = iat + std::max<std::int64_t>(1, ttl_ms / 1000);
  rapidjson::StringBuffer claims;
  JsonWriter w(claims);
  w.StartObject();
  w.Key("sub");
  Str(w, user);
  w.Key("iat");
  w.Int64(iat);
  w.Key("exp");
  w.Int64(exp);
  if (generation != 0) {
    w.Key("gen");
    w.Uint64(generation);
  }
  if (!id.empty()) {
    w.Key("jti");
    Str(w, id);
  }
  w.EndObject();
  std::string input = Base64Url(R"({"alg":"HS256","typ":"JWT"})") + "." +
                      Base64Url(std::string_view(claims.GetString(), claims.GetSize()));
  std::string token = input + "." + Base64Url(Sign(input));
  return IssuedToken{std::move(token), exp * 1000};
}

absl::StatusOr<UserId> TokenSigner::Verify(std::string_view token, TimeMs now_ms) const {
  absl::StatusOr<TokenClaims> claims = VerifyClaims(token, now_ms);
  if (!claims.ok()) return claims.status();
  return std::move(claims->user);
}

absl::StatusOr<TokenClaims> TokenSigner::VerifyClaims(std::string_view token,
                                                      TimeMs now_ms) const {
  if (token.empty() || token.size() > kMaxTokenBytes) return Reject("empty or too long");
  std::size_t dot1 = token.find('.');
  std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Reject("not three parts");
  }
  std::string_view header_part = token.substr(0, dot1);
  std::string_view claims_part = token.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string_view signature_part = token.substr(dot2 + 1);

  // The algorithm is pinned: only HS256 is looked at any further.
  rapidjson::Document header;
  if (!ParseObject(header_part, header)) return Reject("bad header");
  // Lookups through const references: const iterators compare without the
  // C++20 reversed-operator ambiguity of RapidJSON's mutable iterator.
  const rapidjson::Document& header_view = header;
  auto alg = header_view.FindMember("alg");
  if (alg == header_view.MemberEnd() || !alg->value.IsString() ||
      std::string_view(alg->value.GetString(), alg->value.GetStringLength()) != "HS256") {
    return Reject("algorithm is not HS256");
  }

  std::optional<std::string> signature = FromBase64Url(signature_part);
  if (!signature.has_value() || signature->size() != crypto_auth_hmacsha256_BYTES) {
    return Reject("bad signature");
  }
  std::string expected = Sign(token.substr(0, dot2));
  if (sodium_memcmp(expected.data(), signature->data(), expected.size()) != 0) {
    return Reject("bad signature");
  }

  rapidjson::Document claims;
  if (!ParseObject(claims_part, claims)) return Reject("bad claims");
  const rapidjson::Document& claims_view = claims;
  auto exp = claims_view.FindMember("exp");
  if (exp == claims_view.MemberEnd() || !exp->value.IsNumber()) return Reject("no expiry");
  if (exp->value.GetDouble() * 1000.0 <= static_cast<double>(now_ms)) return Reject("expired");
  auto sub = claims_view.FindMember("sub");
  if (sub == claims_view.MemberEnd() || !sub->value.IsString()) return Reject("no subject");
  UserId user(sub->value.GetString(), sub->value.GetStringLength());
  if (!ValidateName("user", user).ok()) return Reject("bad subject");
  TokenClaims out;
  out.user = std::move(user);
  out.expires_at_ms = static_cast<TimeMs>(exp->value.GetDouble() * 1000.0);
  auto gen = claims_view.FindMember("gen");
  if (gen != claims_view.MemberEnd()) {
    if (!gen->value.IsUint64()) return Reject("bad generation");
    out.generation = gen->value.GetUint64();
  }
  auto jti = claims_view.FindMember("jti");
  if (jti != claims_view.MemberEnd()) {
    if (!jti->value.IsString()) return Reject("bad token id");
    out.id.assign(jti->value.GetString(), jti->value.GetStringLength());
    if (!ValidateTokenId(out.id).ok()) return Reject("bad token id");
  }
  return out;
}

}  // namespace courier::server
