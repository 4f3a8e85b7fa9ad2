// courier-cli: Beast client connections, plain or TLS, run step by step with deadlines.
#include "connection.h"

#include <csignal>
#include <optional>
#include <type_traits>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "absl/strings/str_cat.h"

namespace courier_cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kMaxHttpBody = 1 << 20;   // answers of the HTTP API are small
constexpr std::size_t kMaxFrame = 1 << 20;      // a msg frame holds at most a 64 KiB body

}  // namespace

Runner::Runner() : signals_(io_, SIGINT, SIGTERM) { Arm(); }

void Runner::Arm() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    signal_ = signal;
    Arm();  // stay armed: a second Ctrl-C must not kill us mid-write
  });
}

bool Runner::RunUntil(const bool* done, Clock::time_point deadline) {
  while (!*done) {
    if (signal_ != 0) return false;
    if (io_.stopped()) io_.restart();
    if (io_.run_one_until(deadline) == 0 && Clock::now() >= deadline) return *done;
  }
  return true;
}

void Runner::Drain(const bool* done) {
  while (!*done) {
    if (io_.stopped()) io_.restart();
    io_.run_one();
  }
}

bool Runner::Sleep(std::chrono::milliseconds duration) {
  bool done = false;
  asio::steady_timer timer(io_, duration);
  timer.async_wait([&done](const boost::system::error_code&) { done = true; });
  if (RunUntil(&done, Clock::time_point::max())) return true;
  timer.cancel();
  Drain(&done);
  return false;
}

namespace {

// One connection; Next is beast::tcp_stream or beast::ssl_stream<beast::tcp_stream>.
template <class Next>
class BeastConnection final : public Connection {
 public:
  static constexpr bool kTls = !std::is_same_v<Next, beast::tcp_stream>;

  BeastConnection(Runner& runner, ConnectOptions options)
      : runner_(runner), options_(std::move(options)) {
    const bool v6 = options_.url.host.find(':') != std::string::npos;
    host_header_ = absl::StrCat(v6 ? "[" : "", options_.url.host, v6 ? "]" : "", ":",
                                options_.url.port);
  }

