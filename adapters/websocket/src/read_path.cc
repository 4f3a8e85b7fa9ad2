// read_path.cc: see read_path.h.
#include "read_path.h"

#include <unistd.h>

#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>

namespace courier::websocket::internal {

absl::StatusOr<PlainSocket> ToPlainSocket(boost::asio::ip::tcp::socket socket,
                                          boost::asio::io_context& io) {
  boost::system::error_code ec;
  const boost::asio::ip::tcp protocol = socket.local_endpoint(ec).protocol();
  if (ec) return absl::UnavailableError("socket gone before the upgrade: " + ec.message());
  const PlainSocket::native_handle_type fd = socket.release(ec);
  if (ec) return absl::InternalError("releasing the socket: " + ec.message());
  PlainSocket plain(io.get_executor());
  plain.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    return absl::InternalError("adopting the socket: " + ec.message());
  }
  return plain;
}

SocketRead ReadAvailable(PlainSocket& socket, char* into, std::size_t room) {
  namespace net = boost::asio;
  boost::system::error_code ec;
  SocketRead r;
  r.bytes = socket.read_some(net::buffer(into, room), ec);
  if (ec == net::error::would_block || ec == net::error::try_again) {
    r.outcome = SocketRead::Outcome::kDrained;
  } else if (ec) {
    r.outcome = SocketRead::Outcome::kEnded;
  } else {
    r.outcome = r.bytes == room ? SocketRead::Outcome::kFull : SocketRead::Outcome::kDrained;
  }
  return r;
}

}  // namespace courier::websocket::internal
