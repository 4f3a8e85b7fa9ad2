// ParseSubscriptionJson and friends (courier/webpush/subscription.h).
#include "courier/webpush/subscription.h"

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "text.h"

namespace courier::webpush {
namespace {

constexpr std::size_t kMaxKeyTextBytes = 128;  // 88 for 65 bytes with padding

absl::Status Invalid(std::string_view what) {
  return absl::InvalidArgumentError(internal::Cat("push subscription: ", what));
}

// The endpoint rules: a URL, https unless the host is loopback.
absl::Status CheckEndpoint(std::string_view endpoint) {
  auto url = ParseUrl(endpoint);
  if (!url.ok()) return Invalid(internal::Cat("endpoint: ", url.status().message()));
  if (!url->https && !IsLoopbackHost(url->host)) {
    return Invalid("endpoint must be https (http only for loopback)");
  }
  return absl::OkStatus();
}

absl::Status CheckKey(std::string_view name, std::string_view text, std::size_t want_bytes) {
  if (text.size() > kMaxKeyTextBytes) return Invalid(internal::Cat("keys.", name, " is too long"));
  auto raw = Base64UrlDecode(text);
  if (!raw.ok()) return Invalid(internal::Cat("keys.", name, ": ", raw.status().message()));
  if (raw->size() != want_bytes) {
    return Invalid(
        internal::Cat("keys.", name, " must decode to ", want_bytes, " bytes, not ", raw->size()));
  }
  if (name == "p256dh" && !internal::IsP256Point(*raw)) {
    return Invalid("keys.p256dh is not an uncompressed P-256 point");
  }
  return absl::OkStatus();
}

// The member `name` of the object `obj`, or nullptr. (Const iterators: clang
// finds RapidJSON's non-const iterator comparison ambiguous in C++20.)
const rapidjson::Value* Member(const rapidjson::Value& obj, const char* name) {
  const auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::string StripPadding(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  return std::string(text);
}

}  // namespace

absl::Status ValidateSubscription(const Subscription& sub) {
  if (absl::Status s = CheckEndpoint(sub.endpoint); !s.ok()) return s;
  if (absl::Status s = CheckKey("p256dh", sub.p256dh, 65); !s.ok()) return s;
  return CheckKey("auth", sub.auth, 16);
}

absl::StatusOr<Subscription> ParseSubscriptionJson(std::string_view json) {
  if (json.size() > kMaxSubscriptionJsonBytes) {
    return Invalid(internal::Cat("body larger than ", kMaxSubscriptionJsonBytes, " bytes"));
  }
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(json.data(),
                                                                                    json.size());
  if (doc.HasParseError()) {
    return Invalid(internal::Cat("not JSON (", rapidjson::GetParseError_En(doc.GetParseError()),
                                 " at byte ", doc.GetErrorOffset(), ")"));
  }
  if (!doc.IsObject()) return Invalid("not a JSON object");
  const rapidjson::Value* endpoint = Member(doc, "endpoint");
  if (endpoint == nullptr || !endpoint->IsString()) {
    return Invalid("\"endpoint\" is missing or not a string");
  }
  const rapidjson::Value* expiration = Member(doc, "expirationTime");
  if (expiration != nullptr && !expiration->IsNull() && !expiration->IsNumber()) {
    return Invalid("\"expirationTime\" is neither null nor a number");
  }
  const rapidjson::Value* keys = Member(doc, "keys");
  if (keys == nullptr || !keys->IsObject()) return Invalid("\"keys\" is missing or not an object");
  const rapidjson::Value* p256dh = Member(*keys, "p256dh");
  const rapidjson::Value* auth = Member(*keys, "auth");
  if (p256dh == nullptr || !p256dh->IsString()) {
    return Invalid("\"keys.p256dh\" is missing or not a string");
  }
  if (auth == nullptr || !auth->IsString()) {
    return Invalid("\"keys.auth\" is missing or not a string");
  }
  Subscription sub;
  sub.endpoint.assign(endpoint->GetString(), endpoint->GetStringLength());
  sub.p256dh = StripPadding({p256dh->GetString(), p256dh->GetStringLength()});
  sub.auth = StripPadding({auth->GetString(), auth->GetStringLength()});
  if (absl::Status s = ValidateSubscription(sub); !s.ok()) return s;
  return sub;
}

std::string SubscriptionToJson(const Subscription& sub) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  auto str = [&w](const std::string& s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartObject();
  w.Key("endpoint");
  str(sub.endpoint);
  w.Key("keys");
  w.StartObject();
  w.Key("p256dh");
  str(sub.p256dh);
  w.Key("auth");
  str(sub.auth);
  w.EndObject();
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace courier::webpush
