// options.cc: the flags, through CLI11, with COURIER_<FLAG> fallbacks.
#include "options.h"

#include <charconv>
#include <iostream>

#include <CLI/CLI.hpp>

#include "config_file.h"
#include "courier/group.h"
#include "courier/version.h"

namespace courier::server {
namespace {

bool ParseUint(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

std::optional<HostPort> ParseHostPort(const std::string& text) {
  std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  HostPort hp;
  hp.host = text.substr(0, colon);
  if (hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  std::uint64_t port = 0;
  if (hp.host.empty() || !ParseUint(std::string_view(text).substr(colon + 1), port) ||
      port > 65535) {
    return std::nullopt;
  }
  hp.port = static_cast<std::uint16_t>(port);
  return hp;
}

std::optional<RateLimitFlag> ParseRateLimit(const std::string& text) {
  std::size_t slash = text.find('/');
  if (slash == std::string::npos) return std::nullopt;
  std::uint64_t count = 0, seconds = 0;
  if (!ParseUint(std::string_view(text).substr(0, slash), count) ||
      !ParseUint(std::string_view(text).substr(slash + 1), seconds) || count == 0 ||
      seconds == 0 || count > 1'000'000'000 || seconds > 365ULL * 24 * 3600) {
    return std::nullopt;
  }
  return RateLimitFlag{static_cast<std::uint32_t>(count), static_cast<std::int64_t>(seconds)};
}

std::variant<ServerFlags, int> ParseOptions(int argc, char** argv) {
  ServerFlags f;
  CLI::App app{"courier-server: the Courier example server (docs/PROTOCOL.md)", "courier-server"};
  app.option_defaults()->always_capture_default();
  app.set_version_flag("--version", std::string("courier-server ") + kVersion + " (commit " +
                                         kGitCommit + ")");
  auto flag = [&app](const std::string& name, auto& value, const std::string& help) {
    std::string env = "COURIER_" + name;
    for (char& c : env) c = (c == '-') ? '_' : static_cast<char>(std::toupper(c));
    return app.add_option("--" + name, value, help)->envname(env);
  };
  flag("listen", f.listen, "HOST:PORT to listen on (port 0: a free port)");
  flag("data-dir", f.data_dir, "directory for the database and the key files (created)");
  flag("store", f.store,
       "rocksdb:PATH | sqlite:PATH | postgresql://... | mongodb://... (default rocksdb:DIR/rocksdb); "
       "memory: NOT durable, everything is lost when the process ends (benchmarks)");
  flag("redis", f.redis, "redis://host:port for presence and cross-node signals (default: memory)");
  flag("node-id", f.node_id, "this node's name in the cluster");
  flag("rate-limit", f.rate_limit, "sends per user: N/SECONDS");
  flag("jwt-secret-file", f.jwt_secret_file, "token signing secret, >= 32 bytes (default DIR/jwt-secret)");
  flag("storage-key-file", f.storage_key_file, "body encryption secret, >= 32 bytes (default DIR/storage-key)");
  flag("tls-cert", f.tls_cert, "PEM certificate chain: serve HTTPS/WSS");
  flag("tls-key", f.tls_key, "PEM private key for --tls-cert");
  flag("log-level", f.log_level, "trace|debug|info|warn|error|critical|off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  flag("max-undelivered", f.max_undelivered, "undelivered events per inbox before queue_full")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000'000}));
  flag("window", f.window, "unacked events in flight per device")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{65'536}));
  flag("durability", f.durability, "power: fsync every commit; process: survive a killed process only")
      ->check(CLI::IsMember({"power", "process"}));
  flag("io-threads", f.io_threads, "threads running the sockets")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{256}));
  flag("http-threads", f.http_threads, "threads answering HTTP requests (password hashing)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{256}));
  flag("hello-timeout-ms", f.hello_timeout_ms, "time to send hello before close 4401")
      ->check(CLI::Range(std::uint64_t{10}, std::uint64_t{3'600'000}));
  flag("idle-timeout-ms", f.idle_timeout_ms, "no frame for this long: close 4408")
      ->check(CLI::Range(std::uint64_t{10}, std::uint64_t{86'400'000}));
  flag("token-ttl", f.token_ttl_s, "lifetime of a login token, seconds")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{365ULL * 24 * 3600}));
  flag("max-frame-bytes", f.max_frame_bytes, "largest WebSocket frame; larger closes with 1009")
      ->check(CLI::Range(std::uint64_t{1024}, std::uint64_t{64ULL << 20}));
  flag("max-queue-bytes", f.max_queue_bytes, "per-connection send queue; over it closes with 1008")
      ->check(CLI::Range(std::uint64_t{64 * 1024}, std::uint64_t{4ULL << 30}));
  flag("registration", f.registration,
       "open: anyone may register; closed: POST /v1/register answers 403 registration_closed")
      ->check(CLI::IsMember({"open", "closed"}));
  flag("register-rate", f.register_rate, "registrations per client address: N/SECONDS");
  flag("login-free-failures", f.login_free_failures,
       "failed logins per account before each further attempt waits")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000}));
  flag("login-free-failures-per-address", f.login_free_failures_per_address,
       "failed logins per client address before each further attempt waits")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100'000}));
  flag("login-backoff-ms", f.login_backoff_ms, "the first wait; each further failure doubles it")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{3'600'000}));
  flag("login-backoff-max-ms", f.login_backoff_max_ms, "the longest wait between attempts")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{86'400'000}));
  flag("hash-threads", f.hash_threads, "password hashes (Argon2id, 64 MiB each) run at once")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{256}));
  flag("hash-queue", f.hash_queue,
       "password hashes waiting for a turn; beyond, 503 busy with Retry-After at once")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{4'096}));
  app.add_flag("--throttle-loopback", f.throttle_loopback,
               "apply the per-address login and registration limits to loopback clients too "
               "(off: local tools register many users)")
      ->envname("COURIER_THROTTLE_LOOPBACK");
  flag("token-check-ms", f.token_check_ms,
       "open WebSocket sessions' tokens are re-checked against the store this often "
       "(revocations on other nodes close them within it)")
      ->check(CLI::Range(std::uint64_t{100}, std::uint64_t{3'600'000}));
  flag("presence-ttl-ms", f.presence_ttl_ms,
       "a device of a node that stopped refreshing it counts as offline after this long "
       "(refreshed every third of it)")
      ->check(CLI::Range(std::uint64_t{300}, std::uint64_t{86'400'000}));
  flag("max-group-members", f.max_group_members,
       "members per group (the creator included); more answers group_full")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{kMaxGroupMembers}));
  flag("max-groups-per-user", f.max_groups_per_user,
       "groups a user may be a member of; more answers too_many_groups")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000}));
  flag("typing-rate", f.typing_rate,
       "typing ops per user: N/SECONDS; beyond it they are dropped silently");
  flag("admin-listen", f.admin_listen,
       "HOST:PORT of the admin address: /metrics and the admin API (port 0: a free port)");
  flag("admin-token-file", f.admin_token_file,
       "bearer token of the admin API (default DIR/admin-token, made with mode 0600)");
  flag("log-format", f.log_format, "text (key=value lines) | json (one JSON object per line)")
      ->check(CLI::IsMember({"text", "json"}));
  flag("vapid-key-file", f.vapid_key_file,
       "VAPID key pair for Web Push, PEM (default DIR/vapid-key.pem, made on first start)");
  flag("vapid-subject", f.vapid_subject,
       "the contact push services see in VAPID tokens: mailto:... or https://...");
  flag("push-webhook", f.push_webhook,
       "http(s) URL that gets a signed JSON POST for each push (a gateway to FCM/APNs)");
  flag("push-webhook-secret-file", f.push_webhook_secret_file,
       "HMAC-SHA256 key of --push-webhook's X-Courier-Signature, >= 32 bytes");
  flag("push-content", f.push_content,
       "names: a push tells the senders and the count; full: also the latest messages' text")
      ->check(CLI::IsMember({"names", "full"}));
  flag("push-hold-ms", f.push_hold_ms,
       "a push waits this long for more messages to the same user (coalescing)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{60'000}));
  flag("push-max-attempts", f.push_max_attempts,
       "attempts per push (429, 5xx and network errors are retried with backoff)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10}));
  app.add_flag("--push-allow-private-addresses", f.push_allow_private_addresses,
               "also send Web Push to subscription endpoints on loopback, private or link-local "
               "addresses (refused by default: the endpoint is the user's choice)")
      ->envname("COURIER_PUSH_ALLOW_PRIVATE_ADDRESSES");
  flag("config", f.config,
       "a TOML file with the same keys as the flags (data-dir = \"...\"); "
       "the environment and the command line override it");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!f.config.empty()) {
    if (absl::Status s = ApplyConfigFile(app, f.config); !s.ok()) {
      std::cerr << "courier-server: " << s.message() << "\n";
      return 2;
    }
  }
  if (!ParseHostPort(f.admin_listen)) {
    std::cerr << "courier-server: --admin-listen must be HOST:PORT, got \"" << f.admin_listen
              << "\"\n";
    return 2;
  }
  if (!ParseHostPort(f.listen)) {
    std::cerr << "courier-server: --listen must be HOST:PORT, got \"" << f.listen << "\"\n";
    return 2;
  }
  if (!ParseRateLimit(f.rate_limit)) {
    std::cerr << "courier-server: --rate-limit must be N/SECONDS (both >= 1), got \""
              << f.rate_limit << "\"\n";
    return 2;
  }
  if (!ParseRateLimit(f.typing_rate)) {
    std::cerr << "courier-server: --typing-rate must be N/SECONDS (both >= 1), got \""
              << f.typing_rate << "\"\n";
    return 2;
  }
  if (!ParseRateLimit(f.register_rate)) {
    std::cerr << "courier-server: --register-rate must be N/SECONDS (both >= 1), got \""
              << f.register_rate << "\"\n";
    return 2;
  }
  if (f.login_backoff_max_ms < f.login_backoff_ms) {
    std::cerr << "courier-server: --login-backoff-max-ms must be >= --login-backoff-ms\n";
    return 2;
  }
  if (f.tls_cert.empty() != f.tls_key.empty()) {
    std::cerr << "courier-server: --tls-cert and --tls-key go together\n";
    return 2;
  }
  if (!f.push_webhook.empty() && f.push_webhook_secret_file.empty()) {
    std::cerr << "courier-server: --push-webhook needs --push-webhook-secret-file\n";
    return 2;
  }
  if (f.data_dir.empty()) {
    std::cerr << "courier-server: --data-dir must not be empty\n";
    return 2;
  }
  return f;
}

}  // namespace courier::server
