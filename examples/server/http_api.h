// http_api.h: the HTTP endpoints of docs/PROTOCOL.md, as a websocket::HttpHandler.
//
//   POST /v1/register  POST /v1/login  POST /v1/friends/request
//   POST /v1/friends/accept  GET /v1/friends  GET /healthz
//   POST /v1/logout  POST /v1/logout-all  POST /v1/password
//   PUT and DELETE /v1/devices/{device}/push  GET /v1/push/vapid-public-key
//   GET / and GET /<file>: the embedded web page (web_assets.h)
// Errors answer {"error":code,"message":text}; the codes are listed in
// examples/server/README.md.
//
// Ownership: borrows everything in ApiDeps; each must outlive the HttpApi.
// Thread-safety: Handle is safe for concurrent calls.
// Blocking: Handle blocks on password hashing and the stores (it runs on the
//   server's http threads).
#ifndef COURIER_EXAMPLES_SERVER_HTTP_API_H_
#define COURIER_EXAMPLES_SERVER_HTTP_API_H_

#include <atomic>

#include "accounts.h"
#include "courier/account_store.h"
#include "courier/engine.h"
#include "courier/websocket/http.h"
#include "courier/websocket/server.h"

namespace courier::server {

struct ApiDeps {
  Accounts* accounts = nullptr;
  AccountStore* store = nullptr;
  Engine* engine = nullptr;
  // The VAPID public key (PushService::vapid_public_key); nullptr: push is
  // off and its routes answer 404.
  const std::string* vapid_public_key = nullptr;
};

class HttpApi {
 public:
  explicit HttpApi(ApiDeps deps) : deps_(deps) {}

  // The server this API answers for; set once it has started.
  void AttachServer(const websocket::Server* server) { server_.store(server); }

  websocket::HttpResponse Handle(const websocket::HttpRequest& request) const;

 private:
  websocket::HttpResponse Register(const websocket::HttpRequest& request) const;
  websocket::HttpResponse Login(const websocket::HttpRequest& request) const;
  websocket::HttpResponse RequestFriend(const websocket::HttpRequest& request) const;
  websocket::HttpResponse AcceptFriend(const websocket::HttpRequest& request) const;
  websocket::HttpResponse ListFriends(const websocket::HttpRequest& request) const;
  websocket::HttpResponse Logout(const websocket::HttpRequest& request) const;
  websocket::HttpResponse LogoutAll(const websocket::HttpRequest& request) const;
  websocket::HttpResponse ChangePassword(const websocket::HttpRequest& request) const;
  websocket::HttpResponse Health() const;
  // /v1/devices/{device}/push (PUT, DELETE) and /v1/push/vapid-public-key.
  websocket::HttpResponse DevicePush(const websocket::HttpRequest& request,
                                     std::string_view device) const;
  websocket::HttpResponse VapidPublicKey(const websocket::HttpRequest& request) const;
  // The bearer token's user, or the 401 answer (revoked tokens included:
  // checked against the account store on every call).
  absl::StatusOr<UserId> Bearer(const websocket::HttpRequest& request) const;
  absl::StatusOr<TokenClaims> BearerClaims(const websocket::HttpRequest& request) const;
  // A friend request's two users: the bearer, and the body's "user" (a valid
  // name); or the answer's status (401, 400).
  struct FriendParties {
    UserId me;
    UserId other;
  };
  absl::StatusOr<FriendParties> Parties(const websocket::HttpRequest& request) const;

  ApiDeps deps_;
  std::atomic<const websocket::Server*> server_{nullptr};
};

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_HTTP_API_H_
