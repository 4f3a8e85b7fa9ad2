// options.h: courier-server's command line (docs/PROTOCOL.md "Running").
//
// Every flag can also come from the environment variable COURIER_<FLAG>
// (upper case, '-' as '_'): --listen <- COURIER_LISTEN. A flag on the
// command line wins over the environment.
//
// --config FILE adds a file with the same keys (config_file.h); the
// environment and the command line override it. An unknown key, a bad value
// or an unreadable file is a bad command line (exit code 2).
//
// Thread-safety: plain values. Blocking: ParseOptions reads argv, the
//   environment and the --config file.
#ifndef COURIER_EXAMPLES_SERVER_OPTIONS_H_
#define COURIER_EXAMPLES_SERVER_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

namespace courier::server {

struct ServerFlags {
  // --- protocol flags (docs/PROTOCOL.md)
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; port 0 = a free port
  std::string data_dir = "./courier-data";
  std::string store;      // rocksdb:PATH | sqlite:PATH | postgresql://... | mongodb://... |
                          // memory (not durable); "" = rocksdb in data_dir
  std::string redis;      // redis://...; "" = presence in memory
  std::string node_id = "node-1";
  std::string rate_limit = "50/900";  // N/SECONDS per sending user
  std::string jwt_secret_file;        // "" = DIR/jwt-secret, made on first start
  std::string storage_key_file;       // "" = DIR/storage-key, made on first start
  std::string tls_cert;
  std::string tls_key;
  std::string log_level = "info";     // trace, debug, info, warn, error, critical, off

  // --- additions (examples/server/README.md)
  std::uint64_t max_undelivered = 100'000;  // per inbox, then queue_full
  std::uint64_t window = 256;               // unacked events in flight per device
  std::string durability = "power";         // power | process: fsync each commit or not
  std::uint64_t io_threads = 2;
  std::uint64_t http_threads = 8;  // > hash_threads + hash_queue: others keep being served
  std::uint64_t hello_timeout_ms = 10'000;
  std::uint64_t idle_timeout_ms = 60'000;
  std::uint64_t token_ttl_s = 24 * 3600;
  std::uint64_t max_frame_bytes = 256 * 1024;
  std::uint64_t max_queue_bytes = 32u << 20;
  std::uint64_t presence_ttl_ms = 30'000;  // presence refreshed every third of it

  // --- groups and typing (issue 17; docs/PROTOCOL.md "Groups")
  std::uint64_t max_group_members = 256;    // per group, 1..1024 (courier::kMaxGroupMembers)
  std::uint64_t max_groups_per_user = 256;  // groups a user may be a member of
  std::string typing_rate = "20/10";        // N/SECONDS typing ops per user, beyond: dropped

  // --- accounts under attack (examples/server/README.md "Abuse limits")
  std::string registration = "open";        // open | closed (only the admin API creates)
  std::string register_rate = "5/3600";     // N/SECONDS registrations per client address
  std::uint64_t login_free_failures = 5;    // per account, then exponential waits
  std::uint64_t login_free_failures_per_address = 20;
  std::uint64_t login_backoff_ms = 1'000;   // first wait; doubles per further failure
  std::uint64_t login_backoff_max_ms = 60'000;
  std::uint64_t hash_threads = 2;           // Argon2id runs at once (64 MiB each)
  std::uint64_t hash_queue = 4;             // more waiting; beyond: 503 busy at once
  std::uint64_t token_check_ms = 5'000;     // open sessions' tokens re-checked this often
  bool throttle_loopback = false;           // per-address limits for 127.0.0.0/8 and ::1 too

  // --- operations (examples/server/README.md "Operating it")
  std::string config;  // --config FILE (config_file.h): the same keys; env and flags win
  std::string admin_listen = "127.0.0.1:9090";  // /metrics and the admin API; port 0 = free
  std::string admin_token_file;  // "" = DIR/admin-token, made (0600) on first start
  std::string log_format = "text";  // text (key=value) | json (one object per line)

  // --- push notifications (examples/server/push.h, docs/PROTOCOL.md "Push")
  std::string vapid_key_file;     // "" = DIR/vapid-key.pem, made on first start
  std::string vapid_subject = "mailto:courier@localhost";  // VAPID contact (RFC 8292)
  std::string push_webhook;       // URL: a signed JSON POST per notice; "" = none
  std::string push_webhook_secret_file;  // the webhook's HMAC key (>= 32 bytes)
  std::string push_content = "names";    // names (senders and count) | full (also text)
  std::uint64_t push_hold_ms = 2'000;    // a notice collects messages this long
  std::uint64_t push_max_attempts = 4;   // per push, retries on 429/5xx/network included
  bool push_allow_private_addresses = false;  // Web Push to loopback/private networks too
};

// The parsed flags, or the exit code to leave with (0 after --help, 2 for a
// bad command line; the message has been printed).
std::variant<ServerFlags, int> ParseOptions(int argc, char** argv);

// "HOST:PORT" split; IPv6 as "[::1]:8080". nullopt when malformed.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};
std::optional<HostPort> ParseHostPort(const std::string& text);

// "N/SECONDS" with N >= 1 and SECONDS >= 1; nullopt when malformed.
struct RateLimitFlag {
  std::uint32_t count = 0;
  std::int64_t period_s = 0;
};
std::optional<RateLimitFlag> ParseRateLimit(const std::string& text);

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_OPTIONS_H_
