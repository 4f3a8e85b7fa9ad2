// server_context.h (private): what every connection of one Server shares.
//
// Ownership: owned by the Server; connections hold a reference and must be
//   gone (the io_context stopped and destroyed its handlers) before it is.
// Thread-safety: options and hooks are read-only after start; counters are
//   atomics; the TLS contexts lock; Engine and the hooks are safe for
//   concurrent use.
// Blocking: nothing here blocks.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_SERVER_CONTEXT_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_SERVER_CONTEXT_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "absl/synchronization/mutex.h"
#include "courier/websocket/server.h"
#include "io_loop.h"

namespace courier::websocket::internal {

// Fixed-bucket latency histogram, lock-free.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 13> kBoundsS = {0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                      0.25,  0.5,   1.0,   2.5,  5.0,   10.0};
  void Observe(std::chrono::nanoseconds d);
  ServerStats::Histogram Snapshot() const;

 private:
  std::array<std::atomic<std::uint64_t>, kBoundsS.size() + 1> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
};

// The counters that ServerStats reports as they are, each named once here:
// X(name) for every one, where `name` is both a Counters field and the
// ServerStats field it is read into (Counters::Snapshot).
#define COURIER_WS_PLAIN_COUNTERS(X)                                         \
  X(connections_total) X(connections_refused) X(websockets_total)            \
  X(frames_in) X(frames_out) X(bytes_in) X(bytes_out) X(http_requests)       \
  X(bad_frames) X(hello_failures) X(idle_closes) X(slow_closes)

// The server's statistics, bumped by the io threads with relaxed atomics.
struct Counters {
#define COURIER_WS_DECLARE_COUNTER(name) std::atomic<std::uint64_t> name{0};
  COURIER_WS_PLAIN_COUNTERS(COURIER_WS_DECLARE_COUNTER)
#undef COURIER_WS_DECLARE_COUNTER
  // Open now: `connections_open` counts the plain HTTP connections only;
  // ServerStats::connections_open adds the WebSocket ones.
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> websockets_open{0};
  LatencyHistogram send_latency;

  // Every counter at one moment (each read on its own: not a consistent cut).
  ServerStats Snapshot() const;
};

// The TLS context new connections use; Replace swaps in a new one (SIGHUP).
// An OpenSSL SSL object holds a reference to the SSL_CTX it was made from,
// so open connections keep working with the old certificate; the replaced
// contexts are kept until the server goes, so nothing refers to a freed one.
// Thread-safety: every method locks; safe from any thread.
class TlsContexts {
 public:
  std::shared_ptr<boost::asio::ssl::context> Current() const;
  void Replace(std::shared_ptr<boost::asio::ssl::context> next);

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> current_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<boost::asio::ssl::context>> retired_ ABSL_GUARDED_BY(mu_);
};

struct ServerContext {
  ServerContext(const ServerOptions& o, ServerHooks h)
      : options(o), hooks(std::move(h)), http_pool(o.http_threads) {
    for (std::size_t i = 0; i < o.io_threads; ++i) loops.push_back(std::make_shared<IoLoop>(*this));
  }
  // The loops' io_contexts go first: their pending handlers (and their
  // readiness sets, the idle plain sessions) own the sessions, which use
  // everything here.
  ~ServerContext() {
    for (const std::shared_ptr<IoLoop>& loop : loops) {
      loop->Close();
      loop->Destroy();
    }
  }
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  // The loop for the next accepted connection (round robin).
  IoLoop& NextLoop() {
    return *loops[next_loop.fetch_add(1, std::memory_order_relaxed) % loops.size()];
  }

  const ServerOptions options;
  const ServerHooks hooks;
  Counters counters;
  bool serves_tls = false;  // tls holds a context (set before the server starts)
  TlsContexts tls;
  boost::asio::thread_pool http_pool;
  // One per io thread (io_loop.h); loops[0] also runs the acceptor.
  std::vector<std::shared_ptr<IoLoop>> loops;
  std::atomic<std::size_t> next_loop{0};
};

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_SERVER_CONTEXT_H_
