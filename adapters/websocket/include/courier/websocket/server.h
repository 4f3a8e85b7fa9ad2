// courier/websocket/server.h: docs/PROTOCOL.md over WebSocket and HTTP on one port.
//
// A Server listens on one TCP port (plain, or TLS when a certificate and key
// are given), answers `GET /v1/ws` with a WebSocket session wired to an
// Engine, and hands every other HTTP request to the application's handler.
// It only frames: every decision about messages is the engine's.
//
// ONE WEBSOCKET CONNECTION
//   awaiting hello --hello accepted--> open --close / error--> closed
//  * awaiting hello: the first text frame must be a `hello` whose token the
//    Authenticator accepts and for which Engine::Connect succeeds; anything
//    else, or nothing within hello_timeout, closes with 4401.
//  * open: send/ack/read go to the engine's Session; `ping` is answered with
//    `pong` here (held, like error answers, until the engine's `welcome` is
//    queued: `welcome` is always the first frame after `hello`); a bad frame is answered with an `error` frame and the
//    connection stays open. No frame for idle_timeout closes with 4408; a
//    frame over max_frame_bytes closes with 1009; a send queue over
//    max_queue_bytes or max_queue_frames closes with 1008 (a client that does
//    not read never makes the server buffer without bound); a close asked
//    by the engine (4409 replaced, 1001 shutdown) closes with that code after
//    the frames already queued.
//  * closed: Session::Disconnect() has been called exactly once.
// Writes: one write in flight per connection; frames the engine sends are
// encoded on the engine's thread, posted to the connection's strand, queued,
// and written in order, one WebSocket message per frame, the queued ones
// gathered into one write (up to 64 frames).
// WebSocket itself (RFC 6455, version 13, no extension, no subprotocol) is
// implemented here, not by Beast (Beast parses the HTTP): an upgrade with
// another version answers 426, a bad key 400; a client frame that breaks
// the framing rules closes with 1002, text that is not UTF-8 with 1007;
// WebSocket pings are answered with pongs and, like pongs, count as
// frames for the idle timeout; a close frame is echoed.
//
// Ownership: the caller owns the Server (std::unique_ptr). The Engine it
//   borrows must outlive it.
// Thread-safety: every method is safe to call from any thread. The
//   Authenticator runs on the io threads (it must not block); the HttpHandler
//   runs on the server's http_threads (it may block, e.g. on password
//   hashing or the account store) and must be safe for concurrent calls.
// Blocking: StartServer blocks until the port is bound. Stop blocks until
//   the connections are closed or `grace` has passed and the threads joined.
//   Nothing else blocks.
// Lifetime: REQUIRES Engine::Shutdown() has returned (so no transport of
//   this server is called any more) before the Server is destroyed.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SERVER_H_
#define COURIER_ADAPTERS_WEBSOCKET_SERVER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "courier/engine.h"
#include "courier/export.h"
#include "courier/types.h"
#include "courier/websocket/frame_codec.h"
#include "courier/websocket/http.h"

namespace courier::websocket {

struct ServerOptions {
  // --- where
  std::string host = "127.0.0.1";  // an IPv4 or IPv6 address to bind
  std::uint16_t port = 0;          // 0: the system picks a free port
  int backlog = 4096;              // pending connections the kernel queues
  // TLS when both are set: PEM certificate chain and private key files.
  // Server::ReloadTls reads them again.
  std::string tls_cert_file;
  std::string tls_key_file;
  // false: an HTTP-only server (e.g. an admin address): a WebSocket upgrade
  // answers 404 and ServerHooks needs no engine and no authenticator.
  bool serve_websocket = true;

  // --- threads
  std::size_t io_threads = 2;    // run every socket and WebSocket
  std::size_t http_threads = 2;  // run the HttpHandler (which may block)

  // --- limits
  std::size_t max_frame_bytes = 256 * 1024;     // a larger frame closes with 1009
  std::size_t max_http_body_bytes = 64 * 1024;  // a larger body answers 413
  std::size_t max_queue_bytes = 32u << 20;      // per connection; then close 1008
  std::size_t max_queue_frames = 8192;          // per connection; then close 1008
  std::size_t max_connections = 100'000;        // more are accepted and closed at once
  CodecLimits codec;                            // body, read ids, nesting

