// admin_api.cc: the admin routes (the shared pieces are in http_routes.h).
#include "admin_api.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "admin_token.h"
#include "courier/clock.h"
#include "http_errors.h"
#include "http_routes.h"
#include "metrics.h"
#include "password.h"
#include "process_metrics.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace courier::server {
namespace {

using websocket::HttpRequest;
using websocket::HttpResponse;

// Engine::LeaveAllGroups, waited for on this http thread (its callback runs
// on the engine's delivery executor, never here). A callback that has not run
// within the wait is kUnavailable; it may still run later, harmlessly.
absl::Status LeaveAllGroups(Engine& engine, const UserId& user) {
  constexpr std::chrono::seconds kWait{30};
  auto done = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> result = done->get_future();
  engine.LeaveAllGroups(user, [done](absl::Status s) { done->set_value(std::move(s)); });
  if (result.wait_for(kWait) != std::future_status::ready) {
    return absl::UnavailableError("leaving the user's groups took too long; try again");
  }
  return result.get();
}

// The value of `key` in a query string "a=1&b=2", if present.
std::optional<std::string> QueryValue(const std::string& query, std::string_view key) {
  for (absl::string_view part : absl::StrSplit(query, '&')) {
    const std::size_t eq = part.find('=');
    if (part.substr(0, eq) != absl::string_view(key.data(), key.size())) continue;
    return eq == absl::string_view::npos ? std::string() : std::string(part.substr(eq + 1));
  }
  return std::nullopt;
}

// Opens the answer object of a route about one user: {"user": user, ...
void StartUserObject(JsonWriter& w, const UserId& user) {
  w.StartObject();
  w.Key("user");
  Str(w, user);
}

}  // namespace

HttpResponse AdminApi::Handle(const HttpRequest& request) const {
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (request.path == "/metrics") return get ? Metrics() : MethodNotAllowed("GET");
  if (request.path == "/healthz") {
    return get ? HealthAnswer(*deps_.engine) : MethodNotAllowed("GET");
  }
  if (request.path != "/admin" && !absl::StartsWith(request.path, "/admin/")) {
    return JsonError(404, "not_found", "no such resource");
  }

  // --- everything under /admin/ needs the token, before anything else
  std::optional<std::string_view> token = BearerToken(request);
  if (!token.has_value()) {
    HttpResponse r = JsonError(401, "unauthorized",
                           "the admin API needs an Authorization: Bearer <admin token> header");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  }
  if (!TokenMatches(*token, deps_.token)) {
    spdlog::warn("event=admin_unauthorized remote={} method={} path={}", request.remote,
                 request.method, request.path);
    HttpResponse r = JsonError(401, "unauthorized", "wrong admin token");
    r.headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
    return r;
  }

  // /admin/v1/users[/U[/devices[/D/disconnect] | /disable | /enable]]
  std::vector<std::string> parts = absl::StrSplit(request.path.substr(1), '/');
  if (parts.size() < 3 || parts[1] != "v1" || parts[2] != "users") {
    return JsonError(404, "not_found", "no such admin resource");
  }
  if (parts.size() == 3) {
    if (request.method != "POST") return MethodNotAllowed("POST");
    return CreateUser(request);
  }
  const UserId user = parts[3];
  if (absl::Status s = ValidateName("user", user); !s.ok()) return HttpAnswerOf(s);
  HttpResponse answer;
  if (parts.size() == 4) {
    if (request.method != "DELETE") return MethodNotAllowed("DELETE");
    answer = DeleteUser(user, request.query);
  } else if (parts.size() == 5 && parts[4] == "devices") {
    if (!get) return MethodNotAllowed("GET");
    return ListDevices(user);
  } else if (parts.size() == 5 && (parts[4] == "disable" || parts[4] == "enable")) {
    if (request.method != "POST") return MethodNotAllowed("POST");
    answer = SetDisabled(user, parts[4] == "disable");
  } else if (parts.size() == 7 && parts[4] == "devices" && parts[6] == "disconnect") {
    if (request.method != "POST") return MethodNotAllowed("POST");
    if (absl::Status s = ValidateName("device", parts[5]); !s.ok()) return HttpAnswerOf(s);
    answer = Disconnect(user, parts[5]);
  } else {
    return JsonError(404, "not_found", "no such admin resource");
  }
  spdlog::info("event=admin method={} path={} query=\"{}\" status={} remote={}", request.method,
               request.path, request.query, answer.status, request.remote);
  return answer;
}

