// listener.h (private): accepts TCP connections and starts a session each.
//
// One async_accept in flight at a time. Accepted sockets go to the io loops
// in turn (round robin); a connection stays on its loop for its life. Accept errors that are about the process (too many open files) back
// off 100 ms and accept again instead of spinning.
// Thread-safety: Stop from any thread (it posts); the rest runs on the
//   acceptor's loop.
// Blocking: nothing blocks.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_LISTENER_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_LISTENER_H_

#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "server_context.h"

namespace courier::websocket::internal {

class Listener final : public std::enable_shared_from_this<Listener> {
 public:
  // REQUIRES: `acceptor` is open, bound and listening, on ctx.loops[0].
  Listener(ServerContext& ctx, boost::asio::ip::tcp::acceptor acceptor);

  void Start();
  // Closes the acceptor; the pending accept completes with operation_aborted.
  void Stop();

 private:
  void Accept();
  void OnAccept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket, IoLoop& loop);

  ServerContext& ctx_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;
  bool stopped_ = false;
};

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_LISTENER_H_
