// courier-server: the Courier example server.
//
// Wires the stack of docs/PROTOCOL.md: the RocksDB store (or SQLite, PostgreSQL,
// MongoDB; or memory, not durable, for benchmarks) behind the body cipher, presence in memory (or Redis), the
// friends-only contact policy, the engine, and the WebSocket + HTTP server on
// one port.
// Prints "listening on HOST:PORT" when it accepts connections; SIGTERM or
// SIGINT stop it cleanly (no new connections, sessions closed with 1001, the
// commit queue flushed) with exit status 0.
#include <csignal>
#include <cstdio>
#include <optional>
#include <variant>
#include <iostream>
#include <memory>
#include <thread>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "abuse_limits.h"
#include "accounts.h"
#include "admin_api.h"
#include "admin_token.h"
#include "cluster_close.h"
#include "device_log.h"
#include "log_format.h"
#include "courier/clock.h"
#include "courier/contact_policy.h"
#include "courier/engine.h"
#include "courier/log.h"
#include "courier/websocket/server.h"
#include "http_api.h"
#include "jwt.h"
#include "options.h"
#include "push.h"
#include "revocation.h"
#include "secrets.h"
#include "signals.h"
#include "stores.h"

namespace courier::server {
namespace {

constexpr int kExitConfig = 2;
constexpr int kExitRuntime = 1;

int Fail(int code, std::string_view what, const absl::Status& status) {
  spdlog::critical("event=start_failed step={} error=\"{}\"", what, status.ToString());
  std::cerr << "courier-server: " << what << ": " << status.message() << "\n";
  return code;
}

int ExitCodeFor(const absl::Status& s) {
  return absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s) ||
                 absl::IsPermissionDenied(s) || absl::IsNotFound(s)
             ? kExitConfig
             : kExitRuntime;
}

void SetUpLogging(const std::string& level, const std::string& format) {
  auto logger = spdlog::stderr_logger_mt("courier");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z level=%l %v");
  if (format == "json") spdlog::set_formatter(MakeJsonLogFormatter());
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::flush_on(spdlog::level::warn);
  // The library's own diagnostics (courier/log.h: a store losing its
  // server, driver warnings) go to the same log; the logger is captured, so
  // the sink stays valid after spdlog::shutdown().
  courier::SetLogSink([logger](const courier::LogRecord& r) {
    spdlog::level::level_enum level = spdlog::level::info;
    switch (r.level) {
      case courier::LogLevel::kDebug: level = spdlog::level::debug; break;
      case courier::LogLevel::kInfo: level = spdlog::level::info; break;
      case courier::LogLevel::kWarning: level = spdlog::level::warn; break;
      case courier::LogLevel::kError: level = spdlog::level::err; break;
    }
    logger->log(level, "event=library component={} message=\"{}\"", r.component, r.message);
  });
}

// The admin address: HTTP only, one io and one http thread, plain TCP.
absl::StatusOr<std::unique_ptr<websocket::Server>> StartAdminServer(const ServerFlags& flags,
                                                                   const AdminApi& admin) {
  std::optional<HostPort> where = ParseHostPort(flags.admin_listen);
  websocket::ServerOptions options;
  options.host = where->host;
  options.port = where->port;
  options.serve_websocket = false;
  options.io_threads = 1;
  options.http_threads = 1;
  options.max_connections = 256;
  websocket::ServerHooks hooks;
  hooks.handle_http = [&admin](const websocket::HttpRequest& request) {
    return admin.Handle(request);
  };
  return websocket::StartServer(options, std::move(hooks));
}

// SIGHUP: the TLS certificate and key are read again; a bad pair keeps the
// old one.
void ReloadTls(const ServerFlags& flags, websocket::Server& server) {
  if (flags.tls_cert.empty()) {
    spdlog::info("event=sighup tls=off message=\"nothing to reload\"");
    return;
  }
  if (absl::Status s = server.ReloadTls(); !s.ok()) {
    spdlog::error("event=tls_reload_failed cert={} key={} error=\"{}\" message=\"the previous "
                  "certificate stays in use\"",
                  flags.tls_cert, flags.tls_key, std::string(s.message()));
    return;
  }
  spdlog::info("event=tls_reloaded cert={} key={}", flags.tls_cert, flags.tls_key);
}

// Periodic engine work (Engine::Tick) about once a second.
class Ticker {
 public:
  explicit Ticker(Engine& engine)
      : thread_([this, &engine] {
          while (!stop_.WaitForNotificationWithTimeout(absl::Seconds(1))) engine.Tick();
        }) {}
  ~Ticker() {
    stop_.Notify();
    thread_.join();
  }