HttpResponse AdminApi::Metrics() const {
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  const websocket::Server* server = server_.load();
  r.body = PrometheusText(deps_.engine->stats(),
                          server != nullptr ? server->stats() : websocket::ServerStats{});
  if (absl::StatusOr<ProcessStats> p = ReadProcessStats(); p.ok()) {
    r.body += ProcessMetricsText(*p);
  }
  if (deps_.push != nullptr) r.body += PushMetricsText(deps_.push->stats());
  return r;
}

HttpResponse AdminApi::CreateUser(const HttpRequest& request) const {
  auto fields = RequiredStrings(request, {"user", "password"});
  if (!fields.ok()) return HttpAnswerOf(fields.status());
  const std::string& user = (*fields)[0];
  const std::string& password = (*fields)[1];
  if (absl::Status s = ValidateName("user", user); !s.ok()) return HttpAnswerOf(s);
  if (password.size() < kMinPasswordBytes || password.size() > kMaxPasswordBytes) {
    return JsonError(400, "bad_request", "a password is 8 to 1024 bytes");
  }
  absl::StatusOr<std::string> hash = HashPassword(password);
  if (!hash.ok()) return HttpAnswerOf(hash.status());
  absl::Status s = deps_.store->CreateUser(user, *hash, SystemClock().NowMs());
  if (absl::IsAlreadyExists(s)) return JsonError(409, "conflict", "that user name is taken");
  if (!s.ok()) return HttpAnswerOf(s);
  return JsonObject(201, {{"user", user}});
}

