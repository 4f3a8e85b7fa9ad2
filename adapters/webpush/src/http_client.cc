// HttpClient: one POST per connection over a non-blocking socket, OpenSSL
// for TLS, poll() for every wait (http_client.h).
#include "http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "crypto.h"
#include "http_response.h"
#include "resolver.h"
#include "text.h"

namespace courier::webpush::internal {

struct HttpClient::Impl {
  SenderOptions options;
  SSL_CTX* ctx = nullptr;
  ~Impl() { SSL_CTX_free(ctx); }
};

namespace {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

constexpr std::size_t kBodyPrefixBytes = 200;

Deadline After(absl::Duration d) { return Clock::now() + absl::ToChronoNanoseconds(d); }

absl::Status Errno(std::string_view what, int err) {
  return absl::UnavailableError(Cat(what, ": ", std::strerror(err)));
}

// Waits until `fd` is ready for `events` (or has an error to report).
absl::Status Wait(int fd, short events, Deadline deadline, int cancel_fd, std::string_view phase) {
  while (true) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return absl::DeadlineExceededError(Cat(phase, " timed out"));
    pollfd fds[2] = {{fd, events, 0}, {cancel_fd, POLLIN, 0}};
    const int n = ::poll(fds, cancel_fd >= 0 ? 2 : 1,
                         static_cast<int>(std::min<std::int64_t>(left.count(), INT_MAX)));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("poll", errno);
    }
    if (cancel_fd >= 0 && fds[1].revents != 0) return absl::CancelledError("sender shut down");
    if (n > 0 && fds[0].revents != 0) return absl::OkStatus();
  }
}

// OpenSSL writes to the socket with write(2): a peer that has gone raises
// SIGPIPE. Block it on this thread for the exchange and swallow one that
// this exchange caused.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~SigpipeGuard() {
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      const timespec zero{0, 0};
      sigtimedwait(&set_, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t set_;
  sigset_t old_;
  bool was_pending_ = false;
};

