// admin_api.h: the admin address (--admin-listen): /metrics and the admin API.
//
//   GET  /metrics                                       Prometheus text (no token)
//   GET  /healthz                                       as on the public port (no token)
//   POST /admin/v1/users                 {"user","password"}   create a user (also when
//                                                       registration is closed)
//   GET  /admin/v1/users/U/devices                      U's devices: last seen, online
//   POST /admin/v1/users/U/devices/D/disconnect         close D's WebSocket (4410)
//   POST /admin/v1/users/U/disable                      no login, no hello; sessions
//                                                       closed (4403); tokens revoked
//   POST /admin/v1/users/U/enable
//   DELETE /admin/v1/users/U?inbox=retain|delete        delete the account (sessions
//                                                       closed with 4403)
// Every /admin/ route needs `Authorization: Bearer <admin token>` (the token
// file, admin_token.h): missing or wrong answers 401 before anything else.
// Errors are {"error":code,"message":text} like the public API's. The routes
// and answers are in docs/PROTOCOL.md ("Admin API"). Sessions are closed on
// this node only (the public server attached here); "online" is this node's
// view.
//
// Ownership: borrows everything in AdminDeps; each must outlive the AdminApi.
// Thread-safety: Handle is safe for concurrent calls; AttachServer once,
//   before the admin address serves.
// Blocking: Handle blocks on the account store and password hashing (it runs
//   on the admin server's http thread).
#ifndef COURIER_EXAMPLES_SERVER_ADMIN_API_H_
#define COURIER_EXAMPLES_SERVER_ADMIN_API_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "accounts.h"
#include "courier/account_store.h"
#include "courier/engine.h"
#include "courier/websocket/http.h"
#include "courier/websocket/server.h"

namespace courier::server {

// WebSocket close codes of the admin API (docs/PROTOCOL.md "Close codes").
inline constexpr std::uint16_t kCloseDisconnectedByAdmin = 4410;  // a device was disconnected
inline constexpr std::uint16_t kCloseAccountDisabled = 4403;      // disabled or deleted user

struct AdminDeps {
  AccountStore* store = nullptr;
  Accounts* accounts = nullptr;  // revokes the tokens of disabled and deleted users
  Engine* engine = nullptr;      // stats and health
  std::string token;             // the admin bearer token
};

class AdminApi {
 public:
  explicit AdminApi(AdminDeps deps) : deps_(std::move(deps)) {}

  // The public server: its sessions are closed and listed here, its counters
  // are in /metrics.
  void AttachServer(websocket::Server* server) { server_.store(server); }

  websocket::HttpResponse Handle(const websocket::HttpRequest& request) const;

 private:
  websocket::HttpResponse Metrics() const;
  websocket::HttpResponse CreateUser(const websocket::HttpRequest& request) const;
  websocket::HttpResponse ListDevices(const UserId& user) const;
  websocket::HttpResponse Disconnect(const UserId& user, const DeviceId& device) const;
  websocket::HttpResponse SetDisabled(const UserId& user, bool disabled) const;
  websocket::HttpResponse DeleteUser(const UserId& user, const std::string& query) const;
  std::size_t CloseSessions(const UserId& user, const std::optional<DeviceId>& device,
                            std::uint16_t code, std::string_view reason) const;

  const AdminDeps deps_;
  std::atomic<websocket::Server*> server_{nullptr};
};

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_ADMIN_API_H_
