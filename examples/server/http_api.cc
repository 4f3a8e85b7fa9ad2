// http_api.cc: routing, JSON bodies (RapidJSON), status -> HTTP mapping.
#include "http_api.h"

#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "http_errors.h"
#include "metrics.h"
#include "push.h"
#include "throttle.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "web_assets.h"

namespace courier::server {
namespace {

using websocket::HttpRequest;
using websocket::HttpResponse;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void Str(JsonWriter& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

HttpResponse FromStatusCode(const absl::Status& s);

// One place maps canonical codes to HTTP answers; an error word and a
// Retry-After set with WithHttpDetail (http_errors.h) are honoured.
HttpResponse FromStatus(const absl::Status& s) {
  HttpResponse r = FromStatusCode(s);
  if (std::optional<std::string> code = ErrorCodeOf(s); code.has_value()) {
    r = JsonError(r.status, *code, std::string_view(s.message().data(), s.message().size()));
  }
  if (std::optional<std::int64_t> retry = RetryAfterSecondsOf(s); retry.has_value()) {
    r.headers.emplace_back("Retry-After", std::to_string(*retry));
  }
  return r;
}

HttpResponse FromStatusCode(const absl::Status& s) {
  std::string_view msg(s.message().data(), s.message().size());
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return JsonError(400, "bad_request", msg);
    case absl::StatusCode::kUnauthenticated:
      return JsonError(401, "unauthorized", msg);
    case absl::StatusCode::kPermissionDenied:
      return JsonError(403, "forbidden", msg);
    case absl::StatusCode::kNotFound:
      return JsonError(404, "not_found", msg);
    case absl::StatusCode::kAlreadyExists:
      return JsonError(409, "conflict", msg);
    case absl::StatusCode::kResourceExhausted:
      return JsonError(429, "resource_exhausted", msg);
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
      return JsonError(503, "unavailable", msg);
    default:
      return JsonError(500, "internal", msg);
  }
}

// The string field `name` of a JSON object body.
struct Body {
  rapidjson::Document doc;
  std::optional<std::string> String(const char* name) const {
    auto it = doc.FindMember(name);
    if (it == doc.MemberEnd() || !it->value.IsString()) return std::nullopt;
    return std::string(it->value.GetString(), it->value.GetStringLength());
  }
};

absl::StatusOr<std::unique_ptr<Body>> ParseBody(const HttpRequest& request) {
  auto body = std::make_unique<Body>();
  body->doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(
      request.body.data(), request.body.size());
  if (body->doc.HasParseError() || !body->doc.IsObject()) {
    return absl::InvalidArgumentError("the body must be a JSON object");
  }
  return body;
}

absl::StatusOr<std::string> RequiredString(const Body& body, const char* name) {
  std::optional<std::string> v = body.String(name);
  if (!v.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("field \"", name, "\" must be a string"));
  }
  return *std::move(v);
}

HttpResponse JsonObject(int status, std::initializer_list<std::pair<const char*, std::string>> kv) {
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  w.StartObject();
  for (const auto& [k, v] : kv) {
    w.Key(k);
    Str(w, v);
  }
  w.EndObject();
  return HttpResponse::Json(status, std::string(b.GetString(), b.GetSize()));
}

HttpResponse Asset(const WebAsset& asset) {
  HttpResponse r;
  r.status = 200;
  r.content_type = std::string(asset.content_type);
  r.body = std::string(asset.data);
  r.headers = {{"Cache-Control", "no-cache"}, {"X-Content-Type-Options", "nosniff"}};
  return r;
}

HttpResponse MethodNotAllowed(std::string_view allow) {
  HttpResponse r = JsonError(405, "method_not_allowed", absl::StrCat("use ", absl::string_view(allow.data(), allow.size())));
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

}  // namespace

HttpResponse HttpApi::Handle(const HttpRequest& request) const {
  struct Route {
    std::string_view path;
    std::string_view method;
    HttpResponse (HttpApi::*handler)(const HttpRequest&) const;
  };
  static constexpr Route kRoutes[] = {
      {"/v1/register", "POST", &HttpApi::Register},
      {"/v1/login", "POST", &HttpApi::Login},
      {"/v1/friends/request", "POST", &HttpApi::RequestFriend},
      {"/v1/friends/accept", "POST", &HttpApi::AcceptFriend},
      {"/v1/friends", "GET", &HttpApi::ListFriends},
      {"/v1/logout", "POST", &HttpApi::Logout},
      {"/v1/logout-all", "POST", &HttpApi::LogoutAll},
      {"/v1/password", "POST", &HttpApi::ChangePassword},
  };
  for (const Route& route : kRoutes) {
    if (request.path != route.path) continue;
    if (request.method != route.method) return MethodNotAllowed(route.method);
    return (this->*route.handler)(request);
  }
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (request.path == "/v1/ws") {
    HttpResponse r = JsonError(426, "upgrade_required", "/v1/ws is a WebSocket: send an Upgrade request");
    r.headers.emplace_back("Upgrade", "websocket");
    return r;
  }
  if (request.path == "/healthz") return get ? Health() : MethodNotAllowed("GET");
  if (request.path == "/v1/push/vapid-public-key") return VapidPublicKey(request);
  constexpr std::string_view kDevices = "/v1/devices/", kPush = "/push";
  if (std::string_view path = request.path;
      path.starts_with(kDevices) && path.ends_with(kPush) &&
      path.size() > kDevices.size() + kPush.size()) {
    return DevicePush(request, path.substr(kDevices.size(),
                                           path.size() - kDevices.size() - kPush.size()));
  }
  // /metrics is on the admin address (admin_api.h), not here.
  if (const WebAsset* asset = FindWebAsset(request.path); asset != nullptr) {
    return get ? Asset(*asset) : MethodNotAllowed("GET");
  }
  return JsonError(404, "not_found", "no such resource");
}

HttpResponse HttpApi::VapidPublicKey(const HttpRequest& request) const {
  if (request.method != "GET" && request.method != "HEAD") return MethodNotAllowed("GET");
  if (deps_.vapid_public_key == nullptr) {
    return JsonError(404, "not_found", "push is off on this server");
  }
  return JsonObject(200, {{"public_key", *deps_.vapid_public_key}});
}

HttpResponse HttpApi::DevicePush(const HttpRequest& request, std::string_view device) const {
  const bool put = request.method == "PUT";
  if (!put && request.method != "DELETE") return MethodNotAllowed("PUT, DELETE");
  if (deps_.vapid_public_key == nullptr) {
    return JsonError(404, "not_found", "push is off on this server");
  }
  absl::StatusOr<UserId> user = Bearer(request);
  if (!user.ok()) return FromStatus(user.status());
  const std::string name(device);
  if (absl::Status s = ValidateName("device", name); !s.ok()) return FromStatus(s);
  if (!put) {
    absl::StatusOr<bool> removed =
        deps_.store->DeletePushSubscription(*user, name, std::nullopt);
    if (!removed.ok()) return FromStatus(removed.status());
    return JsonObject(200, {{"user", *user},
                            {"device", name},
                            {"status", *removed ? "unsubscribed" : "not_subscribed"}});
  }
  absl::StatusOr<std::string> subscription = NormalizeSubscription(request.body);
  if (!subscription.ok()) {
    return FromStatus(WithHttpDetail(subscription.status(), "bad_subscription"));
  }
  if (absl::Status s = deps_.store->SetPushSubscription(*user, name, *subscription); !s.ok()) {
    return FromStatus(s);
  }
  return JsonObject(200, {{"user", *user}, {"device", name}, {"status", "subscribed"}});
}

absl::StatusOr<UserId> HttpApi::Bearer(const HttpRequest& request) const {
  absl::StatusOr<TokenClaims> claims = BearerClaims(request);
  if (!claims.ok()) return claims.status();
  return std::move(claims->user);
}

absl::StatusOr<TokenClaims> HttpApi::BearerClaims(const HttpRequest& request) const {
  std::string_view auth = request.Header("Authorization");
  constexpr std::string_view kPrefix = "Bearer ";
  if (auth.size() <= kPrefix.size() ||
      !absl::EqualsIgnoreCase(absl::string_view(auth.data(), kPrefix.size()), "bearer ")) {
    return absl::UnauthenticatedError("an Authorization: Bearer <token> header is required");
  }
  return deps_.accounts->AuthenticateNow(auth.substr(kPrefix.size()));
}

namespace {

HttpResponse TokenAnswer(const IssuedToken& token, const std::string& user) {
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  w.StartObject();
  w.Key("token");
  Str(w, token.token);
  w.Key("expires_at");
  w.Int64(token.expires_at_ms);
  w.Key("user");
  Str(w, user);
  w.EndObject();
  return HttpResponse::Json(200, std::string(b.GetString(), b.GetSize()));
}

}  // namespace

HttpResponse HttpApi::Logout(const HttpRequest& request) const {
  absl::StatusOr<TokenClaims> claims = BearerClaims(request);
  if (!claims.ok()) return FromStatus(claims.status());
  if (absl::Status s = deps_.accounts->Logout(*claims); !s.ok()) return FromStatus(s);
  return JsonObject(200, {{"user", claims->user}, {"status", "logged_out"}});
}

HttpResponse HttpApi::LogoutAll(const HttpRequest& request) const {
  absl::StatusOr<TokenClaims> claims = BearerClaims(request);
  if (!claims.ok()) return FromStatus(claims.status());
  if (absl::Status s = deps_.accounts->LogoutAll(claims->user); !s.ok()) return FromStatus(s);
  return JsonObject(200, {{"user", claims->user}, {"status", "logged_out"}});
}

HttpResponse HttpApi::ChangePassword(const HttpRequest& request) const {
  absl::StatusOr<TokenClaims> claims = BearerClaims(request);
  if (!claims.ok()) return FromStatus(claims.status());
  auto body = ParseBody(request);
  if (!body.ok()) return FromStatus(body.status());
  auto old_password = RequiredString(**body, "old_password");
  auto new_password = RequiredString(**body, "new_password");
  if (!old_password.ok()) return FromStatus(old_password.status());
  if (!new_password.ok()) return FromStatus(new_password.status());
  absl::StatusOr<IssuedToken> token = deps_.accounts->ChangePassword(
      *claims, *old_password, *new_password, ClientAddress(request.remote));
  if (!token.ok()) return FromStatus(token.status());
  return TokenAnswer(*token, claims->user);
}

HttpResponse HttpApi::Register(const HttpRequest& request) const {
  auto body = ParseBody(request);
  if (!body.ok()) return FromStatus(body.status());
  auto user = RequiredString(**body, "user");
  auto password = RequiredString(**body, "password");
  if (!user.ok()) return FromStatus(user.status());
  if (!password.ok()) return FromStatus(password.status());
  if (absl::Status s = deps_.accounts->Register(*user, *password, ClientAddress(request.remote));
      !s.ok()) {
    return FromStatus(s);
  }
  return JsonObject(201, {{"user", *user}});
}

HttpResponse HttpApi::Login(const HttpRequest& request) const {
  auto body = ParseBody(request);
  if (!body.ok()) return FromStatus(body.status());
  auto user = RequiredString(**body, "user");
  auto password = RequiredString(**body, "password");
  if (!user.ok()) return FromStatus(user.status());
  if (!password.ok()) return FromStatus(password.status());
  absl::StatusOr<IssuedToken> token =
      deps_.accounts->Login(*user, *password, ClientAddress(request.remote));
  if (!token.ok()) return FromStatus(token.status());
  return TokenAnswer(*token, *user);
}

HttpResponse HttpApi::RequestFriend(const HttpRequest& request) const {
  absl::StatusOr<UserId> me = Bearer(request);
  if (!me.ok()) return FromStatus(me.status());
  auto body = ParseBody(request);
  if (!body.ok()) return FromStatus(body.status());
  auto other = RequiredString(**body, "user");
  if (!other.ok()) return FromStatus(other.status());
  if (absl::Status s = ValidateName("user", *other); !s.ok()) return FromStatus(s);
  if (*other == *me) return JsonError(400, "bad_request", "you cannot befriend yourself");
  absl::StatusOr<FriendRequestOutcome> outcome = deps_.store->RequestFriend(*me, *other);
  if (absl::IsNotFound(outcome.status())) return JsonError(404, "not_found", "no such user");
  if (!outcome.ok()) return FromStatus(outcome.status());
  const char* status = *outcome == FriendRequestOutcome::kRequested ? "requested" : "friends";
  return JsonObject(200, {{"user", *other}, {"status", status}});
}

HttpResponse HttpApi::AcceptFriend(const HttpRequest& request) const {
  absl::StatusOr<UserId> me = Bearer(request);
  if (!me.ok()) return FromStatus(me.status());
  auto body = ParseBody(request);
  if (!body.ok()) return FromStatus(body.status());
  auto other = RequiredString(**body, "user");
  if (!other.ok()) return FromStatus(other.status());
  if (absl::Status s = ValidateName("user", *other); !s.ok()) return FromStatus(s);
  absl::Status s = deps_.store->AcceptFriend(*me, *other);
  if (absl::IsNotFound(s)) return JsonError(404, "not_found", "no friend request from that user");
  if (!s.ok()) return FromStatus(s);
  return JsonObject(200, {{"user", *other}, {"status", "friends"}});
}

HttpResponse HttpApi::ListFriends(const HttpRequest& request) const {
  absl::StatusOr<UserId> me = Bearer(request);
  if (!me.ok()) return FromStatus(me.status());
  absl::StatusOr<std::vector<UserId>> friends = deps_.store->Friends(*me);
  if (!friends.ok()) return FromStatus(friends.status());
  absl::StatusOr<std::vector<UserId>> incoming = deps_.store->PendingRequests(*me);
  if (!incoming.ok()) return FromStatus(incoming.status());
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  w.StartObject();
  w.Key("friends");
  w.StartArray();
  for (const UserId& u : *friends) Str(w, u);
  w.EndArray();
  w.Key("incoming");
  w.StartArray();
  for (const UserId& u : *incoming) Str(w, u);
  w.EndArray();
  w.EndObject();
  return HttpResponse::Json(200, std::string(b.GetString(), b.GetSize()));
}

HttpResponse HttpApi::Health() const {
  absl::Status s = deps_.engine->Health();
  if (!s.ok()) {
    return JsonError(503, "unavailable", std::string_view(s.message().data(), s.message().size()));
  }
  return HttpResponse::Json(200, R"({"status":"ok"})");
}

}  // namespace courier::server
