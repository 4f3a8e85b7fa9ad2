// http_client.cc: blocking Beast HTTP for the set-up requests.
#include "http_client.h"

#include <chrono>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"

namespace courier::load {

namespace beast = boost::beast;
namespace http = beast::http;

HttpClient::HttpClient(boost::asio::ip::tcp::endpoint endpoint)
    : endpoint_(endpoint), stream_(io_) {}

absl::StatusOr<HttpAnswer> HttpClient::Post(const std::string& path, const std::string& body,
                                            const std::string& token) {
  absl::StatusOr<HttpAnswer> answer = Once(true, path, body, token);
  if (answer.ok()) return answer;
  connected_ = false;  // a kept-alive connection may have been closed: once more
  return Once(true, path, body, token);
}

absl::StatusOr<HttpAnswer> HttpClient::Get(const std::string& path) {
  absl::StatusOr<HttpAnswer> answer = Once(false, path, "", "");
  if (answer.ok()) return answer;
  connected_ = false;
  return Once(false, path, "", "");
}

absl::StatusOr<HttpAnswer> HttpClient::Once(bool post, const std::string& path, const std::string& body,
                                            const std::string& token) {
  beast::error_code ec;
  stream_.expires_after(std::chrono::seconds(120));
  if (!connected_) {
    stream_.socket().close(ec);
    stream_.connect(endpoint_, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("connect: ", ec.message()));
    connected_ = true;
  }
  http::request<http::string_body> req{post ? http::verb::post : http::verb::get, path, 11};
  req.set(http::field::host, endpoint_.address().to_string());
  if (post) req.set(http::field::content_type, "application/json");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  req.keep_alive(true);
  if (post) {
    req.body() = body;
    req.prepare_payload();
  }
  http::write(stream_, req, ec);
  if (ec) {
    connected_ = false;
    return absl::UnavailableError(absl::StrCat("write: ", ec.message()));
  }
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream_, buffer, res, ec);
  if (ec) {
    connected_ = false;
    return absl::UnavailableError(absl::StrCat("read: ", ec.message()));
  }
  if (!res.keep_alive()) connected_ = false;
  return HttpAnswer{static_cast<int>(res.result_int()), std::move(res.body())};
}

}  // namespace courier::load