 private:
  absl::Notification stop_;
  std::thread thread_;
};

int Run(const ServerFlags& flags) {
  // Before any thread starts (stores, device log, revocation watcher): every
  // thread inherits the mask, so SIGTERM, SIGINT and SIGHUP reach sigwait.
  BlockStopSignals();
  SetUpLogging(flags.log_level, flags.log_format);
  Clock& clock = SystemClock();

  // --- keys in the data directory
  if (absl::Status s = EnsureDirectory(flags.data_dir); !s.ok()) {
    return Fail(ExitCodeFor(s), "data dir", s);
  }
  const bool own_jwt = flags.jwt_secret_file.empty();
  const bool own_key = flags.storage_key_file.empty();
  absl::StatusOr<std::string> jwt_secret = LoadOrCreateSecret(
      own_jwt ? flags.data_dir + "/jwt-secret" : flags.jwt_secret_file, own_jwt);
  if (!jwt_secret.ok()) return Fail(ExitCodeFor(jwt_secret.status()), "jwt secret", jwt_secret.status());
  absl::StatusOr<std::string> storage_secret = LoadOrCreateSecret(
      own_key ? flags.data_dir + "/storage-key" : flags.storage_key_file, own_key);
  if (!storage_secret.ok()) {
    return Fail(ExitCodeFor(storage_secret.status()), "storage key", storage_secret.status());
  }

  // --- the admin API's bearer token
  const bool own_admin_token = flags.admin_token_file.empty();
  absl::StatusOr<std::string> admin_token = LoadOrCreateAdminToken(
      own_admin_token ? flags.data_dir + "/admin-token" : flags.admin_token_file,
      own_admin_token);
  if (!admin_token.ok()) {
    return Fail(ExitCodeFor(admin_token.status()), "admin token", admin_token.status());
  }

  // --- stores, policy, engine
  absl::StatusOr<Backends> backends = OpenBackends(flags, *storage_secret, clock);
  if (!backends.ok()) return Fail(ExitCodeFor(backends.status()), "store", backends.status());
  std::unique_ptr<ContactPolicy> contacts = MakeFriendsOnlyPolicy(*backends->accounts);

  EngineOptions engine_options;
  engine_options.node = flags.node_id;
  engine_options.limits.max_undelivered = flags.max_undelivered;
  engine_options.limits.window = flags.window;
  // Three refreshes per TTL: one lost or late refresh does not flap presence.
  engine_options.presence_heartbeat_ms = static_cast<TimeMs>(flags.presence_ttl_ms / 3);
  std::optional<RateLimitFlag> rate = ParseRateLimit(flags.rate_limit);
  engine_options.rate_limit.count = rate->count;
  engine_options.rate_limit.period_ms = rate->period_s * 1000;
  engine_options.limits.max_group_members = flags.max_group_members;
  engine_options.limits.max_groups_per_user = flags.max_groups_per_user;
  std::optional<RateLimitFlag> typing_rate = ParseRateLimit(flags.typing_rate);
  engine_options.typing_rate.count = typing_rate->count;
  engine_options.typing_rate.period_ms = typing_rate->period_s * 1000;
  engine_options.clock = &clock;
  // Alone on an embedded store with presence in memory, every write passes
  // through this engine and every wake-up is local: no head polling needed.
  // With Redis (a cluster) or a shared store, other nodes write too.
  const bool alone = flags.redis.empty() && IsEmbeddedStore(flags.store);
  engine_options.head_poll_ms = alone ? 0 : 2'000;
  if (absl::Status s = ValidateName("node id", flags.node_id); !s.ok()) {
    return Fail(kExitConfig, "node id", s);
  }
  // --- push notifications to devices that are not connected (push.h)
  absl::StatusOr<std::unique_ptr<PushService>> push =
      PushService::Start(flags, *backends->presence, *backends->accounts);
  if (!push.ok()) return Fail(ExitCodeFor(push.status()), "push", push.status());
  Engine::Deps engine_deps{backends->messages.get(), backends->presence.get(), contacts.get(),
                           backends->accounts.get()};
  engine_deps.notifier = (*push)->notifier();
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(engine_options, engine_deps);
  if (!engine.ok()) return Fail(ExitCodeFor(engine.status()), "engine", engine.status());

  // --- abuse limits: hashing gate, login and registration throttle
  absl::StatusOr<AbuseLimits> abuse = MakeAbuseLimits(flags, clock);
  if (!abuse.ok()) return Fail(ExitCodeFor(abuse.status()), "abuse limits", abuse.status());

  // --- accounts and HTTP
  absl::StatusOr<TokenSigner> signer = TokenSigner::Create(*jwt_secret);
  if (!signer.ok()) return Fail(kExitConfig, "jwt secret", signer.status());
  absl::StatusOr<std::unique_ptr<Accounts>> accounts =
      Accounts::Create(*backends->accounts, *std::move(signer), clock,
                       static_cast<TimeMs>(flags.token_ttl_s) * 1000,
                       AccountsLimits{abuse->hash_gate.get(), abuse->throttle.get(),
                                      flags.registration == "open"});
  if (!accounts.ok()) return Fail(kExitRuntime, "accounts", accounts.status());
  // Closes sessions whose tokens are revoked (here or on another node).
  RevocationWatcher revocations(**accounts, std::chrono::milliseconds(flags.token_check_ms),
                                backends->accounts.get());
  (*accounts)->set_on_revoked([&revocations](const UserId& user) { revocations.Check(user); });
  HttpApi api(ApiDeps{accounts->get(), backends->accounts.get(), engine->get(),
                      &(*push)->vapid_public_key()});

  // --- the admin API (served on --admin-listen) and the device list it shows
  DeviceLog device_log(*backends->accounts, clock);
  // Admin closes reach every node through the presence store (cluster_close.h).
  absl::StatusOr<std::unique_ptr<ClusterCloser>> closer =
      ClusterCloser::Start(*backends->presence, flags.node_id);
  if (!closer.ok()) return Fail(ExitCodeFor(closer.status()), "admin close", closer.status());
  AdminDeps admin_deps{backends->accounts.get(), accounts->get(), engine->get(), *admin_token,
                       push->get()};
  admin_deps.messages = backends->messages.get();
  admin_deps.closer = closer->get();
  AdminApi admin_api(std::move(admin_deps));

  // --- the server; signals blocked first so every thread inherits the mask
  BlockStopSignals();
  std::optional<HostPort> listen = ParseHostPort(flags.listen);
  websocket::ServerOptions server_options;
  server_options.host = listen->host;
  server_options.port = listen->port;
  server_options.tls_cert_file = flags.tls_cert;
  server_options.tls_key_file = flags.tls_key;
  server_options.io_threads = flags.io_threads;
  server_options.http_threads = flags.http_threads;
  server_options.hello_timeout = std::chrono::milliseconds(flags.hello_timeout_ms);
  server_options.idle_timeout = std::chrono::milliseconds(flags.idle_timeout_ms);
  server_options.max_frame_bytes = flags.max_frame_bytes;
  server_options.max_queue_bytes = flags.max_queue_bytes;
  server_options.codec.max_body_bytes = engine_options.limits.max_body_bytes;
  server_options.codec.max_read_ids = engine_options.limits.max_read_ids;
  Accounts* accounts_ptr = accounts->get();
  websocket::ServerHooks hooks;
  hooks.engine = engine->get();
  hooks.authenticate = [accounts_ptr](std::string_view token) {
    return accounts_ptr->Authenticate(token);
  };
  hooks.on_token_session = [&revocations](std::string_view token, const UserId&,
                                          const DeviceId&, std::weak_ptr<Transport> connection) {
    revocations.SessionOpened(token, std::move(connection));
  };
  hooks.on_session = [&device_log](const UserId& user, const DeviceId& device, bool) {
    device_log.Seen(user, device);
  };
  hooks.handle_http = [&api](const websocket::HttpRequest& request) {
    websocket::HttpResponse response = api.Handle(request);
    spdlog::debug("event=http method={} path={} status={} remote={}", request.method,
                  request.path, response.status, request.remote);
    return response;
  };
  absl::StatusOr<std::unique_ptr<websocket::Server>> server =
      websocket::StartServer(server_options, std::move(hooks));
  if (!server.ok()) {
    (*engine)->Shutdown();
    return Fail(ExitCodeFor(server.status()), "listen", server.status());
  }
  api.AttachServer(server->get());
  admin_api.AttachServer(server->get());
  (*closer)->AttachServer(server->get());
  absl::StatusOr<std::unique_ptr<websocket::Server>> admin_server =
      StartAdminServer(flags, admin_api);
  if (!admin_server.ok()) {
    closer->reset();  // unsubscribed before the server it closes on goes
    (*server)->StopAccepting();
    (*engine)->Shutdown();
    (*server)->Stop(std::chrono::milliseconds(0));
    return Fail(ExitCodeFor(admin_server.status()), "admin listen", admin_server.status());
  }
  auto ticker = std::make_unique<Ticker>(**engine);

  if (IsMemoryStore(flags.store)) {
    // Loud (warn, above courier-load's --log-level warn): nothing survives.
    spdlog::warn("event=store_not_durable store=memory message=\"--store memory keeps every "
                 "message and account in this process only: all of it is lost when the process "
                 "ends; for benchmarks of the network path, never for users\"");
  }
  spdlog::info("event=started listen={} tls={} store=\"{}\" presence=\"{}\" node={} "
               "rate_limit={} window={} max_undelivered={} allocator={}",
               (*server)->local_address(), flags.tls_cert.empty() ? "off" : "on",
               backends->store_description, backends->presence_description, flags.node_id,
               flags.rate_limit, flags.window, flags.max_undelivered, COURIER_ALLOCATOR_NAME);
  spdlog::info("event=admin_started listen={}", (*admin_server)->local_address());
  // The admin line first: tools wait for "listening on" as the last line.
  std::cout << "admin on " << (*admin_server)->local_address() << "\n";
  std::cout << "listening on " << (*server)->local_address() << std::endl;

  int sig = 0;
  while ((sig = WaitForSignal()) == SIGHUP) ReloadTls(flags, **server);
  spdlog::info("event=stopping signal={}", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*admin_server)->Stop(std::chrono::milliseconds(0));
  (*server)->StopAccepting();
  (*engine)->Shutdown();  // closes sessions with 1001, flushes the commit queue
  (*push)->Shutdown();    // after the last commit: cancels pushes in flight
  (*server)->Stop(std::chrono::milliseconds(3000));
  ticker.reset();
  admin_server->reset();
  closer->reset();  // no close signal reaches the server once it is gone
  server->reset();
  engine->reset();
  spdlog::info("event=stopped");
  spdlog::shutdown();
  return 0;
}

}  // namespace
}  // namespace courier::server

int main(int argc, char** argv) {
  std::variant<courier::server::ServerFlags, int> parsed =
      courier::server::ParseOptions(argc, argv);
  if (const int* code = std::get_if<int>(&parsed)) return *code;
  return courier::server::Run(std::get<courier::server::ServerFlags>(parsed));
}