class Connection {
 public:
  explicit Connection(int cancel_fd) : cancel_fd_(cancel_fd) {}
  ~Connection() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Resolves url.host (within resolve_timeout), then connects to the first
  // address that answers (within connect_timeout), skipping the addresses
  // `policy` forbids.
  absl::Status Connect(const Url& url, AddressPolicy policy, absl::Duration resolve_timeout,
                       absl::Duration connect_timeout) {
    auto list = Resolve(url.host, url.port, After(resolve_timeout), cancel_fd_);
    if (!list.ok()) return list.status();
    const Deadline deadline = After(connect_timeout);
    absl::Status last = absl::UnavailableError(Cat("resolve ", url.host, ": no address"));
    for (addrinfo* ai = list->get(); ai != nullptr; ai = ai->ai_next) {
      if (policy == AddressPolicy::kPublicOnly && !IsPublicAddress(*ai->ai_addr)) {
        // Not retried (kPermissionDenied gives up at once): the name points
        // inside; asking again would not change that.
        last = absl::PermissionDeniedError(
            Cat("push endpoint ", url.host, " resolves to ", AddressText(*ai->ai_addr),
                ", not a public address (SenderOptions::allow_private_addresses)"));
        continue;
      }
      const int fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        last = Errno("socket", errno);
        continue;
      }
      if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        last = Errno(Cat("connect ", url.host, ":", url.port), errno);
        ::close(fd);
        continue;
      }
      absl::Status waited = Wait(fd, POLLOUT, deadline, cancel_fd_, "connect");
      int err = 0;
      socklen_t len = sizeof err;
      if (waited.ok() && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fd_ = fd;
        return absl::OkStatus();
      }
      ::close(fd);
      if (!waited.ok()) return waited;  // out of time or cancelled: stop here
      last = Errno(Cat("connect ", url.host, ":", url.port), err);
    }
    return last;
  }

  absl::Status Handshake(SSL_CTX* ctx, const Url& url, Deadline deadline) {
    ssl_ = SSL_new(ctx);
    if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) return OpenSslError("SSL_new");
    in_addr v4;
    const bool ip_literal = url.ipv6_literal || inet_pton(AF_INET, url.host.c_str(), &v4) == 1;
    if (ip_literal) {
      if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), url.host.c_str()) != 1) {
        return OpenSslError("TLS: expected IP");
      }
    } else if (SSL_set_tlsext_host_name(ssl_, url.host.c_str()) != 1 ||
               SSL_set1_host(ssl_, url.host.c_str()) != 1) {
      return OpenSslError("TLS: server name");
    }
    while (true) {
      ERR_clear_error();
      const int r = SSL_connect(ssl_);
      if (r == 1) return absl::OkStatus();
      const int err = SSL_get_error(ssl_, r);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        absl::Status s = Wait(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline,
                              cancel_fd_, "TLS handshake");
        if (!s.ok()) return s;
        continue;
      }
      const long verify = SSL_get_verify_result(ssl_);
      if (verify != X509_V_OK) {
        ERR_clear_error();
        return absl::FailedPreconditionError(
            Cat("TLS: certificate of ", url.host,
                " does not verify: ", X509_verify_cert_error_string(verify)));
      }
      return absl::UnavailableError(OpenSslError("TLS handshake").message());
    }
  }

  absl::Status WriteAll(std::string_view data, Deadline deadline) {
    while (!data.empty()) {
      const int chunk = static_cast<int>(std::min<std::size_t>(data.size(), 1 << 20));
      if (ssl_ != nullptr) {
        ERR_clear_error();
        const int n = SSL_write(ssl_, data.data(), chunk);
        if (n > 0) {
          data.remove_prefix(static_cast<std::size_t>(n));
          continue;
        }
        const int err = SSL_get_error(ssl_, n);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
          return absl::UnavailableError(OpenSslError("TLS write").message());
        }
        absl::Status s =
            Wait(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, cancel_fd_, "write");
        if (!s.ok()) return s;
        continue;
      }
      const ssize_t n = ::send(fd_, data.data(), static_cast<std::size_t>(chunk), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        absl::Status s = Wait(fd_, POLLOUT, deadline, cancel_fd_, "write");
        if (!s.ok()) return s;
      } else if (n < 0 && errno != EINTR) {
        return Errno("write", errno);
      }
    }
    return absl::OkStatus();
  }

  // Bytes read into `buf` (up to `cap`); 0 at the end of the stream.
  absl::StatusOr<std::size_t> ReadSome(char* buf, std::size_t cap, Deadline deadline) {
    while (true) {
      if (ssl_ != nullptr) {
        ERR_clear_error();
        const int n = SSL_read(ssl_, buf, static_cast<int>(cap));
        if (n > 0) return static_cast<std::size_t>(n);
        const int err = SSL_get_error(ssl_, n);
        if (err == SSL_ERROR_ZERO_RETURN) return 0;
        if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && n == 0) return 0;
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
          // OpenSSL 3 reports a close without close_notify as an error.
          if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ERR_clear_error();
            return 0;
          }
          return absl::UnavailableError(OpenSslError("TLS read").message());
        }
        absl::Status s =
            Wait(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, cancel_fd_, "read");
        if (!s.ok()) return s;
        continue;
      }
      const ssize_t n = ::recv(fd_, buf, cap, 0);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        absl::Status s = Wait(fd_, POLLIN, deadline, cancel_fd_, "read");
        if (!s.ok()) return s;
      } else if (errno != EINTR) {
        return Errno("read", errno);
      }
    }
  }

 private:
  int cancel_fd_;
  int fd_ = -1;
  SSL* ssl_ = nullptr;
};

// A '\n' at or after `from` that does not follow a '\r'.
bool HasBareLf(std::string_view buffer, std::size_t from) {
  for (std::size_t i = buffer.find('\n', from); i != std::string_view::npos;
       i = buffer.find('\n', i + 1)) {
    if (i == 0 || buffer[i - 1] != '\r') return true;
  }
  return false;
}