  // --- timing
  std::chrono::milliseconds hello_timeout{10'000};  // then close 4401
  std::chrono::milliseconds idle_timeout{60'000};   // no frame for this long: 4408
  std::chrono::milliseconds close_timeout{5'000};   // a close handshake past this drops TCP
  std::chrono::milliseconds http_timeout{30'000};   // to read one request or TLS handshake
};

// Checks a token; returns its subject. Any error closes the connection with
// 4401. Runs on an io thread: must not block.
using Authenticator = absl::AnyInvocable<absl::StatusOr<UserId>(std::string_view token) const>;

// Answers an HTTP request other than the WebSocket upgrade. Runs on one of
// the http_threads; must be safe for concurrent calls.
using HttpHandler = absl::AnyInvocable<HttpResponse(const HttpRequest& request) const>;

// Told when a device's WebSocket has passed hello (`open` true) and when
// that connection has ended (`open` false, exactly once after each true).
// Runs on an io thread: must not block (queue the work elsewhere).
using SessionObserver =
    absl::AnyInvocable<void(const UserId& user, const DeviceId& device, bool open) const>;

// Optional: told of each accepted hello, on the io thread, right after the
// engine connected the session: the hello's token, the session's user and
// device, and the connection's Transport. Calling Close on that transport,
// from any thread at any time, closes this connection with that code after
// the frames already queued (as an engine close does); once the connection
// is gone the call does nothing. Must not block. Lets an application end the
// one connection that a token opened, e.g. when the token is revoked (4401).
using TokenSessionOpened = absl::AnyInvocable<void(
    std::string_view token, const UserId& user, const DeviceId& device,
    std::weak_ptr<Transport> connection) const>;

struct ServerHooks {
  Engine* engine = nullptr;      // required unless !serve_websocket; borrowed
  Authenticator authenticate;    // required unless !serve_websocket
  HttpHandler handle_http;       // required
  SessionObserver on_session;    // optional
  TokenSessionOpened on_token_session;  // optional
};

// Counters since start, for metrics.
struct ServerStats {
  std::uint64_t connections_open = 0;     // TCP connections now (HTTP + WebSocket)
  std::uint64_t connections_total = 0;    // accepted since start
  std::uint64_t connections_refused = 0;  // over max_connections
  std::uint64_t websockets_open = 0;      // WebSocket sessions now
  std::uint64_t websockets_total = 0;     // upgrades since start
  std::uint64_t frames_in = 0;
  std::uint64_t frames_out = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t bad_frames = 0;           // answered with an error frame
  std::uint64_t hello_failures = 0;       // closed with 4401
  std::uint64_t idle_closes = 0;          // closed with 4408
  std::uint64_t slow_closes = 0;          // closed with 1008 (queue limit)
  std::uint64_t http_requests = 0;
  // Time from a `send` frame read to its `sent` or `error` answer queued.
  struct Histogram {
    std::vector<double> upper_bounds_s;  // bucket bounds in seconds, ascending
    std::vector<std::uint64_t> counts;   // cumulative, one per bound, then +Inf
    std::uint64_t count = 0;
    double sum_s = 0;
  } send_latency;
};

class COURIER_EXPORT Server {
 public:
  Server() = default;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  virtual ~Server() = default;

  // The bound address, with the real port, as "HOST:PORT" ("[::1]:PORT" for
  // IPv6).
  virtual std::string local_address() const = 0;
  virtual std::uint16_t port() const = 0;

  // Closes the listening socket; open connections go on. Idempotent.
  virtual void StopAccepting() = 0;

  // Stops accepting, waits up to `grace` for the WebSocket connections to
  // close (call Engine::Shutdown() first: it closes them with 1001), then
  // drops every connection and joins the threads. Idempotent.
  virtual void Stop(std::chrono::milliseconds grace) = 0;

  virtual ServerStats stats() const = 0;

  // Loads tls_cert_file and tls_key_file again. New TLS handshakes use the
  // new pair; open connections keep theirs and stay open. On an error
  // (unreadable file, key not matching the certificate) nothing changes and
  // kFailedPrecondition names the file; kFailedPrecondition too when the
  // server does not serve TLS. Blocks on reading the two files.
  virtual absl::Status ReloadTls() = 0;

  // Closes the WebSocket connections of `user` on this server that passed
  // hello (only those of `device` when given) with `code` and `reason`,
  // after the frames already queued; returns how many it closed. The
  // connections are found through the engine (Engine::OpenSessions: those
  // whose session is still open), so the server keeps no per-user table.
  virtual std::size_t CloseSessions(const UserId& user, const std::optional<DeviceId>& device,
                                    std::uint16_t code, std::string_view reason) = 0;

  // The devices of `user` with a WebSocket past hello on this server whose
  // session is open (as above), sorted, without duplicates.
  virtual std::vector<DeviceId> OpenDevices(const UserId& user) const = 0;
};

// Binds `options.host:options.port`, starts the threads and accepts.
// kInvalidArgument for a bad address, missing hooks or half a TLS pair;
// kUnavailable when the port cannot be bound; kFailedPrecondition when the
// TLS files cannot be loaded.
COURIER_EXPORT absl::StatusOr<std::unique_ptr<Server>> StartServer(const ServerOptions& options,
                                                    ServerHooks hooks);

}  // namespace courier::websocket

#endif  // COURIER_ADAPTERS_WEBSOCKET_SERVER_H_
