// session_support.cc: the non-template helpers of the sessions.
#include <algorithm>
#include <cctype>

#include "absl/strings/match.h"
#include "http_session.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "server_context.h"
#include "websocket_session.h"

namespace courier::websocket {

std::string_view HttpRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, absl::string_view(name.data(), name.size()))) return value;
  }
  return {};
}

HttpResponse HttpResponse::JsonError(int status, std::string_view code, std::string_view message) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("error");
  w.String(code.data(), static_cast<rapidjson::SizeType>(code.size()));
  w.Key("message");
  w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  w.EndObject();
  return Json(status, std::string(buffer.GetString(), buffer.GetSize()));
}

namespace internal {

std::uint16_t ConnectErrorCloseCode(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kResourceExhausted:
      return static_cast<std::uint16_t>(CloseCode::kPolicy);
    case absl::StatusCode::kUnavailable:
      return static_cast<std::uint16_t>(CloseCode::kGoingAway);
    default:
      return static_cast<std::uint16_t>(CloseCode::kUnauthorized);
  }
}

HttpRequest ToHttpRequest(const beast::http::request<beast::http::string_body>& req,
                          std::string remote) {
  HttpRequest out;
  out.method = std::string(req.method_string());
  std::string_view target(req.target().data(), req.target().size());
  std::size_t q = target.find('?');
  out.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) out.query = std::string(target.substr(q + 1));
  for (const auto& field : req) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  out.body = req.body();
  out.remote = std::move(remote);
  return out;
}

std::shared_ptr<boost::asio::ssl::context> TlsContexts::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

void TlsContexts::Replace(std::shared_ptr<boost::asio::ssl::context> next) {
  absl::MutexLock lock(&mu_);
  if (current_ != nullptr) retired_.push_back(std::move(current_));
  current_ = std::move(next);
}

void LatencyHistogram::Observe(std::chrono::nanoseconds d) {
  const double s = std::chrono::duration<double>(d).count();
  std::size_t i = 0;
  while (i < kBoundsS.size() && s > kBoundsS[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, d.count())),
                    std::memory_order_relaxed);
}

ServerStats::Histogram LatencyHistogram::Snapshot() const {
  ServerStats::Histogram h;
  h.upper_bounds_s.assign(kBoundsS.begin(), kBoundsS.end());
  std::uint64_t running = 0;
  for (const auto& bucket : buckets_) {
    running += bucket.load(std::memory_order_relaxed);
    h.counts.push_back(running);
  }
  h.count = running;
  h.sum_s = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return h;
}

ServerStats Counters::Snapshot() const {
  ServerStats s;
#define COURIER_WS_READ_COUNTER(name) s.name = name.load(std::memory_order_relaxed);
  COURIER_WS_PLAIN_COUNTERS(COURIER_WS_READ_COUNTER)
#undef COURIER_WS_READ_COUNTER
  s.websockets_open = websockets_open.load(std::memory_order_relaxed);
  s.connections_open = connections_open.load(std::memory_order_relaxed) + s.websockets_open;
  s.send_latency = send_latency.Snapshot();
  return s;
}

}  // namespace internal
}  // namespace courier::websocket
