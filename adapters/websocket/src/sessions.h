// sessions.h (private): start serving one accepted socket.
//
// Kept free of Beast so that the listener compiles fast; the two stream
// kinds are instantiated in plain_session.cc and tls_session.cc.
// Thread-safety: call from any thread; the session runs on its loop, the
//   socket's executor.
// Blocking: returns at once.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_SESSIONS_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_SESSIONS_H_

#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "server_context.h"

namespace courier::websocket::internal {

// REQUIRES: `socket`'s executor is `loop`'s io_context.
void StartPlainSession(ServerContext& ctx, IoLoop& loop, boost::asio::ip::tcp::socket socket,
                       std::string remote);
// REQUIRES: as above, and ctx.serves_tls.
void StartTlsSession(ServerContext& ctx, IoLoop& loop, boost::asio::ip::tcp::socket socket,
                     std::string remote);

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_SESSIONS_H_
