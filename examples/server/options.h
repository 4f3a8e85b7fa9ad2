// options.h: courier-server's command line (docs/PROTOCOL.md "Running").
//
// Every flag can also come from the environment variable COURIER_<FLAG>
// (upper case, '-' as '_'): --listen <- COURIER_LISTEN. A flag on the
// command line wins over the environment.
//
// Thread-safety: plain values. Blocking: ParseOptions reads nothing but argv
//   and the environment.
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
  std::uint64_t http_threads = 2;
  std::uint64_t hello_timeout_ms = 10'000;
  std::uint64_t idle_timeout_ms = 60'000;
  std::uint64_t token_ttl_s = 24 * 3600;
  std::uint64_t max_frame_bytes = 256 * 1024;
  std::uint64_t max_queue_bytes = 32u << 20;
  std::uint64_t presence_ttl_ms = 30'000;  // presence refreshed every third of it
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