HttpResponse AdminApi::ListDevices(const UserId& user) const {
  absl::StatusOr<bool> disabled = deps_.store->UserDisabled(user);
  if (absl::IsNotFound(disabled.status())) return JsonError(404, "not_found", "no such user");
  if (!disabled.ok()) return HttpAnswerOf(disabled.status());
  absl::StatusOr<std::vector<DeviceRecord>> devices = deps_.store->Devices(user);
  if (absl::IsNotFound(devices.status())) return JsonError(404, "not_found", "no such user");
  if (!devices.ok()) return HttpAnswerOf(devices.status());
  const websocket::Server* server = server_.load();
  std::vector<DeviceId> online = server != nullptr ? server->OpenDevices(user)
                                                   : std::vector<DeviceId>{};
  // A device online here whose record is not written yet is listed too.
  for (const DeviceId& d : online) {
    bool known = false;
    for (const DeviceRecord& r : *devices) known = known || r.device == d;
    if (!known) devices->push_back(DeviceRecord{d, SystemClock().NowMs()});
  }
  std::sort(devices->begin(), devices->end(),
            [](const DeviceRecord& a, const DeviceRecord& b) { return a.device < b.device; });
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  StartUserObject(w, user);
  w.Key("disabled");
  w.Bool(*disabled);
  w.Key("devices");
  w.StartArray();
  for (const DeviceRecord& r : *devices) {
    const bool is_online = std::binary_search(online.begin(), online.end(), r.device);
    w.StartObject();
    w.Key("device");
    Str(w, r.device);
    w.Key("online");
    w.Bool(is_online);
    w.Key("last_seen");
    w.Int64(r.last_seen);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return Answer(200, b);
}

std::size_t AdminApi::CloseSessions(const UserId& user, const std::optional<DeviceId>& device,
                                    std::uint16_t code) const {
  if (deps_.closer != nullptr) return deps_.closer->CloseEverywhere(user, device, code);
  websocket::Server* server = server_.load();
  return server != nullptr ? server->CloseSessions(user, device, code, CloseReasonOf(code)) : 0;
}

HttpResponse AdminApi::Disconnect(const UserId& user, const DeviceId& device) const {
  absl::StatusOr<bool> exists = deps_.store->UserExists(user);
  if (!exists.ok()) return HttpAnswerOf(exists.status());
  if (!*exists) return JsonError(404, "not_found", "no such user");
  const std::size_t closed = CloseSessions(user, device, kCloseDisconnectedByAdmin);
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  StartUserObject(w, user);
  w.Key("device");
  Str(w, device);
  w.Key("closed");
  w.Uint64(closed);
  w.EndObject();
  return Answer(200, b);
}

HttpResponse AdminApi::SetDisabled(const UserId& user, bool disabled) const {
  absl::Status s = deps_.store->SetUserDisabled(user, disabled);
  if (absl::IsNotFound(s)) return JsonError(404, "not_found", "no such user");
  if (!s.ok()) return HttpAnswerOf(s);
  std::size_t closed = 0;
  if (disabled) {
    // Close first (4403 tells the client not to come back), then revoke every
    // token, so that no hello on any node succeeds with an old one.
    closed = CloseSessions(user, std::nullopt, kCloseAccountDisabled);
    if (absl::Status r = deps_.accounts->LogoutAll(user); !r.ok()) return HttpAnswerOf(r);
  }
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  StartUserObject(w, user);
  w.Key("disabled");
  w.Bool(disabled);
  if (disabled) {
    w.Key("closed");
    w.Uint64(closed);
  }
  w.EndObject();
  return Answer(200, b);
}

HttpResponse AdminApi::DeleteUser(const UserId& user, const std::string& query) const {
  std::optional<std::string> inbox = QueryValue(query, "inbox");
  if (!inbox || (*inbox != "retain" && *inbox != "delete")) {
    return JsonError(400, "bad_request",
                 "say what happens to the inbox: ?inbox=retain or ?inbox=delete");
  }
  const bool delete_inbox = *inbox == "delete";
  if (delete_inbox && deps_.messages == nullptr) {
    return JsonError(500, "internal", "this server has no message store to delete from");
  }
  // The order is in admin_api.h: disable, close, revoke, inbox, account.
  absl::Status s = deps_.store->SetUserDisabled(user, true);
  if (absl::IsNotFound(s)) return JsonError(404, "not_found", "no such user");
  if (!s.ok()) return HttpAnswerOf(s);
  const std::size_t closed = CloseSessions(user, std::nullopt, kCloseAccountDisabled);
  if (absl::Status r = deps_.accounts->LogoutAll(user); !r.ok() && !absl::IsNotFound(r)) {
    return HttpAnswerOf(r);
  }
  // The user's groups see them leave (Engine::LeaveAllGroups) before the
  // inbox and the account go, so no group keeps a member who cannot come back.
  if (deps_.engine != nullptr) {
    if (absl::Status left = LeaveAllGroups(*deps_.engine, user); !left.ok()) {
      spdlog::warn("event=admin_leave_groups_failed user={} error=\"{}\"", user,
                   std::string(left.message()));
      return HttpAnswerOf(left);  // the user stays disabled; DELETE again
    }
  }
  std::size_t events_deleted = 0;
  if (delete_inbox) {
    absl::StatusOr<std::size_t> removed = deps_.messages->DeleteInbox(user);
    if (!removed.ok()) {
      spdlog::warn("event=admin_delete_inbox_failed user={} error=\"{}\"", user,
                   std::string(removed.status().message()));
      return HttpAnswerOf(removed.status());  // the user stays disabled; DELETE again
    }
    events_deleted = *removed;
  }
  s = deps_.store->DeleteUser(user);
  if (absl::IsNotFound(s)) return JsonError(404, "not_found", "no such user");
  if (!s.ok()) return HttpAnswerOf(s);
  // Sends to the name are checked against the (now missing) account again.
  if (deps_.engine != nullptr) deps_.engine->ForgetUser(user);
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  StartUserObject(w, user);
  w.Key("deleted");
  w.Bool(true);
  w.Key("inbox");
  Str(w, delete_inbox ? "deleted" : "retained");
  if (delete_inbox) {
    w.Key("events_deleted");
    w.Uint64(events_deleted);
  }
  w.Key("closed");
  w.Uint64(closed);
  w.EndObject();
  return Answer(200, b);
}

}  // namespace courier::server
