// tls_session.cc: HTTP and WebSocket sessions over TLS (OpenSSL).
#include "http_session.h"
#include "sessions.h"

namespace courier::websocket::internal {

void StartTlsSession(ServerContext& ctx, IoLoop& loop, net::ip::tcp::socket socket,
                       std::string remote) {
  std::make_shared<HttpSession<TlsStream>>(ctx, loop, TlsStream(std::move(socket), *ctx.tls.Current()),
                                           std::move(remote))
      ->Run();
}

}  // namespace courier::websocket::internal
