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
//                                                       closed with 4403), and its
//                                                       inbox with inbox=delete
// Every /admin/ route needs `Authorization: Bearer <admin token>` (the token
// file, admin_token.h): missing or wrong answers 401 before anything else.
// Errors are {"error":code,"message":text} like the public API's. The routes
// and answers are in docs/PROTOCOL.md ("Admin API"). Sessions are closed on
// every node (cluster_close.h: here directly, elsewhere by a signal);
// "online" is this node's view.
//
// Deleting a user goes in an order that never leaves a user who can log in
// or connect with part of the account gone: disable (no login, no hello on
// any node), close every session (4403), revoke every token, leave every
// group (Engine::LeaveAllGroups; the other members are told), delete the
// inbox (inbox=delete; one atomic MessageStore::DeleteInbox), delete the
// account. A step that fails answers 503 and leaves the user disabled with
// the steps before it done; the same DELETE again finishes the job (each
// step is idempotent).
//
// Ownership: borrows everything in AdminDeps; each must outlive the AdminApi.
// Thread-safety: Handle is safe for concurrent calls; AttachServer once,
//   before the admin address serves.
// Blocking: Handle blocks on the account store, password hashing and, for
//   DELETE, the engine leaving the user's groups (at most 30 s, then 503); it
//   runs on the admin server's http thread.
#ifndef COURIER_EXAMPLES_SERVER_ADMIN_API_H_
#define COURIER_EXAMPLES_SERVER_ADMIN_API_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "accounts.h"
#include "cluster_close.h"
#include "courier/account_store.h"
#include "courier/engine.h"
#include "courier/message_store.h"
#include "courier/websocket/http.h"
#include "courier/websocket/server.h"
#include "push.h"

namespace courier::server {

struct AdminDeps {
  AccountStore* store = nullptr;
  Accounts* accounts = nullptr;  // revokes the tokens of disabled and deleted users
  Engine* engine = nullptr;      // stats, health, leaving groups of deleted users
  std::string token;             // the admin bearer token
  const PushService* push = nullptr;  // optional: its counters in /metrics
  MessageStore* messages = nullptr;   // deletes inboxes (inbox=delete)
  ClusterCloser* closer = nullptr;    // closes sessions on every node (else: here only)
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
                            std::uint16_t code) const;

  const AdminDeps deps_;
  std::atomic<websocket::Server*> server_{nullptr};
};

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_ADMIN_API_H_
