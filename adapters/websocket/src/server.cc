// server.cc: StartServer, the io threads, and an orderly Stop.
#include "courier/websocket/server.h"

#include <algorithm>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <openssl/ssl.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "listener.h"
#include "outbox.h"
#include "server_context.h"

namespace courier::websocket {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using internal::ServerContext;

// Loads the PEM certificate chain and key into a new TLS server context and
// makes it the one new connections use. On an error nothing changes.
absl::Status LoadTls(ServerContext& ctx) {
  const ServerOptions& o = ctx.options;
  auto tls = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
  boost::system::error_code ec;
  tls->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                       net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                       net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use,
                   ec);
  if (!ec) tls->use_certificate_chain_file(o.tls_cert_file, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot load TLS certificate ", o.tls_cert_file, ": ", ec.message()));
  }
  tls->use_private_key_file(o.tls_key_file, net::ssl::context::pem, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot load TLS key ", o.tls_key_file, ": ", ec.message()));
  }
  if (SSL_CTX_check_private_key(tls->native_handle()) != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "TLS key ", o.tls_key_file, " does not match the certificate ", o.tls_cert_file));
  }
  ctx.tls.Replace(std::move(tls));
  return absl::OkStatus();
}

std::string FormatEndpoint(const tcp::endpoint& ep) {
  if (ep.address().is_v6()) return absl::StrCat("[", ep.address().to_string(), "]:", ep.port());
  return absl::StrCat(ep.address().to_string(), ":", ep.port());
}

class WebSocketServer final : public Server {
 public:
  explicit WebSocketServer(std::unique_ptr<ServerContext> ctx)
      : ctx_(std::move(ctx)) {
    for (const std::shared_ptr<internal::IoLoop>& loop : ctx_->loops) {
      work_.push_back(net::make_work_guard(loop->io()));
    }
  }

  ~WebSocketServer() override { Stop(std::chrono::milliseconds(0)); }

  absl::Status Listen() {
    const ServerOptions& o = ctx_->options;
    boost::system::error_code ec;
    tcp::resolver resolver(ctx_->loops.front()->io());
    auto results = resolver.resolve(o.host, std::to_string(o.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot resolve listen host \"", o.host, "\": ", ec.message()));
    }
    tcp::endpoint endpoint = results.begin()->endpoint();
    tcp::acceptor acceptor(ctx_->loops.front()->io());
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(o.backlog, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", FormatEndpoint(endpoint), ": ", ec.message()));
    }
    tcp::endpoint bound = acceptor.local_endpoint(ec);
    if (ec) return absl::UnavailableError(absl::StrCat("listening socket: ", ec.message()));
    address_ = FormatEndpoint(bound);
    port_ = bound.port();
    listener_ = std::make_shared<internal::Listener>(*ctx_, std::move(acceptor));
    listener_->Start();
    for (const std::shared_ptr<internal::IoLoop>& loop : ctx_->loops) {
      threads_.emplace_back([loop] { loop->Run(); });
    }
    return absl::OkStatus();
  }

  std::string local_address() const override { return address_; }
  std::uint16_t port() const override { return port_; }

  void StopAccepting() override {
    absl::MutexLock lock(&mu_);
    if (listener_ != nullptr) listener_->Stop();
  }

  void Stop(std::chrono::milliseconds grace) override {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    if (listener_ != nullptr) listener_->Stop();
    // Give the sessions that the engine is closing time to say goodbye.
    const auto give_up = std::chrono::steady_clock::now() + grace;
    while (ctx_->counters.websockets_open.load() > 0 && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ctx_->http_pool.join();  // finishes the requests in progress
    // From now on work for the loops is dropped (the engine's lane tasks
    // go back to the engine).
    for (const std::shared_ptr<internal::IoLoop>& loop : ctx_->loops) loop->Close();
    work_.clear();
    for (const std::shared_ptr<internal::IoLoop>& loop : ctx_->loops) loop->io().stop();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    listener_.reset();
  }

  absl::Status ReloadTls() override {
    if (!ctx_->serves_tls) return absl::FailedPreconditionError("this server does not serve TLS");
    return LoadTls(*ctx_);
  }

  std::size_t CloseSessions(const UserId& user, const std::optional<DeviceId>& device,
                            std::uint16_t code, std::string_view reason) override {
    std::size_t closed = 0;
    for (const Engine::OpenSession& open : OpenSessionsHere(user, device)) {
      if (std::shared_ptr<internal::Outbox> outbox =
              internal::OutboxOf(*open.transport, ctx_->loops)) {
        outbox->PostClose(code, std::string(reason));
        ++closed;
      }
    }
    return closed;
  }

  std::vector<DeviceId> OpenDevices(const UserId& user) const override {
    std::vector<DeviceId> out;
    for (Engine::OpenSession& open : OpenSessionsHere(user, std::nullopt)) {
      if (internal::OutboxOf(*open.transport, ctx_->loops) != nullptr) {
        out.push_back(std::move(open.device));
      }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  ServerStats stats() const override {
    return ctx_->counters.Snapshot();
  }

 private:
  // The engine's sessions of `user` (its connections on every server that
  // shares the engine): CloseSessions and OpenDevices keep this server's
  // (OutboxOf). None without an engine (a server of HTTP only).
  std::vector<Engine::OpenSession> OpenSessionsHere(const UserId& user,
                                                    const std::optional<DeviceId>& device) const {
    if (ctx_->hooks.engine == nullptr) return {};
    return ctx_->hooks.engine->OpenSessions(user, device);
  }

  // Declared first, destroyed last: its loops' io_contexts destroy the
  // sessions' pending handlers, which still use the context.
  std::unique_ptr<ServerContext> ctx_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::shared_ptr<internal::Listener> listener_;
  std::vector<std::thread> threads_;
  std::string address_;
  std::uint16_t port_ = 0;
  absl::Mutex mu_;
  bool stopped_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> StartServer(const ServerOptions& options,
                                                    ServerHooks hooks) {
  if (!hooks.handle_http ||
      (options.serve_websocket && (hooks.engine == nullptr || !hooks.authenticate))) {
    return absl::InvalidArgumentError("StartServer needs an engine, an authenticator and an "
                                      "HTTP handler");
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate file and a key file");
  }
  if (options.io_threads == 0 || options.http_threads == 0) {
    return absl::InvalidArgumentError("io_threads and http_threads must be at least 1");
  }
  if (options.max_frame_bytes == 0 || options.max_queue_frames == 0 ||
      options.max_queue_bytes == 0) {
    return absl::InvalidArgumentError("frame and queue limits must be positive");
  }
  auto ctx = std::make_unique<ServerContext>(options, std::move(hooks));
  if (!options.tls_cert_file.empty()) {
    if (absl::Status s = LoadTls(*ctx); !s.ok()) return s;
    ctx->serves_tls = true;
  }
  auto server = std::make_unique<WebSocketServer>(std::move(ctx));
  if (absl::Status s = server->Listen(); !s.ok()) return s;
  return server;
}

}  // namespace courier::websocket
