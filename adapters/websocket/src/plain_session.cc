// plain_session.cc: HTTP and WebSocket sessions over plain TCP.
#include "http_session.h"
#include "sessions.h"

namespace courier::websocket::internal {

void StartPlainSession(ServerContext& ctx, IoLoop& loop, net::ip::tcp::socket socket,
                       std::string remote) {
  std::make_shared<HttpSession<PlainStream>>(ctx, loop, PlainStream(std::move(socket)), std::move(remote))
      ->Run();
}

}  // namespace courier::websocket::internal
