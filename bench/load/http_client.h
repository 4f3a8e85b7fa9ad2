// http_client.h: a blocking HTTP/1.1 client for the server's JSON API, used
// only to set a workload up (register, login, friends).
//
// Ownership: owns one keep-alive TCP connection, reopened after an error.
// Thread-safety: one client per thread.
// Blocking: every call blocks until the answer (30 s at most).
#ifndef COURIER_BENCH_LOAD_HTTP_CLIENT_H_
#define COURIER_BENCH_LOAD_HTTP_CLIENT_H_

#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "absl/status/statusor.h"

namespace courier::load {

struct HttpAnswer {
  int status = 0;
  std::string body;
};

class HttpClient {
 public:
  explicit HttpClient(boost::asio::ip::tcp::endpoint endpoint);
  // POST `body` (JSON) to `path`, with a bearer token when not empty.
  absl::StatusOr<HttpAnswer> Post(const std::string& path, const std::string& body,
                                  const std::string& token = "");
  // GET `path`.
  absl::StatusOr<HttpAnswer> Get(const std::string& path);

 private:
  absl::StatusOr<HttpAnswer> Once(bool post, const std::string& path, const std::string& body,
                                  const std::string& token);
  boost::asio::ip::tcp::endpoint endpoint_;
  boost::asio::io_context io_;
  boost::beast::tcp_stream stream_;
  bool connected_ = false;
};

}  // namespace courier::load

#endif  // COURIER_BENCH_LOAD_HTTP_CLIENT_H_
