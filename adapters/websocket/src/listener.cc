// listener.cc: the accept loop.
#include "listener.h"

#include <chrono>
#include <string>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include "absl/strings/str_cat.h"
#include "sessions.h"

namespace courier::websocket::internal {

namespace net = boost::asio;
using tcp = net::ip::tcp;

Listener::Listener(ServerContext& ctx, tcp::acceptor acceptor)
    : ctx_(ctx), acceptor_(std::move(acceptor)), backoff_(acceptor_.get_executor()) {}

void Listener::Start() {
  net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] { self->Accept(); });
}

void Listener::Stop() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    self->stopped_ = true;
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
    self->backoff_.cancel();
  });
}

void Listener::Accept() {
  if (stopped_) return;
  IoLoop& loop = ctx_.NextLoop();
  acceptor_.async_accept(loop.io(), [self = shared_from_this(), &loop](
                                        boost::system::error_code ec, tcp::socket socket) {
    self->OnAccept(ec, std::move(socket), loop);
  });
}

void Listener::OnAccept(boost::system::error_code ec, tcp::socket socket, IoLoop& loop) {
  if (stopped_ || ec == net::error::operation_aborted) return;
  if (ec) {
    // EMFILE, ENFILE, ENOBUFS...: wait a little instead of spinning.
    backoff_.expires_after(std::chrono::milliseconds(100));
    backoff_.async_wait([self = shared_from_this()](boost::system::error_code wait_ec) {
      if (!wait_ec) self->Accept();
    });
    return;
  }
  Counters& c = ctx_.counters;
  c.connections_total.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t open = c.connections_open.load(std::memory_order_relaxed) +
                             c.websockets_open.load(std::memory_order_relaxed);
  if (open >= ctx_.options.max_connections) {
    c.connections_refused.fetch_add(1, std::memory_order_relaxed);
    boost::system::error_code ignored;
    socket.close(ignored);
  } else {
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    tcp::endpoint peer = socket.remote_endpoint(ignored);
    std::string remote = absl::StrCat(peer.address().to_string(), ":", peer.port());
    if (ctx_.serves_tls) {
      StartTlsSession(ctx_, loop, std::move(socket), std::move(remote));
    } else {
      StartPlainSession(ctx_, loop, std::move(socket), std::move(remote));
    }
  }
  Accept();
}

}  // namespace courier::websocket::internal
