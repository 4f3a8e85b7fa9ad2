// http_session.h (private): one HTTP connection, plain or TLS.
//
// Reads requests one at a time (header and body size-limited before they
// are parsed), hands `GET /v1/ws` upgrades to a WebSocketSession (after
// checking the version and key: 426 or 400 otherwise), and every
// other request to the application's HttpHandler on the http thread pool;
// the answer is written back on the connection's strand. Keep-alive is
// honoured; every read and write has the http_timeout deadline.
//
// Thread-safety: all handlers run on the connection's loop thread, except
//   the HttpHandler call, which runs on the pool and touches no member.
// Blocking: nothing blocks on the io threads.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_HTTP_SESSION_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_HTTP_SESSION_H_

#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>  // is_upgrade

#include "courier/websocket/http.h"
#include "server_context.h"
#include "websocket_session.h"
#include "ws_handshake.h"

namespace courier::websocket::internal {

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// The application's view of a parsed request.
HttpRequest ToHttpRequest(const beast::http::request<beast::http::string_body>& req,
                          std::string remote);

template <class Stream>
class HttpSession final : public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
  static constexpr std::size_t kMaxHeaderBytes = 16 * 1024;

  HttpSession(ServerContext& ctx, IoLoop& loop, Stream&& stream, std::string remote)
      : ctx_(ctx), loop_(loop), stream_(std::move(stream)), strand_(stream_.get_executor()),
        remote_(std::move(remote)) {
    ctx_.counters.connections_open.fetch_add(1, std::memory_order_relaxed);
  }
  ~HttpSession() { ctx_.counters.connections_open.fetch_sub(1, std::memory_order_relaxed); }

  void Run() {
    // Start on the strand: the socket's handlers all run there.
    net::dispatch(strand_, [self = this->shared_from_this()] {
      if constexpr (kTls) {
        beast::get_lowest_layer(self->stream_).expires_after(self->ctx_.options.http_timeout);
        self->stream_.async_handshake(
            net::ssl::stream_base::server,
            beast::bind_front_handler(&HttpSession::OnHandshake, self));
      } else {
        self->DoRead();
      }
    });
  }

 private:
  void OnHandshake(beast::error_code ec) {
    if (ec) return;  // not TLS, or timed out: drop
    DoRead();
  }

  void DoRead() {
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(ctx_.options.max_http_body_bytes);
    beast::get_lowest_layer(stream_).expires_after(ctx_.options.http_timeout);
    beast::http::async_read(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&HttpSession::OnRead, this->shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    namespace http = beast::http;
    if (ec == http::error::end_of_stream) {
      DoShutdown();
      return;
    }
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      Respond(HttpResponse::JsonError(413, "too_large", "request body over the limit"));
      return;
    }
    if (ec == http::error::header_limit) {
      keep_alive_ = false;
      Respond(HttpResponse::JsonError(431, "too_large", "request header over the limit"));
      return;
    }
    if (ec) return;  // timeout, reset, garbage: drop the connection

    http::request<http::string_body> req = parser_->release();
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    std::string_view target(req.target().data(), req.target().size());
    std::string_view path = target.substr(0, target.find('?'));
    if (beast::websocket::is_upgrade(req)) {
      keep_alive_ = false;
      if (path != "/v1/ws" || !ctx_.options.serve_websocket) {
        Respond(HttpResponse::JsonError(404, "not_found", "WebSocket lives at /v1/ws"));
        return;
      }
      absl::StatusOr<std::string> accept =
          CheckUpgrade(req[beast::http::field::sec_websocket_version],
                       req[beast::http::field::sec_websocket_key]);
      if (!accept.ok()) {
        const bool bad_version = accept.status().code() == absl::StatusCode::kFailedPrecondition;
        HttpResponse answer = HttpResponse::JsonError(
            bad_version ? 426 : 400, bad_version ? "upgrade_required" : "bad_request",
            std::string_view(accept.status().message().data(), accept.status().message().size()));
        if (bad_version) answer.headers.emplace_back("Sec-WebSocket-Version", "13");
        Respond(std::move(answer));
        return;
      }
      // Bytes the client sent right behind its request belong to the
      // WebSocket.
      const auto rest = buffer_.data();
      std::string early(static_cast<const char*>(rest.data()), rest.size());
      if constexpr (kTls) {
        std::make_shared<WebSocketSession<Stream>>(ctx_, loop_, std::move(stream_),
                                                   *std::move(accept), std::move(early))
            ->Run();
      } else {
        // The WebSocket runs on the bare socket: tcp_stream's timers and
        // state (≈ 500 bytes) would sit unused for the connection's life.
        // On a socket bound to the loop itself (read_path.h).
        absl::StatusOr<PlainSocket> plain = ToPlainSocket(stream_.release_socket(), loop_.io());
        if (!plain.ok()) return;  // (closed: the client sees the connection go)
        std::make_shared<WebSocketSession<PlainSocket>>(ctx_, loop_, *std::move(plain),
                                                        *std::move(accept), std::move(early))
            ->Run();
      }
      return;
    }
    ctx_.counters.http_requests.fetch_add(1, std::memory_order_relaxed);
    beast::get_lowest_layer(stream_).expires_never();  // the handler may take a while
    net::post(ctx_.http_pool, [self = this->shared_from_this(),
                               request = ToHttpRequest(req, remote_)]() mutable {
      HttpResponse response = self->Handle(request);
      net::post(self->strand_, [self, response = std::move(response)]() mutable {
        self->Respond(std::move(response));
      });
    });
  }

  // On the http pool.
  HttpResponse Handle(const HttpRequest& request) const {
    try {
      return ctx_.hooks.handle_http(request);
    } catch (const std::exception& e) {
      return HttpResponse::JsonError(500, "internal", e.what());
    }
  }

  void Respond(HttpResponse answer) {
    namespace http = beast::http;
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(version_);
    res->result(static_cast<unsigned>(answer.status));
    res->set(http::field::server, "courier");
    res->set(http::field::content_type, answer.content_type);
    for (auto& [name, value] : answer.headers) res->set(name, value);
    res->body() = std::move(answer.body);
    res->keep_alive(keep_alive_);
    res->prepare_payload();
    response_ = res;
    beast::get_lowest_layer(stream_).expires_after(ctx_.options.http_timeout);
    http::async_write(stream_, *res,
                      beast::bind_front_handler(&HttpSession::OnWrite, this->shared_from_this(),
                                                res->need_eof()));
  }

  void OnWrite(bool close, beast::error_code ec, std::size_t) {
    response_.reset();
    if (ec) return;
    if (close) {
      DoShutdown();
      return;
    }
    DoRead();
  }

  void DoShutdown() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(ctx_.options.close_timeout);
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {});
    } else {
      beast::error_code ignored;
      stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
    }
  }

  ServerContext& ctx_;
  IoLoop& loop_;
  Stream stream_;
  const typename Stream::executor_type strand_;  // the loop's
  const std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<beast::http::request_parser<beast::http::string_body>> parser_;
  std::shared_ptr<void> response_;
  unsigned version_ = 11;
  bool keep_alive_ = false;
};

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_HTTP_SESSION_H_