  absl::Status Open() {
    if constexpr (kTls) {
      tls_ = std::make_unique<ssl::context>(ssl::context::tls_client);
      boost::system::error_code ec;
      if (options_.insecure) {
        tls_->set_verify_mode(ssl::verify_none);
      } else {
        tls_->set_verify_mode(ssl::verify_peer);
        if (options_.ca_file.empty()) {
          tls_->set_default_verify_paths(ec);
        } else {
          tls_->load_verify_file(options_.ca_file, ec);
        }
        if (ec) {
          return absl::FailedPreconditionError(
              absl::StrCat("cannot load trusted certificates: ", ec.message()));
        }
      }
      ws_.emplace(runner_.io(), *tls_);
    } else {
      ws_.emplace(runner_.io());
    }

    tcp::resolver resolver(runner_.io());
    tcp::resolver::results_type endpoints;
    absl::Status s = Step(
        "resolve",
        [&](auto finish) {
          resolver.async_resolve(options_.url.host, options_.url.port,
                                 [finish, &endpoints](beast::error_code ec,
                                                      tcp::resolver::results_type r) {
                                   endpoints = std::move(r);
                                   finish(ec);
                                 });
        },
        [&resolver] { resolver.cancel(); });
    if (!s.ok()) return s;
    s = Step("connect to", [&](auto finish) {
      beast::get_lowest_layer(*ws_).async_connect(
          endpoints, [finish](beast::error_code ec, const tcp::endpoint&) { finish(ec); });
    });
    if (!s.ok()) return s;
    if constexpr (kTls) {
      auto& stream = ws_->next_layer();
      if (!options_.insecure) {
        stream.set_verify_callback(ssl::host_name_verification(options_.url.host));
      }
      if (!SSL_set_tlsext_host_name(stream.native_handle(), options_.url.host.c_str())) {
        return absl::InternalError("cannot set the TLS server name");
      }
      s = Step("TLS handshake with", [&](auto finish) {
        stream.async_handshake(ssl::stream_base::client, finish);
      });
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<HttpReply> Request(http::verb verb, std::string_view target,
                                    std::string_view json_body, std::string_view token) override {
    http::request<http::string_body> request{verb, std::string(target), 11};
    request.set(http::field::host, host_header_);
    request.set(http::field::user_agent, "courier-cli");
    request.keep_alive(false);
    if (!token.empty()) request.set(http::field::authorization, absl::StrCat("Bearer ", absl::string_view(token.data(), token.size())));
    if (!json_body.empty()) {
      request.set(http::field::content_type, "application/json");
      request.body() = std::string(json_body);
    }
    request.prepare_payload();
    absl::Status s = Step("send a request to", [&](auto finish) {
      http::async_write(ws_->next_layer(), request,
                        [finish](beast::error_code ec, std::size_t) { finish(ec); });
    });
    if (!s.ok()) return s;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxHttpBody);
    s = Step("read the answer of", [&](auto finish) {
      http::async_read(ws_->next_layer(), buffer_, parser,
                       [finish](beast::error_code ec, std::size_t) { finish(ec); });
    });
    if (!s.ok()) return s;
    HttpReply reply;
    reply.status = static_cast<int>(parser.get().result_int());
    reply.body = std::move(parser.get().body());
    return reply;
  }

  absl::Status Upgrade(std::string_view target) override {
    ws_->set_option(websocket::stream_base::decorator([](websocket::request_type& request) {
      request.set(http::field::user_agent, "courier-cli");
    }));
    ws_->read_message_max(kMaxFrame);
    absl::Status s = Step("WebSocket handshake with", [&](auto finish) {
      ws_->async_handshake(host_header_, std::string(target), finish);
    });
    if (!s.ok()) return s;
    ws_->text(true);
    upgraded_ = true;
    return absl::OkStatus();
  }

  absl::Status Write(std::string_view text) override {
    return Step("send a frame to", [&](auto finish) {
      ws_->async_write(asio::buffer(text.data(), text.size()),
                       [finish](beast::error_code ec, std::size_t) { finish(ec); });
    });
  }

  absl::StatusOr<std::string> Read(std::chrono::milliseconds idle_every,
                                   const std::function<absl::Status()>& on_idle) override {
    bool done = false;
    beast::error_code ec;
    buffer_.clear();
    ws_->async_read(buffer_, [&done, &ec](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    while (!runner_.RunUntil(&done, Clock::now() + idle_every)) {
      absl::Status s = runner_.interrupted() ? absl::CancelledError("interrupted") : on_idle();
      if (!s.ok()) {
        Abort();
        runner_.Drain(&done);
        return s;
      }
    }
    if (ec == websocket::error::closed) {
      const websocket::close_reason& reason = ws_->reason();
      const std::string text = absl::StrCat("the server closed the connection (",
                                            static_cast<int>(reason.code),
                                            reason.reason.empty() ? "" : " ",
                                            std::string(reason.reason.data(), reason.reason.size()), ")");
      if (reason.code == 4401) return absl::UnauthenticatedError(text);
      if (reason.code == 4409) return absl::AbortedError(text);
      return absl::UnavailableError(text);
    }
    if (ec) return Fail("read from", ec, true);
    return beast::buffers_to_string(buffer_.data());
  }

  void Close() override {
    if (!ws_) return;
    if (upgraded_ && ws_->is_open() && !runner_.interrupted()) {
      const auto saved = options_.timeout;
      options_.timeout = std::chrono::milliseconds(2000);
      (void)Step("close", [&](auto finish) {
        ws_->async_close(websocket::close_code::normal, finish);
      });
      options_.timeout = saved;
    }
    Abort();
  }

  ~BeastConnection() override {
    if (ws_) Abort();
  }

 private:
  // Runs one operation: start(finish) must start it with a completion that calls
  // finish(ec). On the deadline or a signal, `cancel` (default: close the socket)
  // stops it and the result is kDeadlineExceeded or kCancelled.
  template <class Start, class Cancel>
  absl::Status Step(absl::string_view what, Start&& start, Cancel&& cancel) {
    bool done = false;
    beast::error_code ec;
    start([&done, &ec](beast::error_code e) {
      ec = e;
      done = true;
    });
    const bool finished = runner_.RunUntil(&done, Clock::now() + options_.timeout);
    if (!finished) {
      cancel();
      runner_.Drain(&done);
    }
    if (finished && !ec) return absl::OkStatus();
    return Fail(what, ec, finished);
  }

  template <class Start>
  absl::Status Step(absl::string_view what, Start&& start) {
    return Step(what, std::forward<Start>(start), [this] { Abort(); });
  }

  absl::Status Fail(absl::string_view what, beast::error_code ec, bool finished) const {
    if (runner_.interrupted()) return absl::CancelledError("interrupted");
    const std::string server = ToString(options_.url);
    if (!finished) {
      return absl::DeadlineExceededError(absl::StrCat("cannot ", what, " ", server, ": no answer in ",
                                                      options_.timeout.count(), " ms"));
    }
    return absl::UnavailableError(absl::StrCat("cannot ", what, " ", server, ": ", ec.message()));
  }

  void Abort() {
    beast::error_code ignored;
    beast::get_lowest_layer(*ws_).socket().close(ignored);
  }

  Runner& runner_;
  ConnectOptions options_;
  std::string host_header_;
  std::unique_ptr<ssl::context> tls_;
  std::optional<websocket::stream<Next>> ws_;
  beast::flat_buffer buffer_;
  bool upgraded_ = false;
};

template <class Next>
absl::StatusOr<std::unique_ptr<Connection>> Make(Runner& runner, const ConnectOptions& options) {
  auto connection = std::make_unique<BeastConnection<Next>>(runner, options);
  absl::Status s = connection->Open();
  if (!s.ok()) return s;
  return std::unique_ptr<Connection>(std::move(connection));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Connection>> Connect(Runner& runner, const ConnectOptions& options) {
  if (options.url.tls) return Make<beast::ssl_stream<beast::tcp_stream>>(runner, options);
  return Make<beast::tcp_stream>(runner, options);
}

}  // namespace courier_cli
