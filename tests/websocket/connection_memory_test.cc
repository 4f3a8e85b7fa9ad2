// What one idle WebSocket connection costs in the server's memory, by part,
// with a bound for each: a change that makes a connection bigger fails here
// and is then accounted for in bench/README.md's per-connection table (W4
// measures the whole, RSS, on a real server).
#include <catch2/catch.hpp>

#include <cstdio>
#include <memory>

#include <boost/asio/ip/tcp.hpp>

#include "websocket_session.h"

namespace courier::websocket::internal {
namespace {

namespace net = boost::asio;
using PlainSession = WebSocketSession<net::ip::tcp::socket>;

TEST_CASE("An idle plain WebSocket connection stays within its memory budget", "[websocket]") {
  // The session object, as std::make_shared allocates it (control block
  // beside it).
  const std::size_t session = sizeof(PlainSession);
  // Asio's per-socket reactor state (epoll_reactor::descriptor_state),
  // allocated by the reactor for each open socket.
  const std::size_t reactor = sizeof(net::detail::epoll_reactor::descriptor_state);
  // The pending read and the timer wait: Asio's operation objects, from its
  // per-thread recycling allocator while in flight.
  std::printf("connection memory: session %zu, reactor descriptor %zu, socket %zu, timer %zu\n",
              session, reactor, sizeof(net::ip::tcp::socket), sizeof(net::steady_timer));
  CHECK(session <= 1280);
  CHECK(reactor <= 256);
}

}  // namespace
}  // namespace courier::websocket::internal