std::string HostHeader(const Url& url) {
  std::string host = url.ipv6_literal ? Cat("[", url.host, "]") : url.host;
  if (url.port != (url.https ? 443 : 80)) Append(&host, ":", url.port);
  return host;
}

}  // namespace

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

absl::StatusOr<std::unique_ptr<HttpClient>> HttpClient::Create(const SenderOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->ctx = SSL_CTX_new(TLS_client_method());
  if (impl->ctx == nullptr) return OpenSslError("SSL_CTX_new");
  SSL_CTX_set_min_proto_version(impl->ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(impl->ctx, SSL_VERIFY_PEER, nullptr);
  if (options.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(impl->ctx) != 1) {
      return OpenSslError("TLS: the system's CA store");
    }
  } else {
    if (::access(options.ca_file.c_str(), R_OK) != 0) {
      return absl::NotFoundError(Cat("CA file ", options.ca_file, ": ", std::strerror(errno)));
    }
    if (SSL_CTX_load_verify_locations(impl->ctx, options.ca_file.c_str(), nullptr) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError(
          Cat("CA file ", options.ca_file, ": no PEM certificate in it"));
    }
  }
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

absl::StatusOr<HttpAnswer> HttpClient::Post(const Url& url, const Headers& headers,
                                            std::string_view body, AddressPolicy policy,
                                            int cancel_fd) const {
  const SenderOptions& o = impl_->options;
  std::optional<SigpipeGuard> sigpipe;
  if (url.https) sigpipe.emplace();
  Connection conn(cancel_fd);
  if (absl::Status s = conn.Connect(url, policy, o.resolve_timeout, o.connect_timeout); !s.ok()) {
    return s;
  }
  if (url.https) {
    if (absl::Status s = conn.Handshake(impl_->ctx, url, After(o.tls_timeout)); !s.ok()) return s;
  }
  std::string request = Cat("POST ", url.target, " HTTP/1.1\r\nHost: ", HostHeader(url),
                            "\r\nUser-Agent: ", o.user_agent, "\r\nContent-Length: ", body.size(),
                            "\r\nConnection: close\r\n");
  for (const auto& [name, value] : headers) Append(&request, name, ": ", value, "\r\n");
  Append(&request, "\r\n", body);
  if (absl::Status s = conn.WriteAll(request, After(o.write_timeout)); !s.ok()) return s;

  const Deadline read_deadline = After(o.read_timeout);
  std::string buffer;
  char chunk[4096];
  while (true) {
    if (buffer.size() >= o.max_response_bytes) {
      return absl::UnavailableError(
          Cat("answer head larger than ", o.max_response_bytes, " bytes"));
    }
    const std::size_t cap = std::min(sizeof chunk, o.max_response_bytes - buffer.size());
    auto n = conn.ReadSome(chunk, cap, read_deadline);
    if (!n.ok()) return n.status();
    if (*n == 0) {
      return absl::UnavailableError(buffer.empty() ? "connection closed without an answer"
                                                   : "connection closed inside the answer head");
    }
    // Parse only when this chunk may end a head (or holds a bare LF, an
    // error): a peer that drips bytes costs one scan of each byte, not one
    // parse of the whole buffer per read.
    const std::size_t from = buffer.size() >= 3 ? buffer.size() - 3 : 0;
    buffer.append(chunk, *n);
    if (buffer.find("\r\n\r\n", from) == std::string::npos && !HasBareLf(buffer, from)) continue;
    auto head = ParseResponseHead(buffer);
    if (!head.ok()) return absl::UnavailableError(head.status().message());
    if (head->has_value()) {
      HttpAnswer answer;
      answer.status = (*head)->status;
      answer.retry_after = (*head)->retry_after;
      answer.body_prefix = buffer.substr((*head)->size, kBodyPrefixBytes);
      return answer;
    }
  }
}

}  // namespace courier::webpush::internal
