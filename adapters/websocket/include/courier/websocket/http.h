// courier/websocket/http.h: the plain HTTP request and response that the
// server hands to the application's handler.
//
// The WebSocket server answers `GET /v1/ws` upgrades itself and gives every
// other request, already size-limited and fully read, to the application as
// an HttpRequest; the application answers with an HttpResponse. No Beast type
// crosses this seam.
//
// Ownership: plain values.
// Thread-safety: plain values; the usual rules for std types apply.
// Blocking: nothing here blocks.
#ifndef COURIER_ADAPTERS_WEBSOCKET_HTTP_H_
#define COURIER_ADAPTERS_WEBSOCKET_HTTP_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include "courier/export.h"

namespace courier::websocket {

struct COURIER_EXPORT HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the target without the query, e.g. "/v1/login"
  std::string query;   // after '?', without it; empty when none
  std::vector<std::pair<std::string, std::string>> headers;  // as received
  std::string body;    // at most ServerOptions::max_http_body_bytes
  std::string remote;  // "ip:port" of the peer

  // The first header named `name` (ASCII case-insensitive), or "".
  std::string_view Header(std::string_view name) const;
};

struct COURIER_EXPORT HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers

  static HttpResponse Json(int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
  // The JSON error answer, {"error": code, "message": message}, with HTTP
  // status `status`: what the server's own refusals send (413, 404 for a
  // WebSocket elsewhere than /v1/ws, ...), for the application's routes to
  // answer alike.
  static HttpResponse JsonError(int status, std::string_view code, std::string_view message);
};

}  // namespace courier::websocket

#endif  // COURIER_ADAPTERS_WEBSOCKET_HTTP_H_
