// courier-cli: one connection to courier-server, for an HTTP request or a WebSocket.
//
// Every operation runs Beast's asynchronous calls to completion on the Runner's
// io_context, so that each one can stop at a deadline or on SIGINT/SIGTERM, which a
// plain blocking socket call cannot.
//
// Ownership: the Runner must outlive every Connection made with it.
// Thread-safety: single-threaded; use a Runner and its Connections from one thread.
// Blocking: every call blocks until it completes, its deadline passes, or a signal
//   arrives (then it answers kCancelled).
#ifndef COURIER_EXAMPLES_CLI_CONNECTION_H_
#define COURIER_EXAMPLES_CLI_CONNECTION_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/beast/http/verb.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server_url.h"

namespace courier_cli {

using Clock = std::chrono::steady_clock;

// How to reach the server.
struct ConnectOptions {
  ServerUrl url;
  // Each step (resolve, connect, handshake, request, one frame write) must finish
  // within this. Default: 30 s.
  std::chrono::milliseconds timeout{30000};
  // TLS only: a PEM file of trusted certificates; empty means the system's.
  std::string ca_file;
  // TLS only: skip certificate verification (for a self-signed test server).
  bool insecure = false;
};

// Owns the io_context and catches SIGINT and SIGTERM for the process lifetime.
class Runner {
 public:
  Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  boost::asio::io_context& io() { return io_; }
  // The signal number that stopped us, or 0.
  int interrupted() const { return signal_; }

  // Runs handlers until `*done` (returns true), or until `deadline` passes or a
  // signal has arrived (returns false; the operation is still pending).
  bool RunUntil(const bool* done, Clock::time_point deadline);

  // Runs handlers until `*done`, whatever the time; for an operation already cancelled.
  void Drain(const bool* done);

  // Waits `duration`; false when a signal cut it short.
  bool Sleep(std::chrono::milliseconds duration);

 private:
  boost::asio::io_context io_;
  boost::asio::signal_set signals_;
  int signal_ = 0;

  void Arm();
};

struct HttpReply {
  int status = 0;
  std::string body;
};

// A connection that can make one HTTP request, or become a WebSocket.
class Connection {
 public:
  virtual ~Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One request; `token` (when not empty) goes in `Authorization: Bearer`.
  // Errors: kUnavailable/kDeadlineExceeded (network), kCancelled (signal).
  virtual absl::StatusOr<HttpReply> Request(boost::beast::http::verb verb, std::string_view target,
                                            std::string_view json_body, std::string_view token) = 0;

  // Upgrades to a WebSocket at `target` (e.g. "/v1/ws").
  virtual absl::Status Upgrade(std::string_view target) = 0;

  // Writes one text frame.
  virtual absl::Status Write(std::string_view text) = 0;

  // Reads the next text frame. While waiting, calls `on_idle` every `idle_every`
  // (it may Write; an error it returns ends the read with that error). A close by
  // the server answers kUnauthenticated for 4401, kAborted for 4409 and
  // kUnavailable otherwise, with the close code and reason in the message.
  virtual absl::StatusOr<std::string> Read(std::chrono::milliseconds idle_every,
                                           const std::function<absl::Status()>& on_idle) = 0;

  // Sends a normal close (1000) if open; errors are ignored.
  virtual void Close() = 0;

 protected:
  Connection() = default;
};

// Resolves, connects and (for TLS) handshakes.
absl::StatusOr<std::unique_ptr<Connection>> Connect(Runner& runner, const ConnectOptions& options);

}  // namespace courier_cli

#endif  // COURIER_EXAMPLES_CLI_CONNECTION_H_
