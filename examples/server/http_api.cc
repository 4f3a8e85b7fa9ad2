// http_api.cc: the public routes (the shared pieces are in http_routes.h).
#include "http_api.h"

#include <optional>
#include <string>
#include <utility>

#include "http_errors.h"
#include "http_routes.h"
#include "metrics.h"
#include "push.h"
#include "throttle.h"
#include "web_assets.h"

namespace courier::server {
namespace {

using websocket::HttpRequest;
using websocket::HttpResponse;

HttpResponse Asset(const WebAsset& asset) {
  HttpResponse r;
  r.status = 200;
  r.content_type = std::string(asset.content_type);
  r.body = std::string(asset.data);
  r.headers = {{"Cache-Control", "no-cache"}, {"X-Content-Type-Options", "nosniff"}};
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
  if (!user.ok()) return HttpAnswerOf(user.status());
  const std::string name(device);
  if (absl::Status s = ValidateName("device", name); !s.ok()) return HttpAnswerOf(s);
  if (!put) {
    absl::StatusOr<bool> removed =
        deps_.store->DeletePushSubscription(*user, name, std::nullopt);
    if (!removed.ok()) return HttpAnswerOf(removed.status());
    return JsonObject(200, {{"user", *user},
                            {"device", name},
                            {"status", *removed ? "unsubscribed" : "not_subscribed"}});
  }
  absl::StatusOr<std::string> subscription = NormalizeSubscription(request.body);
  if (!subscription.ok()) {
    return HttpAnswerOf(WithHttpDetail(subscription.status(), "bad_subscription"));
  }
  if (absl::Status s = deps_.store->SetPushSubscription(*user, name, *subscription); !s.ok()) {
    return HttpAnswerOf(s);
  }
  return JsonObject(200, {{"user", *user}, {"device", name}, {"status", "subscribed"}});
}

absl::StatusOr<HttpApi::FriendParties> HttpApi::Parties(const HttpRequest& request) const {
  absl::StatusOr<UserId> me = Bearer(request);
  if (!me.ok()) return me.status();
  auto fields = RequiredStrings(request, {"user"});
  if (!fields.ok()) return fields.status();
  std::string& other = (*fields)[0];
  if (absl::Status s = ValidateName("user", other); !s.ok()) return s;
  return FriendParties{*std::move(me), std::move(other)};
}

absl::StatusOr<UserId> HttpApi::Bearer(const HttpRequest& request) const {
  absl::StatusOr<TokenClaims> claims = BearerClaims(request);
  if (!claims.ok()) return claims.status();
  return std::move(claims->user);
}

absl::StatusOr<TokenClaims> HttpApi::BearerClaims(const HttpRequest& request) const {
  std::optional<std::string_view> token = BearerToken(request);
  if (!token.has_value()) {
    return absl::UnauthenticatedError("an Authorization: Bearer <token> header is required");
  }
  return deps_.accounts->AuthenticateNow(*token);
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
  return Answer(200, b);
}

}  // namespace

HttpResponse HttpApi::Logout(const HttpRequest& request) const {
  absl::StatusOr<TokenClaims> claims = BearerClaims(request);
  if (!claims.ok()) return HttpAnswerOf(claims.status());
  if (absl::Status s = deps_.accounts->Logout(*claims); !s.ok()) return HttpAnswerOf(s);
  return JsonObject(200, {{"user", claims->user}, {"status", "logged_out"}});
}

HttpResponse HttpApi::LogoutAll(const HttpRequest& request) const {
  absl::StatusOr<TokenClaims> claims = BearerClaims(request);
  if (!claims.ok()) return HttpAnswerOf(claims.status());
  if (absl::Status s = deps_.accounts->LogoutAll(claims->user); !s.ok()) return HttpAnswerOf(s);
  return JsonObject(200, {{"user", claims->user}, {"status", "logged_out"}});
}

HttpResponse HttpApi::ChangePassword(const HttpRequest& request) const {
  absl::StatusOr<TokenClaims> claims = BearerClaims(request);
  if (!claims.ok()) return HttpAnswerOf(claims.status());
  auto fields = RequiredStrings(request, {"old_password", "new_password"});
  if (!fields.ok()) return HttpAnswerOf(fields.status());
  const std::string& old_password = (*fields)[0];
  const std::string& new_password = (*fields)[1];
  absl::StatusOr<IssuedToken> token = deps_.accounts->ChangePassword(
      *claims, old_password, new_password, ClientAddress(request.remote));
  if (!token.ok()) return HttpAnswerOf(token.status());
  return TokenAnswer(*token, claims->user);
}

HttpResponse HttpApi::Register(const HttpRequest& request) const {
  auto fields = RequiredStrings(request, {"user", "password"});
  if (!fields.ok()) return HttpAnswerOf(fields.status());
  const std::string& user = (*fields)[0];
  const std::string& password = (*fields)[1];
  if (absl::Status s = deps_.accounts->Register(user, password, ClientAddress(request.remote));
      !s.ok()) {
    return HttpAnswerOf(s);
  }
  return JsonObject(201, {{"user", user}});
}

HttpResponse HttpApi::Login(const HttpRequest& request) const {
  auto fields = RequiredStrings(request, {"user", "password"});
  if (!fields.ok()) return HttpAnswerOf(fields.status());
  const std::string& user = (*fields)[0];
  const std::string& password = (*fields)[1];
  absl::StatusOr<IssuedToken> token =
      deps_.accounts->Login(user, password, ClientAddress(request.remote));
  if (!token.ok()) return HttpAnswerOf(token.status());
  return TokenAnswer(*token, user);
}

HttpResponse HttpApi::RequestFriend(const HttpRequest& request) const {
  absl::StatusOr<FriendParties> parties = Parties(request);
  if (!parties.ok()) return HttpAnswerOf(parties.status());
  const auto& [me, other] = *parties;
  if (other == me) return JsonError(400, "bad_request", "you cannot befriend yourself");
  absl::StatusOr<FriendRequestOutcome> outcome = deps_.store->RequestFriend(me, other);
  if (absl::IsNotFound(outcome.status())) return JsonError(404, "not_found", "no such user");
  if (!outcome.ok()) return HttpAnswerOf(outcome.status());
  const char* status = *outcome == FriendRequestOutcome::kRequested ? "requested" : "friends";
  return JsonObject(200, {{"user", other}, {"status", status}});
}

HttpResponse HttpApi::AcceptFriend(const HttpRequest& request) const {
  absl::StatusOr<FriendParties> parties = Parties(request);
  if (!parties.ok()) return HttpAnswerOf(parties.status());
  const auto& [me, other] = *parties;
  absl::Status s = deps_.store->AcceptFriend(me, other);
  if (absl::IsNotFound(s)) return JsonError(404, "not_found", "no friend request from that user");
  if (!s.ok()) return HttpAnswerOf(s);
  return JsonObject(200, {{"user", other}, {"status", "friends"}});
}

HttpResponse HttpApi::ListFriends(const HttpRequest& request) const {
  absl::StatusOr<UserId> me = Bearer(request);
  if (!me.ok()) return HttpAnswerOf(me.status());
  absl::StatusOr<std::vector<UserId>> friends = deps_.store->Friends(*me);
  if (!friends.ok()) return HttpAnswerOf(friends.status());
  absl::StatusOr<std::vector<UserId>> incoming = deps_.store->PendingRequests(*me);
  if (!incoming.ok()) return HttpAnswerOf(incoming.status());
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
  return Answer(200, b);
}

HttpResponse HttpApi::Health() const { return HealthAnswer(*deps_.engine); }

}  // namespace courier::server
